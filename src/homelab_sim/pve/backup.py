"""Backups: POST /nodes/{node}/vzdump and the /cluster/backup job schedule (CRUD).

A vzdump task locks each guest (``lock: backup``) while it runs and leaves a
``vzdump-qemu-<vmid>-<YYYY_MM_DD-HH_MM_SS>.vma.zst`` volume (content ``backup``) holding the
guest's config, which POST /qemu ``archive=`` restores.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from typing import Any

from homelab_sim.pve import latency
from homelab_sim.pve.backup_jobs import next_run, parse_prune, prune_guest
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import ApiError, fail, param_fail
from homelab_sim.pve.pbs import pbs_unreachable
from homelab_sim.pve.qemu_config import split_list, to_config_value
from homelab_sim.pve.state import BackupJob, Task, Volume
from homelab_sim.pve.tasks import TaskFailed, completion, start_task
from homelab_sim.pve.volumes import add_volume, boot_disk_size, check_storage

_NOT_JOB = {"id", "delete", "digest"}


def vzdump(ctx: Ctx, p: dict[str, Any]) -> Any:
    node = p.get("node") or ctx.state.nodes[0].node
    ctx.node(node)
    storage = check_storage(ctx, node, str(p.get("storage", "local")), "backup")
    if not ctx.can(f"/storage/{storage.storage}", "Datastore.AllocateSpace"):
        raise ApiError(
            403, f"Permission check failed (/storage/{storage.storage}, Datastore.AllocateSpace)"
        )
    vmids = _selected(ctx, node, p)
    if not vmids:
        raise fail("No VMID is specified and no matching guest on this node")
    for vmid in vmids:
        if not ctx.can(f"/vms/{vmid}", "VM.Backup"):
            raise ApiError(403, f"Permission check failed (/vms/{vmid}, VM.Backup)")
    return start_vzdump(ctx, {**p, "storage": storage.storage}, node)


def start_vzdump(ctx: Ctx, settings: dict[str, Any], node: str, at: float | None = None) -> str:
    """Start vzdump of the guests ``settings`` selects on ``node`` (a call or a job's run)."""
    vmids = _selected(ctx, node, settings)
    storage = str(settings.get("storage", "local"))
    size = sum(boot_disk_size(ctx, ctx.state.vms[v]) for v in vmids)
    locked = []
    for vmid in vmids:
        vm = ctx.state.vms[vmid]
        if vm.lock() is None:
            vm.config["lock"] = "backup"
            locked.append(vmid)
    cmd = " ".join(["vzdump", *map(str, vmids), "--storage", storage])
    return start_task(
        ctx,
        node=node,
        kind="vzdump",
        task_id=str(vmids[0]) if len(vmids) == 1 else "",
        duration=latency.vzdump(size),
        done="vzdump",
        args={
            "vmids": vmids,
            "locked": locked,
            "storage": storage,
            "mode": settings.get("mode", "snapshot"),
            "compress": str(settings.get("compress", "0")),  # vzdump's default: none
            "prune": str(settings.get("prune-backups") or ""),
            "remove": settings.get("remove", 1) not in (0, "0", False),
            "notes": settings.get("notes-template"),
            "protected": bool(settings.get("protected")),
            "job": settings.get("job-id"),
        },
        log=[f"INFO: starting new backup job: {cmd}"],
        at=at,
    )


def job_guests_on(ctx: Ctx, node: str, settings: dict[str, Any]) -> list[int]:
    """The guests on ``node`` that a job's run backs up."""
    return _selected(ctx, node, settings)


def _selected(ctx: Ctx, node: str, p: dict[str, Any]) -> list[int]:
    on_node = sorted(v.vmid for v in ctx.state.vms.values() if v.node == node)
    if p.get("all"):
        excluded = {int(v) for v in split_list(p.get("exclude"))}
        return [v for v in on_node if v not in excluded]
    if p.get("pool"):
        pool = ctx.state.pools.get(str(p["pool"]))
        return [v for v in on_node if pool and v in pool.vms]
    wanted = [int(v) for v in split_list(p.get("vmid"))]
    return [v for v in wanted if v in on_node]


@completion("vzdump")
def _vzdump_done(ctx: Ctx, task: Task, error: str | None) -> None:
    args = task.args
    for vmid in args["locked"]:
        vm = ctx.state.vms.get(vmid)
        if vm is not None and vm.lock() == "backup":
            vm.config.pop("lock")
    if error is not None:
        return
    moment = int(task.start_v)  # vzdump names the archive by when it started
    ctx.guest.snapshot()  # each running machine's disk state, into its vm.guest
    stamp = time.strftime("%Y_%m_%d-%H_%M_%S", time.gmtime(moment))
    failed = False
    for vmid in args["vmids"]:
        vm = ctx.state.vms.get(vmid)
        if vm is None:
            task.log.append(f"ERROR: Backup of VM {vmid} failed - unable to find VM '{vmid}'")
            failed = True
            continue
        suffix = {"zstd": ".vma.zst", "gzip": ".vma.gz", "lzo": ".vma.lzo", "1": ".vma.lzo"}.get(
            args["compress"], ".vma"
        )
        target = ctx.state.storage(args["storage"])
        size = boot_disk_size(ctx, vm)
        task.log.append(f"INFO: Starting Backup of VM {vmid} (qemu)")
        if target is not None and target.type == "pbs":
            problem = pbs_unreachable(ctx, target, max(1, size // 4))
            if problem is not None:
                task.log.append(f"ERROR: Backup of VM {vmid} failed - {problem}")
                failed = True
                continue
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
            volid = f"{args['storage']}:backup/vm/{vmid}/{when}"
            suffix = ".pbs-vm"
            task.log.append(f"INFO: creating Proxmox Backup Server archive 'vm/{vmid}/{when}'")
        else:
            volid = f"{args['storage']}:backup/vzdump-qemu-{vmid}-{stamp}{suffix}"
            task.log.append(f"INFO: creating vzdump archive '{volid}'")
        guest = {k: v for k, v in vm.guest.items() if k not in ("agent-exec", "etcd")}
        guest.update(ctx.guest.backup_extras(vm))
        meta: dict[str, Any] = {
            "config": {k: v for k, v in vm.config.items() if k != "lock"},
            "disk_bytes": size,
            "guest": copy.deepcopy(guest),
        }
        notes = _notes(ctx, task, vm.vmid, args.get("notes"))
        if notes is not None:
            task.log.append("INFO: adding notes to backup")
            meta["notes"] = notes
        if args.get("protected"):
            meta["protected"] = True
        if target is not None and target.pbs and target.pbs.get("encryption-key"):
            meta["encrypted"] = target.pbs["encryption-key"]
        add_volume(
            ctx,
            Volume(
                volid=volid,
                storage=args["storage"],
                node=task.node,
                content="backup",
                size=max(1, size // 4),
                format=suffix.lstrip("."),
                vmid=vmid,
                ctime=moment,
                meta=meta,
            ),
        )
        if args.get("prune") and args.get("remove", True):
            keep = parse_prune(args["prune"])
            task.log.append(f"INFO: prune older backups with retention: {args['prune']}")
            removed = prune_guest(ctx, args["storage"], vmid, keep)
            task.log += [f"INFO: removing backup '{v}'" for v in removed]
            task.log.append(f"INFO: pruned {len(removed)} backup(s)")
        took = int(latency.vzdump(size))
        task.log.append(
            f"INFO: Finished Backup of VM {vmid} "
            f"({took // 3600:02d}:{took // 60 % 60:02d}:{took % 60:02d})"
        )
    if failed:
        task.log.append("INFO: Backup job finished with errors")
        raise TaskFailed("job errors")
    task.log.append("INFO: Backup job finished successfully")


def _notes(ctx: Ctx, task: Task, vmid: int, template: object) -> str | None:
    """vzdump's notes-template: {{cluster}}, {{guestname}}, {{node}}, {{vmid}}; \\n and \\\\."""
    if not template:
        return None
    vm = ctx.state.vms[vmid]
    values = {
        "cluster": ctx.state.clustername if len(ctx.state.nodes) > 1 else "standalone node",
        "guestname": str(vm.config.get("name") or f"VM {vmid}"),
        "node": task.node,
        "vmid": str(vmid),
    }
    text = str(template)
    unknown = sorted(set(re.findall(r"\{\{([^}]*)\}\}", text)) - set(values))
    if unknown:
        task.log.append(f"WARN: unable to add notes - found unknown: {', '.join(unknown)}")
        return None
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text.replace("\\n", "\n").replace("\\\\", "\\")


_OBJECT_KEYS = ("prune-backups", "fleecing", "performance")


def _job_view(job: BackupJob, now: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": job.id, "type": "vzdump", "enabled": 1, **job.settings}
    for key in _OBJECT_KEYS:  # JobBase::decode_value: property strings come back as objects
        if isinstance(out.get(key), str):
            out[key] = dict(item.split("=", 1) for item in split_list(out[key]) if "=" in item)
    if now is not None:  # only the list shows it
        found = next_run(job, now)
        if found is not None:
            out["next-run"] = found
    return out


def _job(ctx: Ctx, job_id: str) -> BackupJob:
    job = ctx.state.backup_jobs.get(job_id)
    if job is None:
        raise param_fail({"id": f"No such job '{job_id}'"})
    return job


def _check_schedule(settings: dict[str, Any]) -> None:
    if "schedule" not in settings and "starttime" not in settings:
        raise ApiError(400, "neither 'starttime' nor 'schedule' were set")
    if "schedule" in settings and "starttime" in settings:
        raise ApiError(400, "'starttime' and 'schedule' cannot both be set")


def job_list(ctx: Ctx, p: dict[str, Any]) -> Any:
    jobs = sorted(ctx.state.backup_jobs.values(), key=lambda j: j.id)
    return [_job_view(job, ctx.now()) for job in jobs]


def job_create(ctx: Ctx, p: dict[str, Any]) -> None:
    job_id = str(p.get("id") or uuid.uuid4())  # API2/Backup.pm: a bare UUID
    if job_id in ctx.state.backup_jobs:
        raise fail(f"Job '{job_id}' already exists")
    settings = {k: to_config_value(v) for k, v in p.items() if k not in _NOT_JOB}
    _check_schedule(settings)
    if "storage" in settings:
        check_storage(ctx, ctx.state.nodes[0].node, str(settings["storage"]), "backup")
    ctx.state.backup_jobs[job_id] = BackupJob(id=job_id, settings=settings, last_run=ctx.now())
    ctx.changed = True


def job_read(ctx: Ctx, p: dict[str, Any]) -> Any:
    return _job_view(_job(ctx, str(p["id"])))


def job_update(ctx: Ctx, p: dict[str, Any]) -> None:
    job = _job(ctx, str(p["id"]))
    settings = dict(job.settings)
    settings.update({k: to_config_value(v) for k, v in p.items() if k not in _NOT_JOB})
    for key in split_list(p.get("delete")):
        settings.pop(key, None)
    _check_schedule(settings)
    job.settings = settings
    ctx.changed = True


def job_delete(ctx: Ctx, p: dict[str, Any]) -> None:
    _job(ctx, str(p["id"]))
    del ctx.state.backup_jobs[str(p["id"])]
    ctx.changed = True


ROUTES = {
    ("POST", "/nodes/{node}/vzdump"): vzdump,
    ("GET", "/cluster/backup"): job_list,
    ("POST", "/cluster/backup"): job_create,
    ("GET", "/cluster/backup/{id}"): job_read,
    ("PUT", "/cluster/backup/{id}"): job_update,
    ("DELETE", "/cluster/backup/{id}"): job_delete,
}
