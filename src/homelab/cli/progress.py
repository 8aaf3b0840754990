"""Showing an apply's progress events: a rich Live table on a terminal, plain lines elsewhere.

``LiveTable`` shows one row per VM and one column per phase; ``PlainLines`` writes one line per
event (CI logs, pipes). Both are ``ProgressSink``s (``homelab.engine.apply.progress``) and are
thread-safe: chains run in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from homelab.engine.apply.progress import PHASES, ProgressEvent

__all__ = ["LiveTable", "PlainLines"]


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
