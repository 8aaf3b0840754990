"""What pvescheduler and vzdump do with backup jobs: run them on schedule, prune, report coverage.

- **Scheduling** (pve-manager ``PVE/Jobs.pm``, ``pvescheduler``): every enabled job fires at the
  first calendar-event match after its last run (a new job counts as run when it was created).
  The scheduler looks every minute; ``repeat-missed`` only matters for runs missed while it was
  down, which the simulator does not model: when the virtual clock leaps, the scheduler was up,
  so the runs inside the leap happen at their own times, in order, at most ``MAX_CATCH_UP`` of
  them per job and leap.
- **A run** is ``vzdump`` on each node holding guests of the job, as ``root@pam`` (no per-guest
  privilege check), one task per node, the guests one after another.
- **Pruning** (pve-storage ``Storage.pm`` ``prune_mark_backup_group``): after each guest's
  backup, the guest's backups on the storage are marked newest first: ``keep-last`` keeps the N
  newest; ``keep-hourly``/``daily``/``weekly``/``monthly``/``yearly`` keep the newest backup of
  each of the N newest periods not already kept; protected backups stay; the rest are removed.
- **Coverage** (``API2/Cluster/BackupInfo.pm``): a guest is covered when some job, enabled or
  not, selects it (``vmid`` list, ``all`` minus ``exclude``, or ``pool``; a job's ``node``
  restricts it to that node's guests). Templates are not listed as uncovered **[unc]**.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from homelab_sim.pve.calendar import Event, EventError, next_event, parse_event
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.qemu_config import split_list
from homelab_sim.pve.state import BackupJob, Volume

MAX_CATCH_UP = 500
RULES = ("keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")


def _period(rule: str) -> Callable[[int], str]:
    formats = {
        "keep-last": None,
        "keep-hourly": "%H/%d/%m/%Y",
        "keep-daily": "%d/%m/%Y",
        "keep-weekly": "%V/%G",
        "keep-monthly": "%m/%Y",
        "keep-yearly": "%Y",
    }
    fmt = formats[rule]
    if fmt is None:
        return str
    return lambda ctime: time.strftime(fmt, time.gmtime(ctime))


def parse_prune(text: str) -> dict[str, int]:
    """``keep-last=3,keep-daily=7`` as a dict (the property string PVE stores)."""
    out: dict[str, int] = {}
    for item in split_list(text):
        key, _, value = item.partition("=")
        out[key.strip()] = int(value)
    return out


def prune_marks(backups: list[Volume], keep: dict[str, int]) -> dict[str, str]:
    """volid -> ``keep`` | ``remove`` | ``protected`` for one guest's backups on one storage."""
    marks: dict[str, str] = {v.volid: "protected" for v in backups if v.meta.get("protected")}
    wanted = {rule: keep.get(rule, 0) for rule in RULES}
    if keep.get("keep-all") or not any(n > 0 for n in wanted.values()):
        return {v.volid: marks.get(v.volid, "keep") for v in backups}
    newest_first = sorted(backups, key=lambda v: v.ctime, reverse=True)
    for rule, count in wanted.items():
        if count <= 0:
            continue
        period = _period(rule)
        already = {period(v.ctime) for v in newest_first if marks.get(v.volid) == "keep"}
        chosen: set[str] = set()
        for vol in newest_first:
            key = period(vol.ctime)
            if vol.volid in marks or key in already:
                continue
            if key not in chosen:
                if len(chosen) >= count:
                    break
                chosen.add(key)
                marks[vol.volid] = "keep"
            else:
                marks[vol.volid] = "remove"
    return {v.volid: marks.get(v.volid, "remove") for v in backups}


def prune_guest(ctx: Ctx, storage: str, vmid: int, keep: dict[str, int]) -> list[str]:
    """Remove what the retention does not keep of ``vmid``'s backups on ``storage``."""
    keys = {
        key: vol
        for key, vol in ctx.state.volumes.items()
        if vol.storage == storage and vol.content == "backup" and vol.vmid == vmid
    }
    marks = prune_marks(list(keys.values()), keep)
    removed = []
    for key, vol in keys.items():
        if marks[vol.volid] == "remove":
            del ctx.state.volumes[key]
            removed.append(vol.volid)
            ctx.changed = True
    return sorted(removed)


def selected_guests(ctx: Ctx, settings: dict[str, Any]) -> list[int]:
    """The VMIDs a job (or a vzdump call) selects, cluster-wide, honouring ``node``."""
    node = settings.get("node")
    guests = sorted(v.vmid for v in ctx.state.vms.values() if node is None or v.node == node)
    if settings.get("all"):
        excluded = {int(v) for v in split_list(settings.get("exclude"))}
        return [v for v in guests if v not in excluded]
    if settings.get("pool"):
        pool = ctx.state.pools.get(str(settings["pool"]))
        return [v for v in guests if pool is not None and v in pool.vms]
    wanted = {int(v) for v in split_list(settings.get("vmid"))}
    return [v for v in guests if v in wanted]


def not_backed_up(ctx: Ctx, p: dict[str, Any]) -> Any:
    covered: set[int] = set()
    for job in ctx.state.backup_jobs.values():
        covered.update(selected_guests(ctx, job.settings))
    out = []
    for vm in sorted(ctx.state.vms.values(), key=lambda v: v.vmid):
        if vm.vmid in covered or vm.config.get("template"):
            continue
        if not ctx.can(f"/vms/{vm.vmid}", "VM.Audit"):
            continue
        item: dict[str, Any] = {"vmid": vm.vmid, "type": "qemu"}
        if vm.config.get("name"):
            item["name"] = vm.config["name"]
        out.append(item)
    return out


def _event(job: BackupJob) -> Event | None:
    if job.settings.get("enabled", 1) in (0, "0", False):
        return None
    try:
        return parse_event(str(job.settings.get("schedule") or ""))
    except EventError:
        return None


def next_run(job: BackupJob, now: float) -> int | None:
    """When ``job`` fires next, as GET /cluster/backup's ``next-run`` shows it."""
    event = _event(job)
    last = max(job.last_run if job.last_run is not None else now, now)
    return None if event is None else next_event(event, int(last))


def due_runs(job: BackupJob, now: float) -> list[int]:
    """The run times of ``job`` in (its last run, ``now``], oldest first."""
    event = _event(job)
    runs: list[int] = []
    last = int(job.last_run if job.last_run is not None else now)
    while event is not None and len(runs) < MAX_CATCH_UP:
        found = next_event(event, last)
        if found is None or found > now:
            break
        runs.append(found)
        last = found
    return runs


def run_scheduled(ctx: Ctx, start_vzdump: Callable[[Ctx, dict[str, Any], str, float], Any]) -> bool:
    """Start every due run of every job (``start_vzdump(ctx, settings, node, at)``); True if any."""
    now = ctx.now()
    started = False
    for job in sorted(ctx.state.backup_jobs.values(), key=lambda j: j.id):
        runs = due_runs(job, now)
        for at in runs:
            nodes = sorted({ctx.state.vms[v].node for v in selected_guests(ctx, job.settings)})
            for node in nodes:
                start_vzdump(ctx, {**job.settings, "node": node, "job-id": job.id}, node, at)
                started = True
        if runs:
            job.last_run = float(runs[-1])
            ctx.changed = True
    return started
