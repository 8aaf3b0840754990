"""Backups: POST /nodes/{node}/vzdump and the /cluster/backup job schedule (CRUD).

A vzdump task locks each guest (``lock: backup``) while it runs and leaves a
``vzdump-qemu-<vmid>-<YYYY_MM_DD-HH_MM_SS>.vma.zst`` volume (content ``backup``) holding the
guest's config, which POST /qemu ``archive=`` restores.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from homelab_sim.pve import latency
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import ApiError, fail, param_fail
from homelab_sim.pve.qemu_config import split_list, to_config_value
from homelab_sim.pve.state import BackupJob, Task, Volume
from homelab_sim.pve.tasks import completion, start_task
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
    size = sum(boot_disk_size(ctx, ctx.state.vms[v]) for v in vmids)
    locked = []
    for vmid in vmids:
        vm = ctx.state.vms[vmid]
        if vm.lock() is None:
            vm.config["lock"] = "backup"
            locked.append(vmid)
    cmd = " ".join(["vzdump", *map(str, vmids), "--storage", storage.storage])
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
            "storage": storage.storage,
            "mode": p.get("mode", "snapshot"),
            "compress": str(p.get("compress", "zstd")),
        },
        log=[f"INFO: starting new backup job: {cmd}"],
    )


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
    stamp = time.strftime("%Y_%m_%d-%H_%M_%S", time.gmtime(ctx.now()))
    for vmid in args["vmids"]:
        vm = ctx.state.vms.get(vmid)
        if vm is None:
            task.log.append(f"ERROR: Backup of VM {vmid} failed - VM does not exist")
            continue
        suffix = ".vma.zst" if args["compress"] in {"zstd", "1"} else ".vma"
        volid = f"{args['storage']}:backup/vzdump-qemu-{vmid}-{stamp}{suffix}"
        size = boot_disk_size(ctx, vm)
        add_volume(
            ctx,
            Volume(
                volid=volid,
                storage=args["storage"],
                node=task.node,
                content="backup",
                size=max(1, size // 4),
                format="vma.zst" if suffix == ".vma.zst" else "vma",
                vmid=vmid,
                ctime=int(ctx.now()),
                meta={"config": dict(vm.config), "disk_bytes": size},
            ),
        )
        task.log += [
            f"INFO: Starting Backup of VM {vmid} (qemu)",
            f"INFO: creating vzdump archive '{volid}'",
            f"INFO: Finished Backup of VM {vmid}",
        ]
    task.log.append("INFO: Backup job finished successfully")


def _job_view(job: BackupJob) -> dict[str, Any]:
    out: dict[str, Any] = {"id": job.id, "type": "vzdump", "enabled": 1, **job.settings}
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
    return [_job_view(job) for job in sorted(ctx.state.backup_jobs.values(), key=lambda j: j.id)]


def job_create(ctx: Ctx, p: dict[str, Any]) -> None:
    job_id = str(p.get("id") or f"backup-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:4]}")
    if job_id in ctx.state.backup_jobs:
        raise fail(f"Job '{job_id}' already exists")
    settings = {k: to_config_value(v) for k, v in p.items() if k not in _NOT_JOB}
    _check_schedule(settings)
    if "storage" in settings:
        check_storage(ctx, ctx.state.nodes[0].node, str(settings["storage"]), "backup")
    ctx.state.backup_jobs[job_id] = BackupJob(id=job_id, settings=settings)
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
