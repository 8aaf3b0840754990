"""The privilege checks qemu-server's handlers make beyond the schema's ``permissions``
(``API2/Qemu.pm``: ``$check_vm_modify_config_perm``, ``$check_drive_perms``,
``$check_storage_access``, ``$check_storage_access_clone``; ``QemuServer::check_bridge_access``;
pve-guest-common ``check_vnet_access``, ``assert_tag_permissions``; pve-storage
``Storage::check_volume_access``). ``root@pam`` itself skips them, as in PVE; its tokens do not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from homelab_sim.pve import drives
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail
from homelab_sim.pve.state import Vm

_CPU = {"cores", "cpu", "runningcpu", "cpulimit", "cpuunits", "numa", "smp", "sockets", "vcpus"}
_MEMORY = {"memory", "balloon", "shares", "allow-ksm"}
_HWTYPE = {
    "acpi",
    "hotplug",
    "kvm",
    "machine",
    "runningmachine",
    "scsihw",
    "smbios1",
    "tablet",
    "vga",
    "watchdog",
    "audio0",
    "rng0",
}
_GENERAL = {
    "agent",
    "autostart",
    "bios",
    "description",
    "keyboard",
    "localtime",
    "migrate_downtime",
    "migrate_speed",
    "name",
    "onboot",
    "ostype",
    "protection",
    "reboot",
    "startdate",
    "startup",
    "tdf",
    "template",
}
_DISK = {"boot", "bootdisk", "vmstatestorage"}
_CLOUDINIT = {
    "cicustom",
    "cipassword",
    "citype",
    "ciuser",
    "ciupgrade",
    "nameserver",
    "searchdomain",
    "sshkeys",
}
_SKIPPED = re.compile(r"^(?:unused|serial|usb|hostpci|virtiofs)\d+$")
_NEW_DISK = re.compile(r"^(?:([^/:\s]+):)?(\d+(?:\.\d+)?)$")


def check_modify_keys(ctx: Ctx, vmid: int, keys: Iterable[str]) -> None:
    """``$check_vm_modify_config_perm`` for keys set or deleted."""
    if ctx.is_root:
        return
    path = f"/vms/{vmid}"
    for key in keys:
        if drives.is_drive_key(key) or key in {"cdrom", "tags"} or _SKIPPED.match(key):
            continue
        if key in _CPU or re.fullmatch(r"numa\d+", key):
            ctx.require(path, "VM.Config.CPU")
        elif key in _MEMORY:
            ctx.require(path, "VM.Config.Memory")
        elif key in _HWTYPE:
            ctx.require(path, "VM.Config.HWType")
        elif key in _GENERAL:
            ctx.require(path, "VM.Config.Options")
            if key == "startup":
                ctx.require("/", "Sys.Modify")
        elif key == "freeze":
            ctx.require(path, "VM.PowerMgmt")
        elif key in _DISK:
            ctx.require(path, "VM.Config.Disk")
        elif re.fullmatch(r"net\d+", key) or key == "running-nets-host-mtu":
            ctx.require(path, "VM.Config.Network")
        elif key in _CLOUDINIT or re.fullmatch(r"ipconfig\d+", key):
            ctx.require(path, "VM.Config.Cloudinit", "VM.Config.Network", any_of=True)
        elif key == "vmstate":
            ctx.require(path, "VM.Config.Disk", "VM.PowerMgmt")
        else:
            raise fail(f"only root can set '{key}' config")


def check_drive(ctx: Ctx, vmid: int, value: str) -> None:
    """``$check_drive_perms``: what replacing or removing a drive of this value needs."""
    if ctx.is_root:
        return
    volume, _ = drives.parse_drive(value)
    path = f"/vms/{vmid}"
    if drives.is_cloudinit(volume):
        ctx.require(path, "VM.Config.Cloudinit", "VM.Config.CDROM")
    elif drives.is_cdrom(value):
        ctx.require(path, "VM.Config.CDROM")
    else:
        ctx.require(path, "VM.Config.Disk")


def check_storage_access(ctx: Ctx, vm: Vm, params: Mapping[str, Any]) -> None:
    """``$check_storage_access``: new disks need Datastore.AllocateSpace on their storage,
    referenced volumes need access to them."""
    if ctx.is_root:
        return
    for key, raw in params.items():
        if not drives.is_drive_key(key):
            continue
        value = str(raw)
        volume, opts = drives.parse_drive(value)
        name = drives.split_volid(volume)[1]
        cdrom = opts.get("media") == "cdrom" or volume in {"cdrom", "none"}
        if not volume or volume in {"none", "cloudinit"} or name == "cloudinit":
            continue
        if cdrom and volume == "cdrom":
            ctx.require("/", "Sys.Console")
        elif not cdrom and (found := _NEW_DISK.match(volume)):
            ctx.require(f"/storage/{found[1]}", "Datastore.AllocateSpace")
        else:
            check_volume_access(ctx, vm.vmid, volume)


def check_volume_access(ctx: Ctx, vmid: int | None, volid: str) -> None:
    """pve-storage ``check_volume_access``."""
    if ctx.is_root:
        return
    storage, name = drives.split_volid(volid)
    if not storage:
        raise fail("Only root can pass arbitrary filesystem paths.")
    path = f"/storage/{storage}"
    if ctx.can(path, "Datastore.Allocate"):
        return
    vtype, owner = volume_type(name)
    if vtype in {"iso", "vztmpl", "import"}:
        ctx.require(path, "Datastore.AllocateSpace", "Datastore.Audit", any_of=True)
    elif owner is not None and vmid is not None and owner == vmid:
        return
    elif vtype == "backup" and owner is not None:
        ctx.require(path, "Datastore.AllocateSpace")
        ctx.require(f"/vms/{owner}", "VM.Backup")
    elif vtype == "images" and owner is not None:
        ctx.require(path, "Datastore.Audit")
        ctx.require(f"/vms/{owner}", "VM.Config.Disk")
    else:
        raise fail(f"missing privileges to access {volid}")


def volume_type(name: str) -> tuple[str, int | None]:
    """(content type, owner VMID) of a volume name, as the storage plugins parse it."""
    for prefix, vtype in (("iso/", "iso"), ("vztmpl/", "vztmpl"), ("import/", "import")):
        if name.startswith(prefix):
            return vtype, None
    if name.startswith(("backup/", "dump/")):
        # dir/NFS: backup/vzdump-qemu-<vmid>-<time>.vma*; PBS: backup/vm/<vmid>/<time>
        found = re.search(r"vzdump-(?:qemu|lxc)-(\d+)-", name) or re.match(
            r"backup/(?:vm|ct)/(\d+)/", name
        )
        return "backup", int(found[1]) if found else None
    if name.startswith("snippets/"):
        return "snippets", None
    found = re.search(r"(?:^|/)(?:base|vm|subvol)-(\d+)-", name)
    return "images", int(found[1]) if found else None


def check_bridge_access(ctx: Ctx, params: Mapping[str, Any]) -> None:
    """``check_bridge_access`` / ``check_vnet_access``: SDN.Use on the bridge (or its VLAN)."""
    if ctx.is_root:
        return
    for key in sorted(params):
        if not re.fullmatch(r"net\d+", key):
            continue
        opts = dict(part.split("=", 1) for part in str(params[key]).split(",") if "=" in part)
        bridge = opts.get("bridge")
        if bridge is None:
            continue
        zone = f"/sdn/zones/localnetwork/{bridge}"
        tag, trunks = opts.get("tag"), opts.get("trunks")
        if tag:
            ctx.require(f"{zone}/{tag}", "SDN.Use")
        for vlan in sorted(_trunk_tags(trunks or "")):
            ctx.require(f"{zone}/{vlan}", "SDN.Use")
        if not (tag or trunks):
            ctx.require(zone, "SDN.Use")


def _trunk_tags(trunks: str) -> set[int]:
    tags: set[int] = set()
    for part in trunks.split(";"):
        low, _, high = part.partition("-")
        if low.isdigit():
            tags.update(range(int(low), int(high or low) + 1))
    return tags


def check_tags(ctx: Ctx, vmid: int, old: str | None, new: str | None) -> None:
    """``assert_tag_permissions`` with the default ``user-tag-access`` (free, no privileged
    tags): VM.Config.Options on the VM."""
    if ctx.is_root or (old or "") == (new or ""):
        return
    ctx.require(f"/vms/{vmid}", "VM.Config.Options")


def check_clone_storage(ctx: Ctx, source: Vm, storage: str | None) -> None:
    """``$check_storage_access_clone``: Datastore.AllocateSpace on the storage of every disk
    (the target ``storage`` when given), Sys.Console for a physical CD-ROM."""
    if ctx.is_root:
        return
    for key, raw in source.config.items():
        value = str(raw)
        if not drives.is_drive_key(key):
            continue
        volume, opts = drives.parse_drive(value)
        if not volume or volume == "none":
            continue
        cdrom = opts.get("media") == "cdrom" or volume == "cdrom"
        if cdrom:
            if volume == "cdrom":
                ctx.require("/", "Sys.Console")
            continue
        sid = storage or drives.split_volid(volume)[0]
        ctx.require(f"/storage/{sid}", "Datastore.AllocateSpace")
    if "vmstatestorage" in source.config:
        ctx.require(f"/storage/{source.config['vmstatestorage']}", "Datastore.AllocateSpace")


def check_update(ctx: Ctx, vm: Vm, params: Mapping[str, Any], not_config: Iterable[str]) -> None:
    """Every check of ``update_vm_api`` for a config update of ``vm`` (the simulator makes
    them all before anything changes, for POST too: a refused async update answers 403
    instead of starting a task that fails)."""
    if ctx.is_root:
        return
    skip = set(not_config)
    sets = {k: v for k, v in params.items() if k not in skip}
    deletes = [p for p in re.split(r"[,;\s]+", str(params.get("delete") or "")) if p]
    check_modify_keys(ctx, vm.vmid, deletes)
    check_modify_keys(ctx, vm.vmid, sets)
    check_storage_access(ctx, vm, sets)
    check_bridge_access(ctx, sets)
    current = {**vm.config, **vm.pending}
    for key in deletes:
        old = current.get(key)
        if old is None:
            continue
        if drives.is_drive_key(key):
            check_drive(ctx, vm.vmid, str(old))
        elif key == "tags":
            check_tags(ctx, vm.vmid, str(old), "")
        elif re.fullmatch(r"net\d+", key):
            check_bridge_access(ctx, {key: old})
    for key, value in sets.items():
        if drives.is_drive_key(key):
            if key in current:
                check_drive(ctx, vm.vmid, str(current[key]))
            check_drive(ctx, vm.vmid, str(value))
        elif key == "tags":
            old_tags = current.get("tags")
            check_tags(ctx, vm.vmid, None if old_tags is None else str(old_tags), str(value))
