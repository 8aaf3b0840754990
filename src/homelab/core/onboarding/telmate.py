"""Telmate's ``proxmox_vm_qemu`` (Telmate/proxmox, 2.9.x and 3.x) as an ``ImportedVm``. Pure.

The two generations store the same VM differently (schemas at Telmate/terraform-provider-proxmox
tags v2.9.14 and v3.0.2-rc09, ``proxmox/resource_vm_qemu.go`` and
``proxmox/Internal/resource/guest/**/schema*.go``):

- CPU: 2.9 has top-level ``cores``, ``sockets``, ``vcpus`` and ``cpu`` (the CPU *type*, a
  string); 3.x has a ``cpu`` block (``cores``, ``sockets``, ``type``, ``vcores``...) and keeps the
  top-level ``cores``/``sockets`` as deprecated alternatives.
- Disks: 2.9 repeats ``disk {type = bus, storage, size = "10G"}`` with a computed int ``slot``;
  3.x has ``disk {slot = "scsi0", type = disk|cdrom|cloudinit|ignore, storage, size}`` or the
  nested ``disks {scsi {scsi0 {disk {storage, size}}}}``.
- NICs: repeated ``network {bridge, tag, model, macaddr...}``; 2.9 numbers them by position
  (``tag`` -1 for none), 3.x by their required ``id``.
- At boot: 2.9 ``onboot`` (default false), 3.x ``start_at_node_boot`` (or the legacy ``onboot``);
  power: 2.9 ``oncreate``, 3.x ``power_state`` (or the legacy ``vm_state``).

Both keep cloud-init in ``ipconfig0`` (``ip=10.0.20.21/24,gw=10.0.20.1``), ``nameserver``,
``searchdomain``, ``sshkeys`` (newline-separated), ``ciuser`` and ``cipassword`` (a secret), the
template as ``clone`` (its name) or ``clone_id``, the node as ``target_node`` (``current_node``
computed in 3.x) and ``tags`` as one string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homelab.core.onboarding.attributes import (
    COMPUTED,
    KEPT,
    MAPPED,
    PRESENCE,
    SECRET,
    Table,
    Tf,
    block_path,
    display_path,
    shown,
    unmapped_attributes,
)
from homelab.core.onboarding.model import Attr, ImportedVm
from homelab.core.onboarding.tfstate import Instance
from homelab.core.onboarding.values import (
    as_int,
    as_text,
    first_block,
    gib_from_size,
    parse_ipconfig,
    read_dns,
    read_keys,
    read_tags,
    split_words,
)

__all__ = ["RESOURCE_TYPE", "read_vm"]

RESOURCE_TYPE = "proxmox_vm_qemu"
EXTRA_DISK = "homelab manages the boot disk only: the VM keeps it"
EXTRA_NIC = "homelab manages net0 only: the VM keeps it"

_SMBIOS: Table = {"uuid": COMPUTED}
_CPU_BLOCK: Table = {
    "cores": MAPPED,
    "sockets": MAPPED,
    "type": "host",
    "affinity": "",
    "limit": 0,
    "numa": False,
    "units": 0,
    "vcores": 0,
    "flags": PRESENCE,
}
_NETWORK: Table = {
    "id": MAPPED,
    "bridge": MAPPED,
    "tag": MAPPED,
    "macaddr": COMPUTED,
    "model": "virtio",
    "firewall": False,
    "link_down": False,
    "rate": 0,
    "mtu": 0,
    "queues": COMPUTED,
}
_DISK: Table = {
    "slot": MAPPED,
    "type": MAPPED,
    "storage": MAPPED,
    "size": MAPPED,
    "id": COMPUTED,
    "format": COMPUTED,
    "file": COMPUTED,
    "media": COMPUTED,
    "volume": COMPUTED,
    "storage_type": COMPUTED,
    "linked_disk_id": COMPUTED,
    "cache": "none",
    "backup": True,
    "iothread": False,
    "replicate": False,
    "ssd": False,
    "emulatessd": False,
    "discard": False,
    "readonly": False,
    "passthrough": False,
}
# Both generations' top-level attributes. Anything not here is listed as unknown.
TABLE: Table = {
    "id": COMPUTED,
    "vmid": MAPPED,
    "name": MAPPED,
    "target_node": MAPPED,
    "target_nodes": MAPPED,
    "current_node": COMPUTED,
    "desc": MAPPED,  # kept by adopt, below homelab's record
    "description": MAPPED,
    "bios": "seabios",
    "onboot": MAPPED,
    "start_at_node_boot": MAPPED,
    "oncreate": MAPPED,
    "vm_state": MAPPED,
    "power_state": MAPPED,
    "startup": PRESENCE,
    "startup_shutdown": {"order": -1, "shutdown_timeout": -1, "startup_delay": -1},
    "protection": False,
    "tablet": True,
    "boot": COMPUTED,
    "bootdisk": COMPUTED,
    "agent": MAPPED,
    "agent_timeout": Tf(90),
    "pxe": False,
    "iso": PRESENCE,
    "clone": MAPPED,
    "clone_id": MAPPED,
    "full_clone": MAPPED,
    "cloudinit_cdrom_storage": PRESENCE,
    "hastate": None,
    "hagroup": None,
    "qemu_os": COMPUTED,
    "tags": MAPPED,
    "args": None,
    "machine": None,
    "memory": MAPPED,
    "balloon": 0,
    "cores": MAPPED,
    "sockets": MAPPED,
    "vcpus": 0,
    "cpu": MAPPED,
    "cpu_type": "host",
    "numa": False,
    "kvm": True,
    "hotplug": "network,disk,usb",
    "scsihw": "lsi",
    "vga": PRESENCE,
    "network": MAPPED,
    "smbios": _SMBIOS,
    "unused_disk": COMPUTED,
    "hostpci": PRESENCE,
    "pci": PRESENCE,
    "pcis": PRESENCE,
    "tpm_state": PRESENCE,
    "efidisk": PRESENCE,
    "disk": MAPPED,
    "disks": MAPPED,
    "disk_gb": PRESENCE,
    "storage": PRESENCE,
    "storage_type": PRESENCE,
    "nic": PRESENCE,
    "bridge": PRESENCE,
    "vlan": -1,
    "mac": PRESENCE,
    "serial": PRESENCE,
    "usb": PRESENCE,
    "usbs": PRESENCE,
    "rng": PRESENCE,
    "os_type": Tf(None),
    "os_network_config": Tf(None),
    "ssh_forward_ip": Tf(None),
    "ssh_user": Tf(None),
    "ssh_private_key": SECRET,
    "force_create": Tf(False),
    "clone_wait": Tf(10),
    "additional_wait": Tf(5),
    "ci_wait": Tf(30),
    "cicustom": PRESENCE,
    "ciupgrade": False,
    "ciuser": MAPPED,
    "cipassword": SECRET,
    "nameserver": MAPPED,
    "searchdomain": MAPPED,
    "sshkeys": MAPPED,
    "ipconfig0": MAPPED,
    **{f"ipconfig{n}": PRESENCE for n in range(1, 16)},
    "preprovision": Tf(True),
    "pool": None,
    "ssh_host": COMPUTED,
    "ssh_port": COMPUTED,
    "force_recreate_on_change_of": Tf(None),
    "reboot_required": COMPUTED,
    "default_ipv4_address": COMPUTED,
    "default_ipv6_address": COMPUTED,
    "define_connection_info": Tf(True),
    "guest_agent_ready_timeout": Tf(100),
    "automatic_reboot": Tf(True),
    "automatic_reboot_severity": Tf("error"),
    "skip_ipv4": Tf(False),
    "skip_ipv6": Tf(False),
    "linked_vmid": COMPUTED,
    "timeouts": Tf(None),
}

_BUSES = ("ide", "sata", "scsi", "virtio")
_SLOT = re.compile(r"^(ide|sata|scsi|virtio)(\d+)$")


@dataclass(frozen=True)
class _Drive:
    slot: str
    kind: str  # disk, passthrough, cdrom, cloudinit, ignore
    fields: Mapping[str, Any]
    at: tuple[str | int, ...]
    lengths: tuple[int | None, ...]

    @property
    def where(self) -> str:
        return display_path(self.at, self.lengths)


def generation(attributes: Mapping[str, Any]) -> str:
    """``3.x`` when the attributes have the shape of Telmate 3.x, else ``2.9.x``."""
    disks = attributes.get("disk") or []
    string_slots = any(isinstance(d, dict) and isinstance(d.get("slot"), str) for d in disks)
    modern = ("power_state", "start_at_node_boot", "current_node", "clone_id")
    if isinstance(attributes.get("cpu"), list) or attributes.get("disks") or string_slots:
        return "3.x"
    return "3.x" if any(key in attributes for key in modern) else "2.9.x"


def read_vm(instance: Instance) -> ImportedVm:
    """The VM a ``proxmox_vm_qemu`` instance describes."""
    attrs = instance.attributes
    vm = ImportedVm(address=instance.address, provider=f"Telmate {generation(attrs)}")
    vm.name = as_text(attrs.get("name"))
    vm.node = _node(attrs)
    vm.vmid = as_int(attrs.get("vmid")) or _vmid_from_id(attrs.get("id"))
    _cpu(vm, instance)
    vm.memory_mib = as_int(attrs.get("memory")) or 512
    _disks(vm, instance)
    _network(vm, instance)
    _cloud_init(vm, attrs)
    clone_id = as_int(attrs.get("clone_id"))
    vm.template = as_text(attrs.get("clone")) or (clone_id if clone_id else None)
    vm.full_clone = attrs.get("full_clone") is not False
    vm.tags = read_tags(attrs.get("tags"))
    vm.onboot = bool(attrs.get("start_at_node_boot") or attrs.get("onboot"))
    vm.agent = as_int(attrs.get("agent")) == 1
    vm.running = _running(attrs)
    unmapped, secrets = unmapped_attributes(instance, TABLE)
    vm.unmapped[:0] = unmapped
    vm.secrets.extend(secrets)
    return vm


def _node(attrs: Mapping[str, Any]) -> str | None:
    node = as_text(attrs.get("current_node")) or as_text(attrs.get("target_node"))
    if node is None:
        nodes = [n for n in attrs.get("target_nodes") or [] if isinstance(n, str)]
        node = nodes[0] if len(nodes) == 1 else None
    return node


def _vmid_from_id(value: Any) -> int | None:
    """The import id ``<node>/qemu/<vmid>`` -> vmid."""
    text = as_text(value) or ""
    return as_int(text.rsplit("/", 1)[-1]) if "/" in text else None


def _cpu(vm: ImportedVm, instance: Instance) -> None:
    attrs = instance.attributes
    block = attrs.get("cpu")
    if isinstance(block, list) and block:
        cpu = first_block(block)
        vm.cores = as_int(cpu.get("cores")) or 1
        vm.sockets = as_int(cpu.get("sockets")) or 1
        at, lengths = block_path(attrs, "cpu", 0)
        vm.unmapped += unmapped_attributes(instance, _CPU_BLOCK, cpu, at=at, lengths=lengths)[0]
        return
    vm.cores = as_int(attrs.get("cores")) or 1
    vm.sockets = as_int(attrs.get("sockets")) or 1
    if isinstance(block, str) and block and block != "host":  # 2.9: `cpu` is the CPU type
        vm.unmapped.append(Attr("cpu", shown(block), KEPT))


def _running(attrs: Mapping[str, Any]) -> bool:
    state = as_text(attrs.get("power_state")) or as_text(attrs.get("vm_state"))
    if state is not None:
        return state in ("running", "started")
    return attrs.get("oncreate") is not False


# ---- disks -----------------------------------------------------------------------------------


def _drives(attrs: Mapping[str, Any]) -> list[_Drive]:
    drives: list[_Drive] = []
    per_bus: dict[str, int] = {}
    for index, disk in enumerate(attrs.get("disk") or []):
        if not isinstance(disk, dict):
            continue
        slot = disk.get("slot")
        if isinstance(slot, str):  # 3.x: slot = "scsi0", type = disk|cdrom|cloudinit|ignore
            kind = as_text(disk.get("type")) or "disk"
            if kind == "disk" and disk.get("passthrough"):
                kind = "passthrough"
        else:  # 2.9: type = the bus, slot = its number (computed)
            bus = as_text(disk.get("type")) or "scsi"
            number = as_int(slot)
            if number is None:
                number = per_bus.get(bus, 0)
            per_bus[bus] = number + 1
            slot, kind = f"{bus}{number}", "disk"
        drives.append(_Drive(slot, kind, disk, *block_path(attrs, "disk", index)))
    nested = first_block(attrs.get("disks"))
    for bus in _BUSES:
        slots = first_block(nested.get(bus))
        for slot in sorted(slots, key=_slot_order):
            entry = first_block(slots[slot])
            at: tuple[str | int, ...]
            for kind in ("disk", "passthrough", "cdrom", "cloudinit"):
                if entry.get(kind):
                    at = ("disks", 0, bus, 0, slot, 0, kind, 0)
                    drives.append(
                        _Drive(slot, kind, first_block(entry[kind]), *block_path(attrs, *at))
                    )
            if entry.get("ignore") is True:
                at = ("disks", 0, bus, 0, slot, 0, "ignore")
                drives.append(_Drive(slot, "ignore", {}, *block_path(attrs, *at)))
    return drives


def _slot_order(slot: str) -> tuple[str, int]:
    match = _SLOT.match(slot)
    return (match.group(1), int(match.group(2))) if match else (slot, 0)


def _boot_order(attrs: Mapping[str, Any]) -> list[str]:
    order: list[str] = []
    boot = as_text(attrs.get("boot")) or ""
    for part in boot.split(","):
        key, _, value = part.partition("=")
        if key.strip() == "order":
            order += [slot.strip() for slot in value.split(";")]
    bootdisk = as_text(attrs.get("bootdisk"))
    return order + ([bootdisk] if bootdisk else [])


def _disks(vm: ImportedVm, instance: Instance) -> None:
    attrs = instance.attributes
    drives = _drives(attrs)
    disks = [d for d in drives if d.kind in ("disk", "passthrough")]
    by_slot = {d.slot: d for d in disks}
    boot = next((by_slot[s] for s in _boot_order(attrs) if s in by_slot), None)
    if boot is None and disks:
        boot = min(disks, key=lambda d: _slot_order(d.slot))
    for drive in drives:
        if drive is boot:
            continue
        if drive.kind in ("disk", "passthrough"):
            vm.unmapped.append(Attr(drive.where, shown(_short(drive)), EXTRA_DISK))
        elif drive.kind == "cdrom" and (drive.fields.get("iso") or drive.fields.get("passthrough")):
            vm.unmapped.append(Attr(drive.where, shown(_short(drive)), KEPT))
        elif drive.kind == "ignore":
            vm.notes.append(f"{drive.where}: Terraform did not manage disk {drive.slot}")
    if boot is None:
        vm.cannot("no boot disk in the state (homelab needs the boot disk's size)")
        return
    vm.disk_slot = boot.slot
    vm.storage = as_text(boot.fields.get("storage"))
    vm.disk_gib = gib_from_size(boot.fields.get("size"))
    if vm.disk_gib is None:
        vm.cannot(
            f"the size of boot disk {boot.slot} is unknown ({shown(boot.fields.get('size'))})"
        )
    extra, secrets = unmapped_attributes(
        instance, _DISK, boot.fields, at=boot.at, lengths=boot.lengths
    )
    vm.unmapped += extra
    vm.secrets += secrets


def _short(drive: _Drive) -> dict[str, Any]:
    keys = ("storage", "size", "iso", "disk_file", "file")
    shown_fields = {k: drive.fields[k] for k in keys if drive.fields.get(k) not in (None, "")}
    return {"slot": drive.slot, **shown_fields}


# ---- network and cloud-init -----------------------------------------------------------------


def _network(vm: ImportedVm, instance: Instance) -> None:
    attrs = instance.attributes
    nics = [(i, n) for i, n in enumerate(attrs.get("network") or []) if isinstance(n, dict)]
    net0: tuple[int, dict[str, Any]] | None = None
    for position, (index, nic) in enumerate(nics):
        number = as_int(nic.get("id"))  # 3.x numbers them; 2.9 by their order
        if (number if number is not None else position) == 0 and net0 is None:
            net0 = (index, nic)
        else:
            summary = {k: nic[k] for k in ("id", "bridge", "tag", "model") if k in nic}
            vm.unmapped.append(Attr(f"network[{index}]", shown(summary), EXTRA_NIC))
    if net0 is None:
        vm.cannot("no network device net0")
        return
    index, nic = net0
    vm.bridge = as_text(nic.get("bridge"))
    tag = as_int(nic.get("tag"))
    vm.vlan = tag if tag is not None and tag > 0 else None
    at, lengths = block_path(attrs, "network", index)
    extra, secrets = unmapped_attributes(instance, _NETWORK, nic, at=at, lengths=lengths)
    vm.unmapped += extra
    vm.secrets += secrets


def _cloud_init(vm: ImportedVm, attrs: Mapping[str, Any]) -> None:
    config = parse_ipconfig(as_text(attrs.get("ipconfig0")))
    vm.ip_source = "ipconfig0"
    if config.problem:
        vm.cannot(f"ipconfig0: {config.problem}")
    elif config.mode == "dhcp":
        vm.cannot("ipconfig0 asks for DHCP; the spec needs a static IPv4 address")
    elif config.mode == "none":
        vm.cannot("no IPv4 address in ipconfig0; the spec needs a static IPv4 address")
    vm.ipv4, vm.gateway = config.address, config.gateway
    read_dns(
        vm,
        split_words(attrs.get("nameserver")),
        split_words(attrs.get("searchdomain")),
        "nameserver",
    )
    keys = attrs.get("sshkeys")
    read_keys(vm, keys.splitlines() if isinstance(keys, str) else [], "sshkeys")
    vm.user = as_text(attrs.get("ciuser"))
