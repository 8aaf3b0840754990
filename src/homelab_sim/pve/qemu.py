"""VMs as a whole: list, create, clone, template, destroy (qemu-server's API2/Qemu.pm).

Clone model (BEHAVIOUR §6-7): a linked clone (the default from a template) holds a *shared*
flock on its source; a full clone holds an *exclusive* one for the whole copy, because it
streams every source volume off the source storage. So a second full clone of one source while
one runs waits its 1 s clone timeout and fails with ``can't lock file
'/var/lock/qemu-server/lock-<source>.conf' - got timeout``, the contention users hit when they
start several full clones of one template on one storage at once. The new VM's config exists
from the start with ``lock: clone`` and loses the lock when the task ends.
"""

from __future__ import annotations

import copy
import random
import uuid
from typing import Any

from homelab_sim.pve import drives, latency
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import ApiError, fail, param_fail
from homelab_sim.pve.qemu_config import (
    NOT_CONFIG,
    check_lock,
    check_skiplock,
    to_config_value,
    update_config,
)
from homelab_sim.pve.qemu_power import boot_vm
from homelab_sim.pve.state import FlockHold, Task, Vm
from homelab_sim.pve.tasks import TaskFailed, acquire_flock, completion, start_task
from homelab_sim.pve.volumes import add_volume, alloc_disk, boot_disk_size, find_volume, free_volume

CREATE_ONLY = {"pool", "storage", "start", "archive", "force", "unique", "live-restore", "bwlimit"}
DROP_ON_CLONE = {
    "template",
    "parent",
    "snaptime",
    "vmstate",
    "runningcpu",
    "runningmachine",
    "lock",
}


def new_mac(rng: random.Random) -> str:
    """A MAC in Proxmox's OUI (BC:24:11), as PVE 8 generates them."""
    return "BC:24:11:" + ":".join(f"{rng.randrange(256):02X}" for _ in range(3))


def new_vm(ctx: Ctx, vmid: int, node: str, config: dict[str, Any]) -> Vm:
    now = ctx.now()
    vm = Vm(vmid=vmid, node=node, config=config, created_at=now, status_since=now)
    ctx.state.vms[vmid] = vm
    ctx.changed = True
    return vm


def vm_list(ctx: Ctx, p: dict[str, Any]) -> Any:
    ctx.node(p["node"])
    now = ctx.now()
    return [
        vm_summary(vm, now, boot_disk_size(ctx, vm))
        for vm in sorted(ctx.state.vms.values(), key=lambda v: v.vmid)
        if vm.node == p["node"] and ctx.can(f"/vms/{vm.vmid}", "VM.Audit")
    ]


def vm_summary(vm: Vm, now: float, maxdisk: int) -> dict[str, Any]:
    running = vm.status == "running"
    item: dict[str, Any] = {
        "vmid": vm.vmid,
        "name": vm.name(),
        "status": vm.status,
        "cpus": vm.vcpus(),
        "maxmem": vm.memory_bytes(),
        "mem": vm.memory_bytes() // 3 if running else 0,
        "cpu": 0.02 if running else 0,
        "maxdisk": maxdisk,
        "disk": 0,
        "uptime": int(now - (vm.started_at or now)) if running else 0,
        "netin": 0,
        "netout": 0,
        "diskread": 0,
        "diskwrite": 0,
    }
    if running:
        item["pid"] = 10000 + vm.vmid
        item["qmpstatus"] = "running"
    if vm.is_template():
        item["template"] = 1
    if vm.lock() is not None:
        item["lock"] = vm.lock()
    if "tags" in vm.config:
        item["tags"] = vm.config["tags"]
    return item


