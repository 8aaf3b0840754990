"""Snapshots: /nodes/{node}/qemu/{vmid}/snapshot[/{snapname}[/config|/rollback]].

As qemu-server (``API2/Qemu.pm``, ``QemuConfig.pm``) and pve-guest-common
(``AbstractConfig.pm``) do them (BEHAVIOUR-DAY2 §2):

- names: the schema checks ``pve-configid`` and 40 characters (400); ``current`` and
  ``pending`` are refused before any task (500 ``unable to use snapshot name 'current'
  (reserved name)``);
- create (``qmsnapshot``): the VM is locked ``snapshot`` and the new entry carries
  ``snapstate: prepare`` while the task runs; the task fails with ``you can't take a snapshot
  if it's a template``, ``VM is locked (<lock>)``, ``snapshot name '<n>' already used`` or
  ``snapshot feature is not available`` (a disk, CD-ROMs and the cloud-init drive aside, on a
  storage without snapshots: lvmthin, zfspool and rbd have them, dir/nfs/cifs only for qcow2);
  ``vmstate`` is ignored on a stopped VM, and on a running one saves the RAM in
  ``vm-<vmid>-state-<snap>`` (2 x RAM + 500 MiB) on the VM's first disk's storage;
- the snapshot keeps the config as it was (without ``description``, ``lock``, ``digest``,
  ``unused*``), with ``snaptime``, ``description``, ``vmstate`` and ``parent``; the VM's
  ``parent`` becomes the new snapshot;
- list: each snapshot ``{name, snaptime, vmstate, description, parent?, snapstate?}``, then
  ``{name: current, digest, running, description: "You are here!", parent?}``;
- rollback (``qmrollback``, lock ``rollback``): a running VM is stopped hard, the config comes
  back with a new ``vmgenid``, a RAM snapshot resumes running, ``start=1`` starts a VM that is
  not running; ``unable to rollback to incomplete snapshot (snapstate = <s>)``;
- delete (``qmdelsnapshot``, lock ``snapshot-delete``, ``snapstate: delete``): its children and
  the VM now hang off its parent; its RAM state volume is freed.
"""

from __future__ import annotations

import uuid
from typing import Any

from homelab_sim.pve import drives
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail, locked_text
from homelab_sim.pve.qemu_power import boot_vm, set_status
from homelab_sim.pve.state import ConfigValue, FlockHold, Task, Vm, Volume, config_digest
from homelab_sim.pve.tasks import TaskFailed, acquire_flock, completion, start_task
from homelab_sim.pve.volumes import add_volume, free_volume

RESERVED = ("current", "pending")
SNAPSHOT_TIME = 2.0
ROLLBACK_TIME = 3.0
DELETE_TIME = 1.0
MIB = 1024**2
_NOT_COPIED = ("lock", "digest", "description", "parent", "snapstate", "snaptime", "vmstate")
_WITH_SNAPSHOTS = frozenset({"lvmthin", "zfspool", "rbd"})
_QCOW2_ONLY = frozenset({"dir", "nfs", "cifs", "glusterfs", "cephfs"})


def _snapshot(vm: Vm, name: str) -> dict[str, ConfigValue]:
    snap = vm.snapshots.get(name)
    if snap is None:
        raise fail(f"snapshot '{name}' does not exist")
    return snap


def _copy_config(config: dict[str, ConfigValue]) -> dict[str, ConfigValue]:
    return {
        key: value
        for key, value in config.items()
        if key not in _NOT_COPIED and not drives.UNUSED_KEY.match(key)
    }


def _can_snapshot(ctx: Ctx, vm: Vm) -> bool:
    """Whether every disk (CD-ROMs and the cloud-init drive aside) supports snapshots."""
    for key, value in vm.config.items():
        if not drives.is_drive_key(key) or drives.is_cdrom(str(value)):
            continue
        volume, _ = drives.parse_drive(str(value))
        if drives.is_cloudinit(volume) or ":" not in volume:
            continue
        storage = ctx.state.storage(volume.split(":", 1)[0])
        if storage is None:
            continue
        if storage.type in _WITH_SNAPSHOTS:
            continue
        if storage.type in _QCOW2_ONLY and volume.endswith(".qcow2"):
            continue
        return False
    return True


