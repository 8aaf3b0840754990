"""Entry point: registers every command module, then runs the app with error mapping.

Known errors (LabError) become one red line and their exit code. Anything else is a bug:
the traceback goes to a debug log, and the user gets one line saying where it is.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import TextIO

from rich.markup import escape

from homelab import __version__
from homelab.cli import commands  # noqa: F401  (registers the commands)
from homelab.cli.app import app

__all__ = ["app", "main"]
from homelab.cli.output import err, show_error
from homelab.errors import LabError


def debug_log_dir() -> Path:
    """``$XDG_STATE_HOME/homelab`` (an absolute XDG_STATE_HOME only), else
    ``~/.local/state/homelab``: the user's own state directory, not the shared ``/tmp``."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "homelab"


def _write_debug_log(exc: BaseException) -> Path | None:
    """Write the traceback to ``debug.log`` in ``debug_log_dir()``: the directory 0700, the
    file 0600 and never through a symlink (``O_NOFOLLOW``); a symlink or foreign file there
    gets a fresh private file beside it instead. None if nothing could be written."""
    text = f"homelab {__version__}\n" + "".join(traceback.format_exception(exc))
    folder = debug_log_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / "debug.log"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            if os.fstat(fd).st_uid != os.getuid():
                os.close(fd)
                raise PermissionError(f"{path} belongs to another user")
        except OSError:
            fd, name = tempfile.mkstemp(prefix="debug-", suffix=".log", dir=folder)
            path = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(text)
    except OSError:
        return None
    return path


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record (not at set-up time), so
    running ``main()`` several times in one process (tests) never writes to a closed stream."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        return


def _configure_logging() -> None:
    """Warnings (retries, slow tasks) go to stderr as plain lines; HOMELAB_DEBUG=1 shows more."""
    level = logging.DEBUG if os.environ.get("HOMELAB_DEBUG") else logging.WARNING
    root = logging.getLogger("homelab")
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def main() -> None:
    """Run the CLI; exit with 0 on success, the error's exit code on failure."""
    _configure_logging()
    try:
        app()  # standalone: click shows its own usage errors and exits 2
    except LabError as exc:
        show_error(exc)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:  # a bug: keep the trace out of the user's face
        log = _write_debug_log(exc)
        where = f"Details were written to {escape(str(log))}" if log else "No details were written"
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}. {where}; please report it.",
            markup=True,
        )
        raise SystemExit(70) from None