def create_vm(ctx: Ctx, p: dict[str, Any]) -> Any:
    node, vmid = p["node"], int(p["vmid"])
    ctx.node(node)
    existing = ctx.state.vms.get(vmid)
    over_own = bool(p.get("archive") and p.get("force") and existing is not None)
    if not (
        ctx.can(f"/vms/{vmid}", "VM.Allocate")
        or ("pool" in p and ctx.can(f"/pool/{p['pool']}", "VM.Allocate"))
        or (over_own and ctx.can(f"/vms/{vmid}", "VM.Backup"))
    ):
        raise _deny(f"/vms/{vmid}", "VM.Allocate")
    if existing is not None and not p.get("archive"):
        raise fail(
            f"unable to create VM {vmid} - VM {vmid} already exists on node '{existing.node}'"
        )
    container = ctx.state.containers.get(vmid)
    if container is not None:  # PVE::Cluster::check_vmid_unused: the VMID list has both
        raise fail(
            f"unable to create VM {vmid} - CT {vmid} already exists on node '{container.node}'"
        )
    if "pool" in p and p["pool"] not in ctx.state.pools:
        raise fail(f"pool '{p['pool']}' does not exist")
    wait = acquire_flock(ctx, vmid, shared=False, wait=5.0)
    if p.get("archive"):
        return _restore(ctx, node, vmid, p, wait)
    vm = new_vm(ctx, vmid, node, {})
    settings = {k: v for k, v in p.items() if k not in NOT_CONFIG | CREATE_ONLY}
    storage = p.get("storage")
    for key, value in list(settings.items()):
        if (
            storage
            and drives.is_drive_key(key)
            and str(value).split(",")[0].replace(".", "").isdigit()
        ):
            settings[key] = f"{storage}:{value}"
    log: list[str] = []
    try:
        update_config(ctx, vm, {"vmid": vmid, "node": node, **settings}, log)
    except Exception:
        drop_vm(ctx, vm)
        raise
    vm.config.setdefault("smbios1", f"uuid={uuid.uuid4()}")
    vm.config.setdefault("vmgenid", str(uuid.uuid4()))
    vm.config["lock"] = "create"
    return start_task(
        ctx,
        node=node,
        kind="qmcreate",
        task_id=str(vmid),
        duration=latency.CREATE + wait,
        done="qmcreate",
        args={"vmid": vmid, "pool": p.get("pool"), "start": bool(p.get("start"))},
        log=log,
        flocks=[FlockHold(vmid=vmid, shared=False)],
    )


def _restore(ctx: Ctx, node: str, vmid: int, p: dict[str, Any], wait: float) -> str:
    """qemu-server ``create_vm`` with ``archive`` (BEHAVIOUR-DAY2 section 4): a disk key beside
    ``archive`` is a 400; an existing VM needs ``force`` (then ``VM.Backup`` on it will do in place
    of ``VM.Allocate``); a running or protected one fails the task, leaving it as it was. The
    restored VM has the backup's config (its disks made anew on ``storage``), a new ``vmgenid``,
    with ``unique`` new MACs and a new SMBIOS uuid, and the guest's disk state of the backup."""
    conflicts = {
        key: "option conflicts with option 'archive'" for key in p if drives.is_drive_key(key)
    }
    if conflicts:
        raise param_fail(conflicts)
    backup = find_volume(ctx, node, str(p["archive"]))
    if backup is None or backup.content != "backup":
        raise fail(f"volume '{p['archive']}' does not exist")
    existing = ctx.state.vms.get(vmid)
    if existing is not None and not p.get("force"):
        raise fail(
            f"unable to restore VM {vmid} - VM {vmid} already exists on node '{existing.node}'"
        )
    problem = None
    if existing is not None:
        if existing.status == "running":
            problem = f"unable to restore VM {vmid} - vm is running"
        elif int(existing.config.get("protection", 0) or 0):
            problem = f"unable to restore VM {vmid} - - protection mode enabled"
        else:
            drop_vm(ctx, existing)
    if problem is not None:
        upid = start_task(
            ctx, node=node, kind="qmrestore", task_id=str(vmid), duration=wait + 1, done=""
        )
        next(t for t in ctx.state.tasks if t.upid == upid).fail = problem
        return upid
    if backup.meta.get("corrupt"):  # a damaged archive: the task fails, nothing is made **[unc]**
        upid = start_task(
            ctx, node=node, kind="qmrestore", task_id=str(vmid), duration=wait + 5, done=""
        )
        next(t for t in ctx.state.tasks if t.upid == upid).fail = (
            f"unable to restore VM {vmid} - command 'zstd -q -d -c {backup.volid}' failed: "
            "Data corruption detected"
        )
        return upid
    config = {k: to_config_value(v) for k, v in dict(backup.meta.get("config", {})).items()}
    config.pop("lock", None)
    storage = str(p.get("storage") or "local-lvm")
    vm = new_vm(ctx, vmid, node, {})
    for key, value in config.items():
        if isinstance(value, str) and drives.is_disk(key, value):
            opts = drives.parse_drive(value)[1]
            size = drives.parse_size(opts.get("size", "0"))[1]
            vol = alloc_disk(ctx, node, storage, vmid, size)
            value = drives.print_drive(vol.volid, opts)
        if p.get("unique") and key.startswith("net") and isinstance(value, str):
            value = _new_mac(value)
        vm.config[key] = value
    if p.get("unique") or "smbios1" not in vm.config:
        vm.config["smbios1"] = f"uuid={uuid.uuid4()}"
    vm.config["vmgenid"] = str(uuid.uuid4())
    vm.guest = {
        k: v for k, v in copy.deepcopy(backup.meta.get("guest", {})).items() if k != "agent-exec"
    }
    vm.config["lock"] = "create"
    return start_task(
        ctx,
        node=node,
        kind="qmrestore",
        task_id=str(vmid),
        duration=latency.vzdump(int(backup.meta.get("disk_bytes", 0))) + wait,
        done="qmcreate",
        args={"vmid": vmid, "pool": p.get("pool"), "start": bool(p.get("start"))},
        log=[f"restore vma archive: {backup.volid}"],
        flocks=[FlockHold(vmid=vmid, shared=False)],
    )


