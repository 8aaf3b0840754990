"""Progress of an apply: events per VM and phase, and the sink Protocol they go to.

The executor emits ``ProgressEvent``s; it never prints. The sinks that show them (a rich Live
table, plain lines) belong to the command line (``homelab.cli.progress``); here are only the
event, the Protocol and two sinks that show nothing: ``Silent`` drops events (``--quiet``),
``Recorder`` keeps them. Sinks are thread-safe: chains run in parallel.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["PHASES", "ProgressEvent", "ProgressSink", "Recorder", "Silent", "Status"]

PHASES = ("destroy", "clone", "configure", "seed", "resize", "start", "agent")
Status = Literal["running", "done", "failed", "skipped", "warning"]


@dataclass(frozen=True)
class ProgressEvent:
    vm: str
    phase: str
    status: Status
    detail: str = ""

    def line(self) -> str:
        text = f"{self.vm}: {self.phase} {self.status}"
        return f"{text} ({self.detail})" if self.detail else text


class ProgressSink(Protocol):
    def __call__(self, event: ProgressEvent) -> None: ...


class Silent:
    def __call__(self, event: ProgressEvent) -> None:
        return None


class Recorder:
    """Keeps every event (tests, benchmarks)."""

    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            self.events.append(event)
