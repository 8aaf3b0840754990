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

from homelab import __version__
from homelab.cli import commands  # noqa: F401  (registers the commands)
from homelab.cli.app import app

__all__ = ["app", "main"]
from homelab.cli.output import err, show_error
from homelab.errors import LabError


def _write_debug_log(exc: BaseException) -> Path:
    path = Path(tempfile.gettempdir()) / "homelab-debug.log"
    text = "".join(traceback.format_exception(exc))
    path.write_text(f"homelab {__version__}\n{text}", encoding="utf-8")
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
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}. "
            f"Details were written to {log}; please report it.",
            markup=True,
        )
        raise SystemExit(70) from None