def _new_mac(net: str) -> str:
    """``virtio=AA:..,bridge=..`` with a new locally administered MAC (``unique``)."""
    model, sep, rest = net.partition(",")
    if "=" not in model:
        return net
    kind = model.split("=", 1)[0]
    octets = [0xBC, 0x24, 0x11, *(random.randint(0, 255) for _ in range(3))]  # noqa: S311
    mac = ":".join(f"{o:02X}" for o in octets)
    return f"{kind}={mac}{sep}{rest}"


@completion("qmcreate")
def _create_done(ctx: Ctx, task: Task, error: str | None) -> None:
    vm = ctx.state.vms.get(int(task.args["vmid"]))
    if vm is None:
        return
    if error is not None:
        drop_vm(ctx, vm)
        return
    vm.config.pop("lock", None)
    if task.args.get("pool"):
        join_pool(ctx, vm, str(task.args["pool"]))
    if task.args.get("start"):
        boot_vm(ctx, vm, task.log)


def join_pool(ctx: Ctx, vm: Vm, poolid: str) -> None:
    pool = ctx.state.pools.get(poolid)
    if pool is not None and vm.vmid not in pool.vms:
        pool.vms.append(vm.vmid)
        vm.pool = poolid


def drop_vm(ctx: Ctx, vm: Vm) -> None:
    for value in list(vm.config.values()) + list(vm.pending.values()):
        if isinstance(value, str) and ":" in value:
            volid = drives.parse_drive(value)[0]
            volume = find_volume(ctx, vm.node, volid)
            if volume is not None and volume.vmid == vm.vmid:
                free_volume(ctx, vm.node, volid)
    for pool in ctx.state.pools.values():
        if vm.vmid in pool.vms:
            pool.vms.remove(vm.vmid)
    ctx.state.vms.pop(vm.vmid, None)
    ctx.changed = True


def _deny(path: str, priv: str) -> ApiError:
    return ApiError(403, f"Permission check failed ({path}, {priv})")