def snapshot_list(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    out: list[dict[str, Any]] = []
    for name, snap in vm.snapshots.items():
        entry: dict[str, Any] = {
            "name": name,
            "snaptime": int(snap.get("snaptime", 0)),
            "vmstate": 1 if snap.get("vmstate") else 0,
            "description": str(snap.get("description", "")),
        }
        for key in ("parent", "snapstate"):
            if key in snap:
                entry[key] = snap[key]
        out.append(entry)
    current: dict[str, Any] = {
        "name": "current",
        "digest": config_digest(vm),
        "running": 1 if vm.status == "running" else 0,
        "description": "You are here!",
    }
    if "parent" in vm.config:
        current["parent"] = vm.config["parent"]
    out.append(current)
    return out


def snapshot_create(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    name = str(p["snapname"])
    if name.lower() in RESERVED:
        raise fail(f"unable to use snapshot name '{name}' (reserved name)")
    wait = acquire_flock(ctx, vm.vmid, shared=False, wait=10.0)
    error = _prepare_error(ctx, vm, name)
    vmstate = bool(p.get("vmstate")) and vm.status == "running"
    if error is None:
        vm.config["lock"] = "snapshot"
        snap = _copy_config(vm.config)
        snap.update(snapstate="prepare", snaptime=int(ctx.now()))
        snap["description"] = str(p.get("description", ""))
        if vmstate:
            snap["vmstate"] = 1
        if "parent" in vm.config:
            snap["parent"] = vm.config["parent"]
        vm.snapshots[name] = snap
        ctx.changed = True
    upid = start_task(
        ctx,
        node=vm.node,
        kind="qmsnapshot",
        task_id=str(vm.vmid),
        duration=SNAPSHOT_TIME + wait + (2.0 if vmstate else 0.0),
        done="qmsnapshot",
        args={"vmid": vm.vmid, "snapname": name, "error": error},
        flocks=[FlockHold(vmid=vm.vmid, shared=False)],
    )
    return upid


def _prepare_error(ctx: Ctx, vm: Vm, name: str) -> str | None:
    if vm.is_template():
        return "you can't take a snapshot if it's a template"
    lock = vm.lock()
    if lock:
        return locked_text(lock)
    if name in vm.snapshots:
        return f"snapshot name '{name}' already used"
    if not _can_snapshot(ctx, vm):
        return "snapshot feature is not available"
    return None


def _task_vm(ctx: Ctx, task: Task) -> Vm | None:
    return ctx.state.vms.get(int(task.args["vmid"]))


@completion("qmsnapshot")
def _snapshot_done(ctx: Ctx, task: Task, error: str | None) -> None:
    prepared = task.args.get("error")
    vm = _task_vm(ctx, task)
    name = str(task.args["snapname"])
    if prepared:
        raise TaskFailed(str(prepared))
    if vm is None:
        return
    snap = vm.snapshots.get(name)
    vm.config.pop("lock", None)
    if error is not None or snap is None:
        vm.snapshots.pop(name, None)
        return
    snap.pop("snapstate", None)
    if snap.get("vmstate"):
        _save_vmstate(ctx, vm, name, task)
    vm.config["parent"] = name


def _state_volid(ctx: Ctx, vm: Vm, name: str) -> tuple[str, str]:
    """Where the RAM state goes: the storage of the VM's first disk, else ``local``."""
    for key, value in vm.config.items():
        if drives.is_disk(key, str(value)):
            volume, _ = drives.parse_drive(str(value))
            storage = ctx.state.storage(volume.split(":", 1)[0])
            if storage is not None and "images" in storage.content:
                if storage.path:
                    return (
                        storage.storage,
                        f"{storage.storage}:{vm.vmid}/vm-{vm.vmid}-state-{name}.raw",
                    )
                return storage.storage, f"{storage.storage}:vm-{vm.vmid}-state-{name}"
    return "local", f"local:{vm.vmid}/vm-{vm.vmid}-state-{name}.raw"


def _save_vmstate(ctx: Ctx, vm: Vm, name: str, task: Task) -> None:
    storage, volid = _state_volid(ctx, vm, name)
    size = 2 * vm.memory_bytes() + 500 * MIB
    add_volume(
        ctx,
        Volume(
            volid=volid,
            storage=storage,
            node=vm.node,
            content="images",
            size=size,
            vmid=vm.vmid,
            ctime=int(ctx.now()),
        ),
    )
    vm.snapshots[name]["vmstate"] = volid
    task.log.append(f"saving VM state and RAM using storage '{storage}'")


def snapshot_index(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    _snapshot(vm, str(p["snapname"]))
    return [{"cmd": "rollback"}, {"cmd": "config"}]


def snapshot_config(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    return dict(_snapshot(vm, str(p["snapname"])))


def snapshot_update(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    snap = _snapshot(vm, str(p["snapname"]))
    if "description" in p:
        snap["description"] = str(p["description"])
        ctx.changed = True
    return None


def snapshot_rollback(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    name = str(p["snapname"])
    wait = acquire_flock(ctx, vm.vmid, shared=False, wait=10.0)
    snap = vm.snapshots.get(name)
    error = None
    if snap is None:
        error = f"snapshot '{name}' does not exist"
    elif vm.lock():
        error = locked_text(str(vm.lock()))
    elif "snapstate" in snap:
        error = f"unable to rollback to incomplete snapshot (snapstate = {snap['snapstate']})"
    else:
        vm.config["lock"] = "rollback"
        ctx.changed = True
    return start_task(
        ctx,
        node=vm.node,
        kind="qmrollback",
        task_id=str(vm.vmid),
        duration=ROLLBACK_TIME + wait,
        done="qmrollback",
        args={"vmid": vm.vmid, "snapname": name, "error": error, "start": bool(p.get("start"))},
        flocks=[FlockHold(vmid=vm.vmid, shared=False)],
    )


@completion("qmrollback")
def _rollback_done(ctx: Ctx, task: Task, error: str | None) -> None:
    if task.args.get("error"):
        raise TaskFailed(str(task.args["error"]))
    vm = _task_vm(ctx, task)
    if vm is None:
        return
    name = str(task.args["snapname"])
    snap = vm.snapshots.get(name)
    if error is not None or snap is None:
        vm.config.pop("lock", None)
        return
    if vm.status == "running":
        set_status(ctx, vm, "stopped")
        vm.started_at = None
        ctx.guest.on_stop(vm)
    kept = {
        key: value
        for key, value in vm.config.items()
        if key == "description" or drives.UNUSED_KEY.match(key)
    }
    vm.config = {**_copy_config(snap), **kept, "parent": name, "vmgenid": str(uuid.uuid4())}
    vm.pending, vm.pending_delete = {}, []
    if snap.get("vmstate") or task.args.get("start"):
        boot_vm(ctx, vm, task.log)
    ctx.changed = True


def snapshot_delete(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    name = str(p["snapname"])
    wait = acquire_flock(ctx, vm.vmid, shared=False, wait=10.0)
    snap = vm.snapshots.get(name)
    error = None
    force = bool(p.get("force"))
    if snap is None:
        error = f"snapshot '{name}' does not exist"
    elif vm.lock() and not force:
        error = locked_text(str(vm.lock()))
    else:
        vm.config["lock"] = "snapshot-delete"
        snap["snapstate"] = "delete"
        ctx.changed = True
    return start_task(
        ctx,
        node=vm.node,
        kind="qmdelsnapshot",
        task_id=str(vm.vmid),
        duration=DELETE_TIME + wait,
        done="qmdelsnapshot",
        args={"vmid": vm.vmid, "snapname": name, "error": error},
        flocks=[FlockHold(vmid=vm.vmid, shared=False)],
    )


@completion("qmdelsnapshot")
def _delete_done(ctx: Ctx, task: Task, error: str | None) -> None:
    if task.args.get("error"):
        raise TaskFailed(str(task.args["error"]))
    vm = _task_vm(ctx, task)
    if vm is None:
        return
    name = str(task.args["snapname"])
    snap = vm.snapshots.get(name)
    if error is not None or snap is None:
        return  # PVE leaves the lock and snapstate behind: a delete with force clears them
    parent = snap.get("parent")
    state = snap.get("vmstate")
    if isinstance(state, str):
        free_volume(ctx, vm.node, state)
    del vm.snapshots[name]
    for other in vm.snapshots.values():
        if other.get("parent") == name:
            _set_parent(other, parent)
    if vm.config.get("parent") == name:
        _set_parent(vm.config, parent)
    vm.config.pop("lock", None)
    ctx.changed = True


def _set_parent(config: dict[str, ConfigValue], parent: ConfigValue | None) -> None:
    if parent is None:
        config.pop("parent", None)
    else:
        config["parent"] = parent


ROUTES = {
    ("GET", "/nodes/{node}/qemu/{vmid}/snapshot"): snapshot_list,
    ("POST", "/nodes/{node}/qemu/{vmid}/snapshot"): snapshot_create,
    ("GET", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}"): snapshot_index,
    ("DELETE", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}"): snapshot_delete,
    ("GET", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config"): snapshot_config,
    ("PUT", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config"): snapshot_update,
    ("POST", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback"): snapshot_rollback,
}
