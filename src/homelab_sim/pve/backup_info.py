"""/cluster/backup-info: which guests no backup job covers (pve-manager
``API2/Cluster/BackupInfo.pm``).

``not-backed-up`` is computed as pve-manager does it: every ``vzdump`` job counts, enabled or
not (``get_included_vmids`` reads jobs.cfg whole), and each job's selection is the one
``PVE::VZDump::get_included_guests`` makes (``pool`` first, else ``vmid``, else ``all`` minus
``exclude``; a job bound to a ``node`` keeps only the guests on it). Every guest in the cluster
is a candidate, templates and containers included (nothing skips them), and only those the
caller has ``VM.Audit`` on are listed, so a guest's name does not leak. A QEMU guest's name is
its config's ``name``, a container's its ``hostname``; the entry has no ``name`` without one.
The endpoint itself needs ``Sys.Audit`` on ``/`` (the schema's check).
"""

from __future__ import annotations

from typing import Any

from homelab_sim.pve.context import Ctx
from homelab_sim.pve.schema_formats import split_list


def _guests(ctx: Ctx) -> dict[int, tuple[str, str, str | None]]:
    """VMID -> (type, node, name) of every guest (``PVE::Cluster::get_vmlist``)."""
    out: dict[int, tuple[str, str, str | None]] = {}
    for vm in ctx.state.vms.values():
        name = vm.config.get("name")
        out[vm.vmid] = ("qemu", vm.node, str(name) if name else None)
    for ct in ctx.state.containers.values():
        out[ct.vmid] = ("lxc", ct.node, ct.name or None)
    return out


def included_guests(ctx: Ctx, settings: dict[str, Any]) -> set[int]:
    """The VMIDs one job selects (``PVE::VZDump::get_included_guests``)."""
    guests = _guests(ctx)
    if settings.get("pool"):
        pool = ctx.state.pools.get(str(settings["pool"]))
        chosen = set(pool.vms) if pool is not None else set()
    elif settings.get("vmid"):
        chosen = {int(v) for v in split_list(str(settings["vmid"])) if v.isdigit()}
    elif settings.get("all"):
        excluded = {int(v) for v in split_list(str(settings.get("exclude") or "")) if v.isdigit()}
        chosen = set(guests) - excluded
    else:
        return set()
    node = settings.get("node")
    return {v for v in chosen if node is None or v not in guests or guests[v][1] == node}


def not_backed_up(ctx: Ctx, p: dict[str, Any]) -> Any:
    covered: set[int] = set()
    for job in ctx.state.backup_jobs.values():
        covered |= included_guests(ctx, dict(job.settings))
    out = []
    for vmid, (kind, _node, name) in sorted(_guests(ctx).items()):
        if vmid in covered or not ctx.can(f"/vms/{vmid}", "VM.Audit"):
            continue
        entry: dict[str, Any] = {"vmid": vmid, "type": kind}
        if name is not None:
            entry["name"] = name
        out.append(entry)
    return out


def index(ctx: Ctx, p: dict[str, Any]) -> Any:
    return [{"subdir": "not-backed-up"}]


ROUTES = {
    ("GET", "/cluster/backup-info"): index,
    ("GET", "/cluster/backup-info/not-backed-up"): not_backed_up,
}