def destroy_vm(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    skiplock = check_skiplock(ctx, p)
    if vm.status == "running":
        raise fail(f"VM {vm.vmid} is running - destroy failed")
    check_lock(vm, skiplock)
    if int(vm.config.get("protection", 0)):
        raise fail(f"can't remove VM {vm.vmid} - protection mode enabled")
    wait = acquire_flock(ctx, vm.vmid, shared=False, wait=latency.CONFIG_LOCK_WAIT)
    problem = _linked_clone_user(ctx, vm)
    if problem is None:
        vm.config["lock"] = "destroyed"
    upid = start_task(
        ctx,
        node=vm.node,
        kind="qmdestroy",
        task_id=str(vm.vmid),
        duration=latency.DESTROY + wait,
        done="qmdestroy",
        args={
            "vmid": vm.vmid,
            "purge": bool(p.get("purge")),
            "unreferenced": bool(p.get("destroy-unreferenced-disks")),
        },
        flocks=[FlockHold(vmid=vm.vmid, shared=False)],
    )
    if problem is not None:
        next(t for t in ctx.state.tasks if t.upid == upid).fail = problem
    return upid


def _linked_clone_user(ctx: Ctx, vm: Vm) -> str | None:
    """PVE refuses to free a base volume that linked clones still use."""
    own = {v.volid for v in ctx.state.volumes.values() if v.vmid == vm.vmid}
    for volume in ctx.state.volumes.values():
        if volume.base in own:
            return f"base volume '{volume.base}' is still in use by linked cloned"
    return None


@completion("qmdestroy")
def _destroy_done(ctx: Ctx, task: Task, error: str | None) -> None:
    vm = ctx.state.vms.get(int(task.args["vmid"]))
    if vm is None or error is not None:
        if vm is not None and vm.lock() == "destroyed":
            vm.config.pop("lock", None)
        return
    node = vm.node
    ctx.guest.on_destroy(vm)
    drop_vm(ctx, vm)
    if task.args.get("unreferenced"):
        for key, volume in list(ctx.state.volumes.items()):
            if volume.vmid == vm.vmid and volume.node == node and volume.content == "images":
                ctx.state.volumes.pop(key)
    if task.args.get("purge"):
        _purge_jobs(ctx, vm.vmid)
    task.log.append(f"purging VM {vm.vmid} from related configurations..")


def _purge_jobs(ctx: Ctx, vmid: int) -> None:
    for job in ctx.state.backup_jobs.values():
        ids = [v for v in str(job.settings.get("vmid", "")).split(",") if v]
        if str(vmid) in ids:
            ids.remove(str(vmid))
            job.settings["vmid"] = ",".join(ids)
            if not ids:
                job.settings.pop("vmid")


def make_template(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    if vm.status == "running":
        raise fail("you can't convert a VM to template if VM is running")
    if vm.is_template():
        raise fail("you can't convert a template to a template")
    check_lock(vm, False)
    wait = acquire_flock(ctx, vm.vmid, shared=False, wait=latency.CONFIG_LOCK_WAIT)
    return start_task(
        ctx,
        node=vm.node,
        kind="qmtemplate",
        task_id=str(vm.vmid),
        duration=latency.TEMPLATE + wait,
        done="qmtemplate",
        args={"vmid": vm.vmid, "disk": p.get("disk")},
        flocks=[FlockHold(vmid=vm.vmid, shared=False)],
    )


@completion("qmtemplate")
def _template_done(ctx: Ctx, task: Task, error: str | None) -> None:
    vm = ctx.state.vms.get(int(task.args["vmid"]))
    if vm is None or error is not None:
        return
    if vm.status == "running":
        raise TaskFailed("you can't convert a VM to template if VM is running")
    only = task.args.get("disk")
    for key, value in list(vm.config.items()):
        if not isinstance(value, str) or not drives.is_disk(key, value) or only not in {None, key}:
            continue
        volid, opts = drives.parse_drive(value)
        volume = find_volume(ctx, vm.node, volid)
        if volume is None or "/base-" in volid or ":base-" in volid:
            continue
        new_volid = volid.replace(f"vm-{vm.vmid}-disk", f"base-{vm.vmid}-disk")
        free_volume(ctx, vm.node, volid)
        add_volume(ctx, volume.model_copy(update={"volid": new_volid}))
        vm.config[key] = drives.print_drive(new_volid, opts)
        task.log.append(f'  Renamed "{volid}" to "{new_volid}"')
    vm.config["template"] = 1


ROUTES = {
    ("GET", "/nodes/{node}/qemu"): vm_list,
    ("POST", "/nodes/{node}/qemu"): create_vm,
    ("DELETE", "/nodes/{node}/qemu/{vmid}"): destroy_vm,
    ("POST", "/nodes/{node}/qemu/{vmid}/template"): make_template,
}
