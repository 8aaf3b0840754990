"""Progress of an apply: events per VM and phase, and the sinks that show them.

The executor emits ``ProgressEvent``s; it never prints. ``LiveTable`` shows one row per VM in a
rich Live display on a terminal, ``PlainLines`` writes one line per event elsewhere (CI logs),
and ``Silent`` drops them (``--quiet``). Sinks are thread-safe: chains run in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

__all__ = [
    "PHASES",
    "LiveTable",
    "PlainLines",
    "ProgressEvent",
    "ProgressSink",
    "Recorder",
    "Silent",
]

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


class PlainLines:
    """One line per event, for logs and pipes."""

    def __init__(self, write: Callable[[str], object]) -> None:
        self._write = write
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        if event.status == "skipped":
            return
        with self._lock:
            self._write(event.line())

    @classmethod
    def to(cls, stream: TextIO) -> PlainLines:
        return cls(lambda text: (stream.write(text + "\n"), stream.flush()))


_MARKS = {"running": "…", "done": "✓", "failed": "✗", "skipped": "·", "warning": "!"}
_STYLES = {"running": "yellow", "done": "green", "failed": "bold red", "warning": "magenta"}


class LiveTable:
    """A rich Live table: one row per VM, one column per phase. Use as a context manager."""

    def __init__(self, vms: list[str], console: Console) -> None:
        self._rows: dict[str, dict[str, str]] = {vm: {} for vm in vms}
        self._notes: dict[str, str] = {}
        self._lock = threading.Lock()
        self._live = Live(self._table(), console=console, refresh_per_second=8, transient=False)

    def __enter__(self) -> LiveTable:
        self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._live.update(self._table(), refresh=True)
        self._live.__exit__(kind, exc, tb)

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            style = _STYLES.get(event.status)
            mark = _MARKS[event.status]
            self._rows.setdefault(event.vm, {})[event.phase] = (
                f"[{style}]{mark}[/]" if style else mark
            )
            if event.detail and event.status in ("failed", "warning", "done"):
                self._notes[event.vm] = event.detail
            self._live.update(self._table())

    def _table(self) -> Table:
        table = Table(box=None, pad_edge=False)
        table.add_column("vm", style="bold")
        for phase in PHASES:
            table.add_column(phase, justify="center")
        table.add_column("")
        for vm, phases in self._rows.items():
            table.add_row(vm, *(phases.get(p, "") for p in PHASES), self._notes.get(vm, ""))
        return table
