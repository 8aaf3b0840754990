"""The simulated lab in the background: one simulator process per lab directory, kept running.

``start`` spawns ``homelab sim _serve SPEC`` in a session of its own; it serves the simulated
Proxmox VE (and, through it, the lab's Kubernetes APIs) on loopback until ``stop`` sends it
SIGTERM. Everything about it lives in ``.homelab/<lab>/sim/``:

- ``server.json`` (0600): pid, the process identity (boot id and start time, so a pid reused by
  another process is not taken for it), endpoint, certificate fingerprint, time scale;
- ``root-token`` (0600): the simulator's root token, which sets the tool's least-privileged
  token up and drives the simulator's control API (never printed, never logged);
- ``sim.log``: what the server process wrote; ``lock``: held by whichever process serves the
  simulated lab's state, so two never do at once.

The PVE port is kept across restarts when it is free, and the Kubernetes API servers keep theirs
(``homelab_sim.kube``), so the admin kubeconfig ``up`` wrote stays valid. A ``server.json``
whose process is gone is stale: it is removed and the lab counts as stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from homelab.engine.state.backends import pid_alive, process_identity
from homelab.errors import SimulatorError

__all__ = [
    "Background",
    "held_lock",
    "read_running",
    "start_background",
    "stop_background",
]

INFO_FILE = "server.json"
TOKEN_FILE = "root-token"  # noqa: S105 - a file name
LOG_FILE = "sim.log"
LOCK_FILE = "lock"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Background:
    """A running background simulator, as its ``server.json`` describes it."""

    pid: int
    process: str
    endpoint: str
    fingerprint: str
    scale: float
    started: float

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)


def write_info(folder: Path, info: Background, token: str) -> None:
    _write_private(folder / TOKEN_FILE, token + "\n")
    _write_private(folder / INFO_FILE, json.dumps(asdict(info), indent=2) + "\n")


def read_token(folder: Path) -> str:
    try:
        return (folder / TOKEN_FILE).read_text(encoding="ascii").strip()
    except OSError as exc:
        raise SimulatorError(f"cannot read the simulator's token in {folder}: {exc}") from exc


def _alive(info: Background) -> bool:
    if not pid_alive(info.pid):
        return False
    current = process_identity(info.pid)
    return not info.process or not current or current == info.process


def read_running(folder: Path) -> Background | None:
    """The background simulator serving ``folder``, or None (a stale file is removed)."""
    try:
        data = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        info = Background(**data)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise SimulatorError(f"cannot read {folder / INFO_FILE}: {exc}") from exc
    if _alive(info):
        return info
    with contextlib.suppress(FileNotFoundError):
        (folder / INFO_FILE).unlink()
    return None


@contextlib.contextmanager
def held_lock(folder: Path, *, wait: float) -> Iterator[None]:
    """Hold ``folder/lock`` (the right to serve the simulated lab's state) for the block,
    waiting up to ``wait`` seconds for another process to let it go."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle: IO[str] = (folder / LOCK_FILE).open("a", encoding="ascii")
    except OSError:
        yield  # no folder, no lab to share: the simulator says why it cannot keep its state
        return
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SimulatorError(
                        f"another homelab command uses the simulated lab in {folder}",
                        hint="wait for it to finish; `homelab sim status SPEC` shows a "
                        "background simulator",
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        handle.close()


def start_background(spec_path: Path, folder: Path) -> Background:
    """Start the background simulator for the spec (unless one runs); returns it once it
    serves. SimulatorError with the end of its log if it does not come up."""
    running = read_running(folder)
    if running is not None:
        return running
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / LOG_FILE
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    os.close(fd)
    pid = _spawn_detached([sys.executable, "-m", "homelab", "sim", "_serve", str(spec_path)], log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        info = read_running(folder)
        if info is not None and info.pid == pid:
            return info
        if not pid_alive(pid):
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
    raise SimulatorError(
        "the background simulator did not start" + (f": {tail[-1]}" if tail else ""),
        hint=f"see {log}",
    )


# The launcher starts the server in a session of its own and exits at once: the server is no
# child of this process (nothing to reap, nothing killed with this command's terminal).
_LAUNCHER = (
    "import subprocess, sys\n"
    "log = open(sys.argv[1], 'ab')\n"
    "child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log,"
    " start_new_session=True, close_fds=True)\n"
    "print(child.pid)\n"
)


def _spawn_detached(argv: list[str], log: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(log), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        return int(done.stdout.strip())
    except ValueError:
        raise SimulatorError(
            f"the background simulator could not be launched: {done.stderr.strip()[-200:]}"
        ) from None


def stop_background(folder: Path, *, timeout: float = STOP_TIMEOUT) -> Background | None:
    """Stop the background simulator (SIGTERM, then SIGKILL after ``timeout``); returns what
    was stopped, None if none ran."""
    info = read_running(folder)
    if info is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(info):
        time.sleep(0.05)
    if _alive(info):
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGKILL)
        while _alive(info):
            time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        (folder / INFO_FILE).unlink()
    return info
