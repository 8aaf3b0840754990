"""VM configuration: GET/POST/PUT /config, /pending and /resize (qemu-server's update_vm_api).

Changes to a stopped VM apply at once. On a running VM, "fast-plug" keys (name, tags,
cloud-init keys...) and hot-pluggable devices (network, disk, usb: PVE's default ``hotplug``)
apply at once, ``vcpus`` and ``memory`` too when the VM's ``hotplug`` names cpu or memory
(hotplug.py, with the failures collected per key); the rest waits in the pending section until
the next start or reboot. PUT is
synchronous; POST runs the same update in a ``qmconfig`` task, so its failures (lock, digest)
end up in the task's exit status as on PVE.
"""

from __future__ import annotations

import re
from typing import Any

from homelab_sim.pve import drives, hotplug, latency, qemu_perms
from homelab_sim.pve.auth import ROOT
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import ApiError, fail, locked_text, param_fail
from homelab_sim.pve.state import ConfigValue, FlockHold, Task, Vm, config_digest
from homelab_sim.pve.tags import assert_tag_permissions
from homelab_sim.pve.tasks import TaskFailed, acquire_flock, completion, finish_task, start_task
from homelab_sim.pve.volumes import alloc_disk, find_volume, free_volume

NOT_CONFIG = {
    "node",
    "vmid",
    "digest",
    "delete",
    "revert",
    "skiplock",
    "force",
    "background_delay",
    "import-working-storage",
}
FAST_PLUG = {
    "name",
    "description",
    "tags",
    "onboot",
    "protection",
    "startup",
    "hookscript",
    "lock",
    "shares",
    "vmstatestorage",
    "ciuser",
    "cipassword",
    "sshkeys",
    "nameserver",
    "searchdomain",
    "cicustom",
    "citype",
    "ciupgrade",
    "agent",
}
_HOTPLUG = re.compile(r"^(net\d+|usb\d+|unused\d+|(ide|sata|scsi|virtio)\d+|ipconfig\d+)$")
HOTPLUG_KEYS = {"hotplug", "vcpus", "memory"}  # decided by the VM's features (hotplug.py)
MODIFIED = "detected modified configuration - file changed by other user? Try again."


