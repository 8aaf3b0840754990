"""POST /nodes/{node}/qemu/{vmid}/clone: linked and full clones (qemu-server's clone_vm).

See qemu.py's docstring for the flock model. Synchronous refusals (HTTP 500) and task-time
failures follow BEHAVIOUR §7-8: an existing VMID on the same node is refused at once, one on
another node makes the task fail when it renames the config into place.
"""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

from homelab_sim.pve import drives, latency, qemu_perms
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail, param_fail
from homelab_sim.pve.qemu import DROP_ON_CLONE, drop_vm, join_pool, new_mac, new_vm
from homelab_sim.pve.qemu_config import check_lock
from homelab_sim.pve.state import FlockHold, Task, Vm
from homelab_sim.pve.tasks import TaskFailed, acquire_flock, completion, start_task
from homelab_sim.pve.volumes import alloc_disk, check_storage, find_volume

_NET = re.compile(r"^net\d+$")


def clone_vm(ctx: Ctx, p: dict[str, Any]) -> Any:
    source = ctx.vm(p["node"], p["vmid"])
    newid = int(p["newid"])
    full = bool(p["full"]) if "full" in p else not source.is_template()
    target = str(p.get("target") or source.node)
    qemu_perms.check_clone_storage(ctx, source, p.get("storage"))
    _check_clone(ctx, source, newid, full, target, p)
    wait = acquire_flock(
        ctx,
        source.vmid,
        shared=not full and source.status != "running",
        wait=latency.CLONE_LOCK_WAIT,
    )
    wait += acquire_flock(ctx, newid, shared=False, wait=latency.CLONE_LOCK_WAIT)
    elsewhere = ctx.state.vms.get(newid) or ctx.state.containers.get(newid)
    log: list[str] = []
    clone = None
    if elsewhere is None:
        clone = new_vm(ctx, newid, source.node, _clone_config(source, p, ctx.rng))
        clone.config["lock"] = "clone"
        size = _clone_disks(ctx, source, clone, full, p.get("storage"), log)
    else:
        size = 0
    duration = (latency.full_clone(size) if full else latency.LINKED_CLONE) + wait
    upid = start_task(
        ctx,
        node=source.node,
        kind="qmclone",
        task_id=str(source.vmid),
        duration=duration,
        done="qmclone",
        args={"newid": newid, "target": target, "pool": p.get("pool")},
        log=log,
        flocks=[
            FlockHold(vmid=source.vmid, shared=not full and source.status != "running"),
            FlockHold(vmid=newid, shared=False),
        ],
    )
    if clone is None and elsewhere is not None:
        task = next(t for t in ctx.state.tasks if t.upid == upid)
        task.fail = (
            "clone failed: close (rename) atomic file "
            f"'/etc/pve/nodes/{source.node}/qemu-server/{newid}.conf' failed: File exists"
        )
    return upid


def _check_clone(
    ctx: Ctx, source: Vm, newid: int, full: bool, target: str, p: dict[str, Any]
) -> None:
    """qemu-server's ``clone_vm`` checks, in its order and with its texts (BEHAVIOUR-DAY2 §6):
    a clone to another node (``target``) must leave nothing behind, so the target storage must
    be shared and so must every volume of the source (disks, CD-ROM ISOs, cloud-init drive)."""
    elsewhere = target != source.node
    if "pool" in p and p["pool"] not in ctx.state.pools:
        raise fail(f"pool '{p['pool']}' does not exist")
    if elsewhere and ctx.state.node(target) is None:
        raise fail(f"no such cluster node '{target}'")
    if "storage" in p:
        sid = str(p["storage"])
        storage = check_storage(ctx, source.node, sid)
        if "images" not in storage.content:
            raise param_fail({"storage": f"storage '{sid}' does not support vm images"})
        if elsewhere:
            check_storage(ctx, target, sid)
            if not storage.shared:
                raise fail(f"can't clone to non-shared storage '{sid}'")
    check_lock(source, False)
    if "snapname" in p:
        raise fail(f"snapshot '{p['snapname']}' does not exist")
    if not full:
        for option in ("storage", "format"):
            if option in p:
                raise fail(f"parameter '{option}' not allowed for linked clones")
    if elsewhere and not _shared_vm(ctx, source):
        raise fail(f"can't clone VM to node '{target}' (VM uses local storage)")
    existing = ctx.state.vms.get(newid)
    if existing is not None and existing.node == source.node:
        raise fail(f"unable to create VM {newid}: config file already exists")
    for key, value in _disks(source):
        volid = drives.parse_drive(value)[0]
        store = ctx.state.storage(drives.split_volid(volid)[0])
        if store is None:
            raise fail(f"storage '{drives.split_volid(volid)[0]}' does not exist")
        if not full and not (source.is_template() and store.can_link_clone()):
            raise fail(f"Linked clone feature is not supported for '{volid}' ({key})")


