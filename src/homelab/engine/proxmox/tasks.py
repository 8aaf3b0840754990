"""Proxmox tasks: UPIDs, exit statuses, and waiting for a task to stop.

A long-running API call returns a UPID and works in the background. Its outcome is known only
from ``GET /nodes/{node}/tasks/{upid}/status`` on the node named *in the UPID*: ``status``
goes ``running`` -> ``stopped``, then ``exitstatus`` is ``OK``, ``WARNINGS: n`` (also a
success) or the error text. A failed task becomes TaskFailed with the tail of its log (or one of
its lock subclasses, which are transient). The HTTP calls are passed in, so this module does no
I/O of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homelab.engine.proxmox.errors import (
    InvalidUpid,
    NotFoundError,
    ProxmoxError,
    TaskTimeout,
    classify_task_failure,
)

__all__ = [
    "LOG_TAIL_LINES",
    "TaskResult",
    "Upid",
    "is_success",
    "wait_for_task",
    "warning_count",
]

UPID_RE = re.compile(
    r"^UPID:(?P<node>[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):(?P<pid>[0-9A-Fa-f]{8}):"
    r"(?P<pstart>[0-9A-Fa-f]{8,9}):(?P<starttime>[0-9A-Fa-f]{8}):(?P<type>[^:\s/]+):"
    r"(?P<id>[^:\s/]*):(?P<user>[^:\s/]+):$"
)
WARNINGS_RE = re.compile(r"^WARNINGS: (\d+)$")
LOG_TAIL_LINES = 20
MAX_POLL = 5.0
#: Right after dispatch a task may not be visible yet ("no such task"); tolerate a few polls.
NOT_YET_VISIBLE_POLLS = 3


@dataclass(frozen=True)
class Upid:
    """A parsed task id: ``UPID:node:pid:pstart:starttime:type:id:user:``."""

    raw: str
    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str

    @classmethod
    def parse(cls, raw: str) -> Upid:
        match = UPID_RE.match(raw)
        if match is None:
            raise InvalidUpid(f"Proxmox returned {raw[:120]!r}, which is not a task id (UPID)")
        return cls(
            raw=raw,
            node=match["node"],
            pid=int(match["pid"], 16),
            pstart=int(match["pstart"], 16),
            starttime=int(match["starttime"], 16),
            type=match["type"],
            id=match["id"],
            user=match["user"],
        )

    def __str__(self) -> str:
        return self.raw


@dataclass(frozen=True)
class TaskResult:
    """A task that stopped successfully; ``warnings`` counts its ``WARNINGS: n``."""

    upid: Upid
    exitstatus: str
    warnings: int = 0


def is_success(exitstatus: str) -> bool:
    """Proxmox's own test: ``OK`` or ``WARNINGS: <n>``."""
    return exitstatus == "OK" or WARNINGS_RE.match(exitstatus) is not None


def warning_count(exitstatus: str) -> int:
    match = WARNINGS_RE.match(exitstatus)
    return int(match.group(1)) if match else 0


def wait_for_task(
    upid: Upid,
    *,
    fetch_status: Callable[[Upid], Mapping[str, Any]],
    fetch_log_tail: Callable[[Upid, int], tuple[str, ...]],
    timeout: float,
    poll: float,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> TaskResult:
    """Poll until the task stops (waits grow x1.5 from ``poll`` up to 5 s) or ``timeout`` ends."""
    deadline = monotonic() + timeout
    interval = poll
    unseen = 0
    while True:
        try:
            status = fetch_status(upid)
        except NotFoundError:
            unseen += 1
            if unseen > NOT_YET_VISIBLE_POLLS:
                raise
            status = {"status": "running"}
        if status.get("status") == "stopped":
            return _finish(upid, str(status.get("exitstatus", "unexpected status")), fetch_log_tail)
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise TaskTimeout(upid.raw, timeout)
        sleep(min(interval, remaining))
        interval = min(MAX_POLL, interval * 1.5)


def _finish(
    upid: Upid, exitstatus: str, fetch_log_tail: Callable[[Upid, int], tuple[str, ...]]
) -> TaskResult:
    if is_success(exitstatus):
        return TaskResult(upid, exitstatus, warning_count(exitstatus))
    try:
        tail = fetch_log_tail(upid, LOG_TAIL_LINES)
    except ProxmoxError:  # the log is diagnostics; the task's failure is what matters
        tail = ()
    raise classify_task_failure(upid.raw, exitstatus, tail)
