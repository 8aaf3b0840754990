"""bpg's ``proxmox_virtual_environment_vm`` (bpg/proxmox, the SDKv2 VM resource) as an
``ImportedVm``. Pure.

Schema: bpg/terraform-provider-proxmox ``proxmoxtf/resource/vm/vm.go``, ``disk/schema.go``,
``network/schema.go`` (defaults ``dv*`` there). Blocks are SDKv2 lists, so the state holds
arrays: ``cpu[0].cores``, ``memory[0].dedicated``, ``disk[]`` (``interface`` such as ``scsi0``,
``datastore_id``, ``size`` in GB), ``network_device[]`` (net0 first; ``bridge``, ``vlan_id``),
``initialization[0]`` with ``ip_config[]`` (one per NIC; ``ipv4[0].address`` in CIDR notation or
``dhcp``, ``ipv4[0].gateway``), ``dns[0]`` (``servers``, ``domain``) and ``user_account[0]``
(``keys``, ``username``; ``password`` is a secret), ``clone[0].vm_id`` (the template's VMID),
``node_name``, ``vm_id`` and ``tags`` (a list). ``on_boot`` and ``started`` default to true,
``agent[0].enabled`` to false.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homelab.core.onboarding.attributes import (
    COMPUTED,
    MAPPED,
    PRESENCE,
    SECRET,
    Table,
    Tf,
    block_path,
    shown,
    unmapped_attributes,
)
from homelab.core.onboarding.model import Attr, ImportedVm
from homelab.core.onboarding.telmate import EXTRA_DISK, EXTRA_NIC
from homelab.core.onboarding.tfstate import Instance
from homelab.core.onboarding.values import (
    as_int,
    as_text,
    first_block,
    gib_from_size,
    read_dns,
    read_keys,
    read_tags,
    split_words,
    static_ipv4,
)

__all__ = ["RESOURCE_TYPE", "read_vm", "template_of"]

RESOURCE_TYPE = "proxmox_virtual_environment_vm"

_DISK: Table = {
    "interface": MAPPED,
    "datastore_id": MAPPED,
    "size": MAPPED,
    "path_in_datastore": COMPUTED,
    "file_format": COMPUTED,
    "aio": "io_uring",
    "backup": True,
    "file_id": "",
    "import_from": "",
    "serial": "",
    "iothread": False,
    "queues": 0,
    "replicate": True,
    "ssd": False,
    "discard": "ignore",
    "cache": "none",
    "speed": {
        "iops_read": 0,
        "iops_write": 0,
        "iops_read_burstable": 0,
        "iops_write_burstable": 0,
        "read": 0,
        "read_burstable": 0,
        "write": 0,
        "write_burstable": 0,
    },
}
_NETWORK: Table = {
    "bridge": MAPPED,
    "vlan_id": MAPPED,
    "mac_address": COMPUTED,
    "disconnected": False,
    "enabled": True,
    "firewall": False,
    "model": "virtio",
    "queues": 0,
    "rate_limit": 0,
    "trunks": "",
    "mtu": 0,
}
_INITIALIZATION: Table = {
    "datastore_id": "local-lvm",
    "interface": COMPUTED,
    "file_format": COMPUTED,
    "type": COMPUTED,
    "upgrade": COMPUTED,
    "dns": MAPPED,
    "ip_config": MAPPED,
    "user_account": {"keys": MAPPED, "username": MAPPED, "password": SECRET},
    "user_data_file_id": PRESENCE,
    "vendor_data_file_id": PRESENCE,
    "network_data_file_id": PRESENCE,
    "meta_data_file_id": PRESENCE,
}
TABLE: Table = {
    "id": COMPUTED,
    "vm_id": MAPPED,
    "name": MAPPED,
    "node_name": MAPPED,
    "description": MAPPED,  # kept by adopt, below homelab's record
    "tags": MAPPED,
    "template": MAPPED,
    "on_boot": MAPPED,
    "started": MAPPED,
    "agent": {
        "enabled": MAPPED,
        "timeout": Tf("15m"),
        "trim": False,
        "type": "virtio",
        "wait_for_ip": {"disabled": Tf(False), "ipv4": Tf(False), "ipv6": Tf(False)},
    },
    "clone": {
        "vm_id": MAPPED,
        "full": MAPPED,
        "retries": Tf(1),
        "datastore_id": Tf(""),
        "node_name": Tf(""),
    },
    "cpu": {
        "cores": MAPPED,
        "sockets": MAPPED,
        "architecture": "",
        "flags": PRESENCE,
        "hotplugged": 0,
        "limit": 0,
        "numa": False,
        "type": "qemu64",
        "units": COMPUTED,
        "affinity": "",
    },
    "memory": {
        "dedicated": MAPPED,
        "floating": 0,
        "shared": 0,
        "hugepages": "",
        "keep_hugepages": False,
    },
    "disk": MAPPED,
    "network_device": MAPPED,
    "initialization": MAPPED,
    "reboot": Tf(False),
    "reboot_after_update": Tf(True),
    "boot_order": COMPUTED,
    "acpi": True,
    "amd_sev": PRESENCE,
    "kvm_arguments": "",
    "audio_device": PRESENCE,
    "bios": "seabios",
    "cdrom": PRESENCE,
    "efi_disk": PRESENCE,
    "tpm_state": PRESENCE,
    "hostpci": PRESENCE,
    "usb": PRESENCE,
    "hotplug": COMPUTED,
    "keyboard_layout": "en-us",
    "machine": "",
    "numa": PRESENCE,
    "migrate": Tf(False),
    "operating_system": {"type": "other"},
    "pool_id": "",
    "protection": False,
    "rng": PRESENCE,
    "serial_device": PRESENCE,
    "smbios": {
        "family": "",
        "manufacturer": "",
        "product": "",
        "serial": "",
        "sku": "",
        "uuid": COMPUTED,
        "version": "",
    },
    "startup": PRESENCE,
    "tablet_device": True,
    "vga": COMPUTED,
    "virtiofs": PRESENCE,
    "scsi_hardware": "virtio-scsi-pci",
    "hook_script_file_id": "",
    "watchdog": {"enabled": False, "model": "i6300esb", "action": "none"},
    "ipv4_addresses": COMPUTED,
    "ipv6_addresses": COMPUTED,
    "mac_addresses": COMPUTED,
    "network_interface_names": COMPUTED,
    "stop_on_destroy": Tf(False),
    "purge_on_destroy": Tf(True),
    "delete_unreferenced_disks_on_destroy": Tf(True),
    **{
        f"timeout_{what}": Tf(1800)
        for what in ("clone", "create", "move_disk", "migrate", "reboot", "shutdown_vm")
    },
    "timeout_start_vm": Tf(1800),
    "timeout_stop_vm": Tf(300),
}


def template_of(attributes: Mapping[str, Any]) -> tuple[int, str] | None:
    """(vm_id, name) of a template this resource *is* (``template = true``), else None."""
    vmid, name = as_int(attributes.get("vm_id")), as_text(attributes.get("name"))
    if attributes.get("template") is True and vmid is not None and name is not None:
        return vmid, name
    return None


def read_vm(instance: Instance) -> ImportedVm:
    """The VM a ``proxmox_virtual_environment_vm`` instance describes."""
    attrs = instance.attributes
    vm = ImportedVm(address=instance.address, provider="bpg")
    vm.name = as_text(attrs.get("name"))
    vm.node = as_text(attrs.get("node_name"))
    vm.vmid = as_int(attrs.get("vm_id")) or as_int(attrs.get("id"))
    cpu = first_block(attrs.get("cpu"))
    vm.cores = as_int(cpu.get("cores")) or 1
    vm.sockets = as_int(cpu.get("sockets")) or 1
    vm.memory_mib = as_int(first_block(attrs.get("memory")).get("dedicated")) or 512
    _disks(vm, instance)
    _network(vm, instance)
    _initialization(vm, instance)
    clone = first_block(attrs.get("clone"))
    vm.template = as_int(clone.get("vm_id"))
    vm.full_clone = clone.get("full") is not False
    vm.tags = read_tags(attrs.get("tags"))
    vm.onboot = attrs.get("on_boot") is not False
    vm.agent = first_block(attrs.get("agent")).get("enabled") is True
    vm.running = attrs.get("started") is not False
    unmapped, secrets = unmapped_attributes(instance, TABLE)
    vm.unmapped[:0] = unmapped
    vm.secrets.extend(secrets)
    return vm


def _disks(vm: ImportedVm, instance: Instance) -> None:
    attrs = instance.attributes
    by_slot = {
        str(disk["interface"]): (index, disk)
        for index, disk in enumerate(attrs.get("disk") or [])
        if isinstance(disk, dict) and disk.get("interface")
    }
    order = [str(s) for s in attrs.get("boot_order") or [] if str(s) in by_slot]
    slots = order + sorted(by_slot)
    if not slots:
        vm.cannot("no disk in the state (homelab needs the boot disk's size)")
        return
    boot = slots[0]
    for slot, (index, disk) in by_slot.items():
        if slot != boot:
            extra = {k: disk.get(k) for k in ("interface", "datastore_id", "size")}
            vm.unmapped.append(Attr(f"disk[{index}]", shown(extra), EXTRA_DISK))
    index, disk = by_slot[boot]
    vm.disk_slot, vm.storage = boot, as_text(disk.get("datastore_id"))
    vm.disk_gib = gib_from_size(disk.get("size"))
    if vm.disk_gib is None:
        vm.cannot(f"the size of boot disk {boot} is unknown ({shown(disk.get('size'))})")
    at, lengths = block_path(attrs, "disk", index)
    extra_attrs, secrets = unmapped_attributes(instance, _DISK, disk, at=at, lengths=lengths)
    vm.unmapped += extra_attrs
    vm.secrets += secrets


def _network(vm: ImportedVm, instance: Instance) -> None:
    attrs = instance.attributes
    nics = [n for n in attrs.get("network_device") or [] if isinstance(n, dict)]
    if not nics:
        vm.cannot("no network device (net0)")
        return
    for index, nic in enumerate(nics[1:], start=1):
        extra = {k: nic.get(k) for k in ("bridge", "vlan_id", "model")}
        vm.unmapped.append(Attr(f"network_device[{index}]", shown(extra), EXTRA_NIC))
    net0 = nics[0]
    vm.bridge = as_text(net0.get("bridge")) or "vmbr0"
    vlan = as_int(net0.get("vlan_id"))
    vm.vlan = vlan if vlan is not None and vlan > 0 else None
    at, lengths = block_path(attrs, "network_device", 0)
    extra_attrs, secrets = unmapped_attributes(instance, _NETWORK, net0, at=at, lengths=lengths)
    vm.unmapped += extra_attrs
    vm.secrets += secrets


def _initialization(vm: ImportedVm, instance: Instance) -> None:
    attrs = instance.attributes
    init = first_block(attrs.get("initialization"))
    configs = [c for c in init.get("ip_config") or [] if isinstance(c, dict)]
    for index, extra in enumerate(configs[1:], start=1):
        vm.unmapped.append(Attr(f"initialization.ip_config[{index}]", shown(extra), EXTRA_NIC))
    ipv4 = first_block(first_block(configs[0] if configs else {}).get("ipv4"))
    config = static_ipv4(as_text(ipv4.get("address")), as_text(ipv4.get("gateway")))
    vm.ip_source = "initialization.ip_config.ipv4"
    if config.problem:
        vm.cannot(f"initialization.ip_config.ipv4: {config.problem}")
    elif config.mode == "dhcp":
        vm.cannot("its IPv4 address comes from DHCP; the spec needs a static IPv4 address")
    elif init.get("network_data_file_id"):
        vm.cannot("its network comes from a cloud-init file (network_data_file_id)")
    elif config.mode == "none":
        vm.cannot("no IPv4 address in initialization.ip_config; the spec needs a static one")
    vm.ipv4, vm.gateway = config.address, config.gateway
    dns = first_block(init.get("dns"))
    servers = split_words(dns.get("servers")) or split_words(dns.get("server"))
    read_dns(vm, servers, split_words(dns.get("domain")), "initialization.dns")
    account = first_block(init.get("user_account"))
    keys = account.get("keys")
    read_keys(vm, [str(k) for k in keys] if isinstance(keys, list) else [], "user_account.keys")
    vm.user = as_text(account.get("username"))
    at, lengths = block_path(attrs, "initialization", 0)
    extra_attrs, secrets = unmapped_attributes(
        instance, _INITIALIZATION, init, at=at, lengths=lengths
    )
    vm.unmapped += extra_attrs
    vm.secrets += secrets
