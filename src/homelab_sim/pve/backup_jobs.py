"""What pvescheduler and vzdump do with backup jobs: run them on schedule, prune, report coverage.

- **Scheduling** (pve-manager ``PVE/Jobs.pm`` ``run_jobs``, ``PVE/Service/pvescheduler.pm``):
  pvescheduler looks at the jobs every minute; an enabled job runs when the first calendar-event
  match after its last run (``get_last_runtime``; a new job counts as run when it was created, a
  run from its start) has come. When the virtual clock leaps while pvescheduler is up, the runs
  inside the leap happen at their own times, in order, at most ``MAX_CATCH_UP`` of them per job
  and leap.
- **pvescheduler down** (``PUT /_sim/scheduler``: the host down for maintenance, or ``systemctl
  stop pvescheduler``; cluster-wide here): no job runs, however far the clock moves. The first
  pass after a start (``$first_run``) happens at the start's virtual time and first sets the last
  run of every job without ``repeat-missed``, enabled or not, to that time
  (``update_last_runtime``, "so that a missed job will not start immediately after boot"): such
  a job skips what it missed and runs at its next match after the start. A job with
  ``repeat-missed`` whose next match after its last run has passed runs once, at the start (not
  once per missed match), and counts as run then. Backup tasks already started go on **[unc]**.
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


def _repeat_missed(job: BackupJob) -> bool:
    return job.settings.get("repeat-missed", 0) not in (0, "0", False, "")


def _start_run(
    ctx: Ctx,
    job: BackupJob,
    at: float,
    start_vzdump: Callable[[Ctx, dict[str, Any], str, float], Any],
) -> None:
    nodes = sorted({ctx.state.vms[v].node for v in selected_guests(ctx, job.settings)})
    for node in nodes:
        start_vzdump(ctx, {**job.settings, "node": node, "job-id": job.id}, node, at)
    job.last_run = at
    ctx.changed = True


def first_pass(
    ctx: Ctx, at: float, start_vzdump: Callable[[Ctx, dict[str, Any], str, float], Any]
) -> None:
    """pvescheduler's first ``run_jobs`` after a start, at ``at``: jobs without
    ``repeat-missed`` count as run now; the others run once now if a match was missed."""
    for job in sorted(ctx.state.backup_jobs.values(), key=lambda j: j.id):
        if not _repeat_missed(job):
            job.last_run = at
        event = _event(job)
        if event is None:
            continue
        last = job.last_run if job.last_run is not None else at
        found = next_event(event, int(last))
        if found is not None and found <= at:
            _start_run(ctx, job, at, start_vzdump)
    ctx.changed = True


def set_scheduler(ctx: Ctx, running: bool) -> None:
    """Stop or start pvescheduler; a start makes its next pass a first run, at now."""
    scheduler = ctx.state.scheduler
    if scheduler.running == running:
        return
    scheduler.running = running
    if running:
        scheduler.first_run_at = ctx.now()
    ctx.changed = True


def run_scheduled(ctx: Ctx, start_vzdump: Callable[[Ctx, dict[str, Any], str, float], Any]) -> bool:
    """What pvescheduler did up to now (``start_vzdump(ctx, settings, node, at)`` for each run
    on each node): the first pass after a start, then every due run of every job. True if it
    changed anything (nothing while pvescheduler is stopped)."""
    scheduler = ctx.state.scheduler
    if not scheduler.running:
        return False
    changed = False
    if scheduler.first_run_at is not None:
        first_pass(ctx, scheduler.first_run_at, start_vzdump)
        scheduler.first_run_at = None
        changed = True
    now = ctx.now()
    for job in sorted(ctx.state.backup_jobs.values(), key=lambda j: j.id):
        for at in due_runs(job, now):
            _start_run(ctx, job, float(at), start_vzdump)
            changed = True
    return changed
