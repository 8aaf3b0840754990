"""Worker tasks: UPIDs, the virtual-time lifecycle, flocks, and the /nodes/{node}/tasks API.

A task is created ``running`` with an end time on the virtual clock. ``complete_due`` (called at
the start of every request) finishes every task the clock has passed, in end-time order, by
calling the task's completion (registered by name, so tasks survive a restart): the completion
applies the operation's effect, or cleans up if the task fails. The log then ends with
``TASK OK``, ``TASK WARNINGS: <n>`` (when the log has ``WARN:`` lines) or ``TASK ERROR: <msg>``,
and ``exitstatus`` follows PVE's rules (``OK``, ``WARNINGS: <n>``, or the error text).

Flocks model ``/var/lock/qemu-server/lock-<vmid>.conf``: a running task may hold shared or
exclusive flocks on VMIDs; a conflicting operation waits up to its timeout (1 s for clone, 10 s
for most others) and fails with PVE's ``can't lock file ... - got timeout`` if the holder does not
finish in time.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable
from typing import Any

from homelab_sim.pve.context import Ctx, Result
from homelab_sim.pve.errors import ApiError, fail, lock_timeout_text, param_fail
from homelab_sim.pve.state import FlockHold, Task

Completion = Callable[[Ctx, Task, "str | None"], None]
COMPLETIONS: dict[str, Completion] = {}
MAX_TASKS = 5000
UPID_RE = re.compile(
    r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
    r"([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$"
)


class TaskFailed(Exception):
    """Raised by a completion: the task ends with ``TASK ERROR: <message>``."""


def completion(name: str) -> Callable[[Completion], Completion]:
    def register(fn: Completion) -> Completion:
        COMPLETIONS[name] = fn
        return fn

    return register


def start_task(
    ctx: Ctx,
    *,
    node: str,
    kind: str,
    task_id: str,
    duration: float,
    done: str,
    args: dict[str, Any] | None = None,
    log: list[str] | None = None,
    flocks: list[FlockHold] | None = None,
    at: float | None = None,
) -> str:
    """Create a running task and return its UPID; a pending request fault shapes it. ``at``
    starts it at an earlier virtual time (a scheduled run inside a leap of the clock)."""
    state = ctx.state
    now = ctx.now() if at is None else at
    state.next_pid += 1
    pstart = int((now - ctx.node(node).boot_time) * 100)
    starttime = int(now)
    user = ctx.ident.task_user
    upid = f"UPID:{node}:{state.next_pid:08X}:{pstart:08X}:{starttime:08X}:{kind}:{task_id}:{user}:"
    task = Task(
        upid=upid,
        node=node,
        type=kind,
        id=task_id,
        user=user,
        pid=state.next_pid,
        pstart=pstart,
        starttime=starttime,
        start_v=now,
        end_v=now + duration,
        done=done,
        args=args or {},
        log=list(log or []),
        flocks=list(flocks or []),
    )
    if ctx.fault is not None:
        ctx.fault.shape_task(task)
    state.tasks.append(task)
    if len(state.tasks) > MAX_TASKS:
        finished = [t for t in state.tasks if t.status == "stopped"]
        for old in finished[: len(state.tasks) - MAX_TASKS]:
            state.tasks.remove(old)
    ctx.changed = True
    return upid


def complete_due(ctx: Ctx) -> bool:
    """Finish every running task whose end time has passed; True if any did."""
    now = ctx.now()
    key = ("next-due", ctx.generation)
    next_due = ctx.cache.get(key)
    if next_due is None:
        running = [t.end_v for t in ctx.state.tasks if t.status == "running"]
        next_due = ctx.cache[key] = min(running, default=float("inf"))
    if now < next_due:
        return False
    due = sorted(
        (t for t in ctx.state.tasks if t.status == "running" and t.end_v <= now),
        key=lambda t: t.end_v,
    )
    for task in due:
        finish_task(ctx, task)
    return bool(due)


def finish_task(ctx: Ctx, task: Task) -> None:
    error = task.fail
    handler = COMPLETIONS.get(task.done)
    try:
        if handler is not None:
            handler(ctx, task, error)
    except TaskFailed as exc:
        error = str(exc)
    except Exception as exc:  # a simulator bug: fail the task, keep the cluster consistent
        traceback.print_exc(file=sys.stderr)
        error = f"internal simulator error: {type(exc).__name__}: {exc}"
    task.status = "stopped"
    task.flocks = []
    warnings = sum(1 for line in task.log if line.startswith("WARN: "))
    if error is None and warnings:
        task.exitstatus = f"WARNINGS: {warnings}"
        task.log.append(f"TASK WARNINGS: {warnings}")
    elif error is None:
        task.exitstatus = "OK"
        task.log.append("TASK OK")
    else:
        task.exitstatus = error.replace("\n", " ")
        task.log.append(f"TASK ERROR: {error}")
    ctx.changed = True


def acquire_flock(ctx: Ctx, vmid: int, *, shared: bool, wait: float) -> float:
    """Virtual seconds to wait for the flock on ``vmid``; ApiError(500) on timeout."""
    now = ctx.now()
    blockers = [
        task.end_v
        for task in ctx.state.tasks
        if task.status == "running"
        for hold in task.flocks
        if hold.vmid == vmid and not (shared and hold.shared)
    ]
    if not blockers:
        return 0.0
    free_at = max(blockers)
    if free_at - now > wait:
        raise fail(lock_timeout_text(vmid))
    return max(0.0, free_at - now)


def find_task(ctx: Ctx, node: str, upid: str) -> Task:
    if not UPID_RE.match(upid):
        raise ApiError(400, "unable to parse worker upid")
    task = next((t for t in ctx.state.tasks if t.upid == upid), None)
    if task is None or task.node != node:
        raise param_fail({"upid": "no such task"})
    if not _may_see(ctx, task):
        raise ApiError(403, f"Permission check failed (/nodes/{node}, Sys.Audit)")
    return task


def _may_see(ctx: Ctx, task: Task) -> bool:
    """Owners see their tasks (a user also sees its tokens'); others need Sys.Audit."""
    ident = ctx.ident
    owner = task.user == ident.task_user or (
        ident.tokenid is None and task.user.split("!", 1)[0] == ident.userid
    )
    return owner or ctx.can(f"/nodes/{task.node}", "Sys.Audit")


def task_status(ctx: Ctx, p: dict[str, Any]) -> Any:
    task = find_task(ctx, p["node"], p["upid"])
    out: dict[str, Any] = {
        "upid": task.upid,
        "node": task.node,
        "pid": task.pid,
        "pstart": task.pstart,
        "starttime": task.starttime,
        "type": task.type,
        "id": task.id,
        "status": task.status,
    }
    user, _, token = task.user.partition("!")
    out["user"] = user
    if token:
        out["tokenid"] = token
    if task.status == "stopped":
        out["exitstatus"] = task.exitstatus
    return out


def task_log(ctx: Ctx, p: dict[str, Any]) -> Result:
    task = find_task(ctx, p["node"], p["upid"])
    lines = task.log or ["no content"]
    start = int(p.get("start", 0))
    limit = int(p.get("limit", 50))
    chosen = lines[start:] if limit == 0 else lines[start : start + limit]
    data = [{"n": start + i + 1, "t": text} for i, text in enumerate(chosen)]
    return Result(data, {"total": len(lines)})


def task_list(ctx: Ctx, p: dict[str, Any]) -> Result:
    node = p["node"]
    ctx.node(node)
    source = p.get("source", "archive")
    tasks = [t for t in reversed(ctx.state.tasks) if t.node == node and _may_see(ctx, t)]
    if source == "archive":
        tasks = [t for t in tasks if t.status == "stopped"]
    elif source == "active":
        tasks = [t for t in tasks if t.status == "running"]
    tasks = [t for t in tasks if _selected(t, p)]
    start, limit = int(p.get("start", 0)), int(p.get("limit", 50))
    rows = [_row(t) for t in tasks[start : start + limit]]
    return Result(rows, {"total": len(tasks)})


def _selected(task: Task, p: dict[str, Any]) -> bool:
    if "vmid" in p and task.id != str(p["vmid"]):
        return False
    if p.get("typefilter") and task.type != p["typefilter"]:
        return False
    if p.get("userfilter") and p["userfilter"] not in task.user:
        return False
    if p.get("errors") and task.exitstatus in {None, "OK"}:
        return False
    wanted = {s.lower() for s in re.split(r"[,;\s]+", str(p.get("statusfilter") or "")) if s}
    if wanted and status_type(task.exitstatus) not in wanted:
        return False
    if "since" in p and task.starttime < int(p["since"]):
        return False
    return not ("until" in p and task.starttime > int(p["until"]))


def status_type(exitstatus: str | None) -> str:
    """PVE::Tools::upid_normalize_status_type: ok, warning, error, or unknown (still running)."""
    if exitstatus is None:
        return "unknown"
    if exitstatus == "OK":
        return "ok"
    return "warning" if exitstatus.startswith("WARNINGS") else "error"


def _row(task: Task) -> dict[str, Any]:
    row: dict[str, Any] = {
        "upid": task.upid,
        "node": task.node,
        "pid": task.pid,
        "pstart": task.pstart,
        "starttime": task.starttime,
        "type": task.type,
        "id": task.id,
        "user": task.user,
    }
    if task.status == "stopped":
        row["endtime"] = int(task.end_v)
        row["status"] = task.exitstatus
    return row


ROUTES = {
    ("GET", "/nodes/{node}/tasks"): task_list,
    ("GET", "/nodes/{node}/tasks/{upid}/status"): task_status,
    ("GET", "/nodes/{node}/tasks/{upid}/log"): task_log,
}
