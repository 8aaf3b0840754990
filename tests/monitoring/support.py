"""Helpers for the end-to-end monitoring tests: the homelab CLI in a subprocess, the
background simulator's root session, processes served and stopped, Prometheus's API."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from homelab.engine.proxmox.config import ConnectionSettings, parse_token
from homelab.engine.proxmox.session import PveSession
from homelab.simulated.background import read_running, read_token

HOMELAB = [sys.executable, "-m", "homelab"]


@contextlib.contextmanager
def root_session(spec: Path) -> Iterator[PveSession]:
    """The background simulator's root token, to set a scene up (never the tool's)."""
    folder = spec.parent / ".homelab" / "home-lab" / "sim"
    running = read_running(folder)
    assert running is not None
    token_id, secret = parse_token(read_token(folder))
    settings = ConnectionSettings(
        endpoint=running.endpoint,
        token_id=token_id,
        token_secret=secret,
        fingerprint=running.fingerprint,
    )
    session = PveSession(settings)
    try:
        yield session
    finally:
        session.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def homelab(*args: str) -> None:
    done = subprocess.run([*HOMELAB, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def serve(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(argv, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def alerts(base: str) -> dict[str, str]:
    """alertname -> state (pending/firing) of every active alert Prometheus reports."""
    response = httpx.get(f"{base}/api/v1/alerts", timeout=5)
    response.raise_for_status()  # 503 while Prometheus starts: not yet
    reply = response.json()
    return {a["labels"]["alertname"]: a["state"] for a in reply["data"]["alerts"]}


def query(base: str, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    reply = response.json()
    result: list[dict[str, Any]] = reply["data"]["result"]
    return result


def eventually(probe: Any, what: str, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except httpx.HTTPError as exc:
            last = exc
        if last is True or (last and not isinstance(last, Exception)):
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {seconds:.0f} s (last: {last!r})")