def to_config_value(value: Any) -> ConfigValue:
    """Integers and booleans stay numbers; ``number`` keys and everything else are strings."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def check_lock(vm: Vm, skiplock: bool) -> None:
    lock = vm.lock()
    if lock is not None and not skiplock:
        raise fail(locked_text(lock))


def check_skiplock(ctx: Ctx, params: dict[str, Any]) -> bool:
    if params.get("skiplock"):
        if ctx.ident.userid != ROOT or ctx.ident.tokenid is not None:
            raise param_fail({"skiplock": "Only root may use this option."})
        return True
    return False


def split_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [p for p in re.split(r"[,;\s]+", str(value or "")) if p]


def update_config(ctx: Ctx, vm: Vm, params: dict[str, Any], log: list[str]) -> None:
    """Apply an update as qemu-server does, or raise ApiError (nothing changed then)."""
    skiplock = check_skiplock(ctx, params)
    digest = params.get("digest")
    if digest and digest != config_digest(vm):
        raise fail(MODIFIED)
    check_lock(vm, skiplock)
    sets = {k: v for k, v in params.items() if k not in NOT_CONFIG}
    deletes = split_list(params.get("delete"))
    if "tags" in sets or "tags" in deletes:
        old = vm.pending.get("tags", vm.config.get("tags"))
        assert_tag_permissions(ctx, old, sets.get("tags"))
    clash = {
        k: f"you can't use '-{k}' and '-delete {k}' at the same time" for k in deletes if k in sets
    }
    if clash:
        raise param_fail(clash)
    for key in split_list(params.get("revert")):
        vm.pending.pop(key, None)
        if key in vm.pending_delete:
            vm.pending_delete.remove(key)
    errors: dict[str, str] = {}
    for key, raw in sets.items():
        _set_key(ctx, vm, key, to_config_value(raw), log, errors)
    for key in deletes:
        _delete_key(ctx, vm, key, bool(params.get("force")), log)
    ctx.changed = True
    if errors:  # the other keys are written; the failed ones stay pending (hotplug.py)
        raise param_fail(errors)


def _live(vm: Vm, key: str) -> bool:
    """Whether a change to ``key`` takes effect now (stopped VM, fast-plug, hotplug)."""
    return vm.status != "running" or key in FAST_PLUG or bool(_HOTPLUG.match(key))


def _set_key(
    ctx: Ctx, vm: Vm, key: str, value: ConfigValue, log: list[str], errors: dict[str, str]
) -> None:
    if drives.is_drive_key(key) and isinstance(value, str):
        value = _prepare_drive(ctx, vm, key, value, log)
    if vm.status == "running" and key in HOTPLUG_KEYS:
        vm.pending[key] = value
        try:
            plugged = hotplug.plug(vm, key, value)
        except hotplug.HotplugProblem as exc:
            errors[key] = f"hotplug problem - {exc}"
            return
        if plugged is None:
            log.append(f"update VM {vm.vmid}: -{key} {value} (pending until next start)")
        else:
            vm.config[key] = plugged
            vm.pending.pop(key, None)
        return
    if _live(vm, key):
        vm.config[key] = value
        vm.pending.pop(key, None)
    else:
        vm.pending[key] = value
        log.append(f"update VM {vm.vmid}: -{key} {value} (pending until next start)")


def _delete_key(ctx: Ctx, vm: Vm, key: str, force: bool, log: list[str]) -> None:
    if key not in vm.config and key not in vm.pending:
        log.append(f"WARN: cannot delete '{key}' - not set in current configuration!")
        return
    if not _live(vm, key):
        if key not in vm.pending_delete:
            vm.pending_delete.append(key)
        return
    vm.pending.pop(key, None)
    value = vm.config.pop(key, None)
    if isinstance(value, str) and (drives.is_disk(key, value) or drives.UNUSED_KEY.match(key)):
        volid = drives.parse_drive(value)[0]
        if force or drives.UNUSED_KEY.match(key):
            free_volume(ctx, vm.node, volid)
        else:
            vm.config[_free_unused(vm)] = volid


def _free_unused(vm: Vm) -> str:
    index = 0
    while f"unused{index}" in vm.config:
        index += 1
    return f"unused{index}"


def _prepare_drive(ctx: Ctx, vm: Vm, key: str, value: str, log: list[str]) -> str:
    """Allocate ``STORAGE:SIZE`` / ``STORAGE:cloudinit`` volumes; check referenced ones."""
    volume, opts = drives.parse_drive(value)
    storage, name = drives.split_volid(volume)
    if storage and name == "cloudinit":
        vol = alloc_disk(ctx, vm.node, storage, vm.vmid, 4 * 1024**2, kind="cloudinit")
        opts.setdefault("media", "cdrom")
        log.append(f"{key}: successfully created disk '{vol.volid},media=cdrom'")
        return drives.print_drive(vol.volid, opts)
    if storage and re.fullmatch(r"\d+(\.\d+)?", name):
        size = int(float(name) * 1024**3)
        vol = alloc_disk(ctx, vm.node, storage, vm.vmid, size, fmt=opts.pop("format", None))
        opts["size"] = drives.format_size(size)
        log.append(f"{key}: successfully created disk '{drives.print_drive(vol.volid, opts)}'")
        return drives.print_drive(vol.volid, opts)
    if ":" in volume:
        found = find_volume(ctx, vm.node, volume)
        if found is None:
            raise fail(f"volume '{volume}' does not exist")
        if found.content == "images" and "size" not in opts:
            opts["size"] = drives.format_size(found.size)
    return drives.print_drive(volume, opts)


def config_view(vm: Vm, *, current: bool) -> dict[str, Any]:
    view: dict[str, Any] = dict(vm.config)
    if not current:
        view.update(vm.pending)
        for key in vm.pending_delete:
            view.pop(key, None)
    if "cipassword" in view:
        view["cipassword"] = "**********"
    view["digest"] = config_digest(vm)
    return view


def get_config(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    if p.get("snapshot"):
        raise fail(f"snapshot '{p['snapshot']}' does not exist")
    return config_view(vm, current=bool(p.get("current")))


def get_pending(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    out = []
    for key in sorted(set(vm.config) | set(vm.pending) | set(vm.pending_delete)):
        item: dict[str, Any] = {"key": key}
        if key in vm.config:
            item["value"] = vm.config[key]
        if key in vm.pending:
            item["pending"] = vm.pending[key]
        if key in vm.pending_delete:
            item["delete"] = 1
        out.append(item)
    out.append({"key": "digest", "value": config_digest(vm)})
    return out


def put_config(ctx: Ctx, p: dict[str, Any]) -> None:
    vm = ctx.vm(p["node"], p["vmid"])
    qemu_perms.check_update(ctx, vm, p, NOT_CONFIG)
    acquire_flock(ctx, vm.vmid, shared=False, wait=latency.CONFIG_LOCK_WAIT)
    update_config(ctx, vm, p, [])


def post_config(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    deletes = split_list(p.get("delete"))
    clash = {
        k: f"you can't use '-{k}' and '-delete {k}' at the same time" for k in deletes if k in p
    }
    if clash:
        raise param_fail(clash)
    qemu_perms.check_update(ctx, vm, p, NOT_CONFIG)
    try:
        wait = acquire_flock(ctx, vm.vmid, shared=False, wait=latency.CONFIG_LOCK_WAIT)
        error = None
    except ApiError as exc:
        wait, error = latency.CONFIG_LOCK_WAIT, exc.message
    args = {"vmid": vm.vmid, "params": {k: v for k, v in p.items() if k != "background_delay"}}
    upid = start_task(
        ctx,
        node=vm.node,
        kind="qmconfig",
        task_id=str(vm.vmid),
        duration=latency.CONFIG + wait,
        done="qmconfig",
        args=args,
        flocks=[FlockHold(vmid=vm.vmid, shared=False)],
    )
    task = next(t for t in ctx.state.tasks if t.upid == upid)
    if error is not None and task.fail is None:
        task.fail = error
    if p.get("background_delay") and task.fail is None:
        finish_task(ctx, task)  # the caller waited: the update is done when the call returns
        return None if task.exitstatus == "OK" else upid
    return upid


@completion("qmconfig")
def _qmconfig_done(ctx: Ctx, task: Task, error: str | None) -> None:
    if error is not None:
        return
    vm = ctx.state.vms.get(int(task.args["vmid"]))
    if vm is None:
        raise TaskFailed(f"VM {task.args['vmid']} does not exist")
    try:
        update_config(ctx, vm, dict(task.args["params"]), task.log)
    except ApiError as exc:
        detail = " ".join(f"{k}: {v}" for k, v in (exc.errors or {}).items())
        raise TaskFailed(
            f"{exc.status} {exc.message} {detail}".strip() if exc.errors else exc.message
        ) from exc


def resize(ctx: Ctx, p: dict[str, Any]) -> Any:
    vm = ctx.vm(p["node"], p["vmid"])
    disk = vm.config.get(str(p["disk"]))
    if disk is not None and not ctx.is_root:  # PVE checks it in the task; here up front
        storage = drives.split_volid(drives.parse_drive(str(disk))[0])[0]
        if storage:
            ctx.require(f"/storage/{storage}", "Datastore.AllocateSpace")
    wait = acquire_flock(ctx, vm.vmid, shared=False, wait=latency.CONFIG_LOCK_WAIT)
    return start_task(
        ctx,
        node=vm.node,
        kind="resize",
        task_id=str(vm.vmid),
        duration=latency.RESIZE + wait,
        done="resize",
        args={"vmid": vm.vmid, "params": dict(p)},
        flocks=[FlockHold(vmid=vm.vmid, shared=False)],
    )


@completion("resize")
def _resize_done(ctx: Ctx, task: Task, error: str | None) -> None:
    if error is not None:
        return
    p = task.args["params"]
    vm = ctx.state.vms.get(int(task.args["vmid"]))
    if vm is None:
        raise TaskFailed(f"VM {task.args['vmid']} does not exist")
    try:
        _resize(ctx, vm, p, task.log)
    except ApiError as exc:
        raise TaskFailed(exc.message) from exc


def _resize(ctx: Ctx, vm: Vm, p: dict[str, Any], log: list[str]) -> None:
    if p.get("digest") and p["digest"] != config_digest(vm):
        raise fail(MODIFIED)
    check_lock(vm, check_skiplock(ctx, p))
    disk = p["disk"]
    value = vm.config.get(disk)
    if not isinstance(value, str):
        raise fail(f"disk '{disk}' does not exist")
    if drives.is_cdrom(value) or drives.parse_drive(value)[1].get("media") == "cdrom":
        raise fail("you can't resize a cdrom")
    volid, opts = drives.parse_drive(value)
    volume = find_volume(ctx, vm.node, volid)
    if volume is None:
        raise fail(f"volume '{volid}' does not exist")
    relative, amount = drives.parse_size(str(p["size"]))
    new_size = volume.size + amount if relative else amount
    if new_size < volume.size:
        raise fail("shrinking disks is not supported")
    volume.size = new_size
    opts["size"] = drives.format_size(new_size)
    vm.config[disk] = drives.print_drive(volid, opts)
    log.append(f"  Size of logical volume {volid} changed to {drives.format_size(new_size)}.")
    ctx.changed = True


ROUTES = {
    ("GET", "/nodes/{node}/qemu/{vmid}/config"): get_config,
    ("POST", "/nodes/{node}/qemu/{vmid}/config"): post_config,
    ("PUT", "/nodes/{node}/qemu/{vmid}/config"): put_config,
    ("GET", "/nodes/{node}/qemu/{vmid}/pending"): get_pending,
    ("PUT", "/nodes/{node}/qemu/{vmid}/resize"): resize,
}
