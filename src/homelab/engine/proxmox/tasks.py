"""Proxmox tasks: waiting for a task to stop, and what it ended with.

A long-running API call returns a UPID and works in the background. Its outcome is known only
from ``GET /nodes/{node}/tasks/{upid}/status`` on the node named *in the UPID*: ``status``
goes ``running`` -> ``stopped``, then ``exitstatus`` is ``OK``, ``WARNINGS: n`` (also a
success) or the error text. A failed task becomes TaskFailed with the tail of its log (or one of
its lock subclasses, which are transient). The replies are read by the pure core
(``homelab.core.pve_reply``); the HTTP calls are passed in, so this module does no I/O of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homelab.core.pve_reply import MalformedReply, TaskStatus, Upid
from homelab.engine.proxmox.errors import (
    NotFoundError,
    ProxmoxError,
    TaskTimeout,
    classify_task_failure,
)

__all__ = ["LOG_TAIL_LINES", "TaskResult", "TaskWaits", "wait_for_task"]

LOG_TAIL_LINES = 20
#: Right after dispatch a task may not be visible yet ("no such task"); tolerate a few polls.
NOT_YET_VISIBLE_POLLS = 3


@dataclass(frozen=True)
class TaskWaits:
    """How long to wait for a task (``timeout``), and how often to ask: the first poll after
    ``poll`` seconds, each next one 1.5 times later, up to ``poll_cap``."""

    timeout: float = 600.0
    poll: float = 1.0
    poll_cap: float = 5.0


@dataclass(frozen=True)
class TaskResult:
    """A task that stopped successfully; ``warnings`` counts its ``WARNINGS: n``."""

    upid: Upid
    exitstatus: str
    warnings: int = 0


def wait_for_task(
    upid: Upid,
    *,
    fetch_status: Callable[[Upid], TaskStatus],
    fetch_log_tail: Callable[[Upid, int], tuple[str, ...]],
    waits: TaskWaits,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> TaskResult:
    """Poll until the task stops or ``waits.timeout`` ends (TaskTimeout; the task goes on)."""
    deadline = monotonic() + waits.timeout
    interval = waits.poll
    unseen = 0
    while True:
        try:
            status = fetch_status(upid)
        except NotFoundError:
            unseen += 1
            if unseen > NOT_YET_VISIBLE_POLLS:
                raise
            status = TaskStatus(stopped=False)
        if status.stopped:
            return _finish(upid, status, fetch_log_tail)
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise TaskTimeout(upid.raw, waits.timeout)
        sleep(min(interval, remaining))
        interval = min(waits.poll_cap, interval * 1.5)


def _finish(
    upid: Upid, status: TaskStatus, fetch_log_tail: Callable[[Upid, int], tuple[str, ...]]
) -> TaskResult:
    exitstatus = status.exitstatus or "unexpected status"
    if status.ok:
        return TaskResult(upid, exitstatus, status.warnings)
    try:
        tail = fetch_log_tail(upid, LOG_TAIL_LINES)
    except (ProxmoxError, MalformedReply):  # the log is diagnostics; the failure matters
        tail = ()
    raise classify_task_failure(upid.raw, exitstatus, tail)