def _shared_vm(ctx: Ctx, vm: Vm) -> bool:
    """``$check_storage_access_clone``: every volume (CD-ROMs and cloud-init included, not
    ``none`` or the host's ``cdrom``) is on a shared storage."""
    for key, value in vm.config.items():
        if not isinstance(value, str) or not drives.is_drive_key(key):
            continue
        volid = drives.parse_drive(value)[0]
        if volid in {"", "none", "cdrom"} or ":" not in volid:
            continue
        storage = ctx.state.storage(drives.split_volid(volid)[0])
        if storage is None or not storage.shared:
            return False
    return True


def _disks(vm: Vm) -> list[tuple[str, str]]:
    return [
        (key, value)
        for key, value in vm.config.items()
        if isinstance(value, str) and drives.is_disk(key, value)
    ]


def _clone_config(source: Vm, p: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, value in source.config.items():
        if key in DROP_ON_CLONE or drives.UNUSED_KEY.match(key):
            continue
        if _NET.match(key) and isinstance(value, str):
            model, _, rest = value.partition(",")
            name = model.split("=", 1)[0]
            value = f"{name}={new_mac(rng)}" + (f",{rest}" if rest else "")
        config[key] = value
    if "smbios1" in config:
        others = [x for x in str(config["smbios1"]).split(",") if not x.startswith("uuid=")]
        config["smbios1"] = ",".join([f"uuid={uuid.uuid4()}", *others])
    if "vmgenid" in config:
        config["vmgenid"] = str(uuid.uuid4())
    config["name"] = p.get("name") or f"Copy-of-VM-{source.config.get('name', source.vmid)}"
    if "description" in p:
        config["description"] = p["description"]
    return config


def _clone_disks(ctx: Ctx, source: Vm, clone: Vm, full: bool, storage: Any, log: list[str]) -> int:
    """Allocate the clone's volumes now (they take space while copying); return bytes to copy."""
    total = 0
    for key, value in list(clone.config.items()):
        if not isinstance(value, str) or not drives.is_drive_key(key):
            continue
        volid, opts = drives.parse_drive(value)
        if drives.is_cloudinit(volid):  # always copied, onto ``storage`` when given
            store = str(storage) if full and storage else drives.split_volid(volid)[0]
            vol = alloc_disk(ctx, source.node, store, clone.vmid, 4 * 1024**2, kind="cloudinit")
            clone.config[key] = drives.print_drive(vol.volid, opts)
            continue
        if not drives.is_disk(key, value):
            continue
        src = find_volume(ctx, source.node, volid)
        size = src.size if src else drives.parse_size(opts.get("size", "0"))[1]
        store = str(storage) if full and storage else drives.split_volid(volid)[0]
        vol = alloc_disk(ctx, source.node, store, clone.vmid, size, base=None if full else volid)
        clone.config[key] = drives.print_drive(vol.volid, opts)
        kind = "full" if full else "linked"
        log.append(f"create {kind} clone of drive {key} ({volid})")
        log.append(f'  Logical volume "{drives.split_volid(vol.volid)[1]}" created.')
        total += size
    return total


@completion("qmclone")
def _clone_done(ctx: Ctx, task: Task, error: str | None) -> None:
    clone = ctx.state.vms.get(int(task.args["newid"]))
    source_node = task.node
    if clone is None or clone.node != source_node or clone.lock() != "clone":
        return
    if error is not None:
        drop_vm(ctx, clone)
        return
    target = str(task.args["target"])
    clone.config.pop("lock", None)
    if target != clone.node:
        for volume in ctx.state.volumes.values():
            if volume.vmid == clone.vmid and volume.node == clone.node:
                storage = ctx.state.storage(volume.storage)
                if storage is None or not storage.shared:
                    raise TaskFailed(f"can't clone VM to node '{target}' (VM uses local storage)")
        clone.node = target
    if task.args.get("pool"):
        join_pool(ctx, clone, str(task.args["pool"]))
    ctx.changed = True


ROUTES = {
    ("POST", "/nodes/{node}/qemu/{vmid}/clone"): clone_vm,
}
