"""The config keys homelab writes on a VM, computed from the desired VM and the current config.

Only managed keys are written, and only when they differ, so a rerun sends nothing that is
already in place. ``net0`` keeps its model, MAC and any option the user set (firewall, rate...);
only the bridge and VLAN tag are homelab's. Tags keep the user's own ones. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping

from homelab.core.desired import (
    SEED_DRIVE,
    DesiredVm,
    description_text,
    is_managed_tag,
    managed_subset,
    user_notes,
)
from homelab.core.pve_reply import parse_config, pve_tags

__all__ = [
    "config_changes",
    "desired_description",
    "desired_tags",
    "held_for_restart",
    "hotplug_value",
    "net0_value",
    "seed_drive_value",
]

NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "vmxnet3")


def seed_drive_value(volid: str) -> str:
    return f"{volid},media=cdrom"


def desired_tags(desired: DesiredVm, current: str | None) -> str:
    """The user's own tags kept, homelab's set to the desired ones, ``;``-joined and sorted."""
    user = {tag for tag in pve_tags(current) if not is_managed_tag(tag)}
    return ";".join(sorted(user | set(desired.tags), key=lambda tag: (tag.lower(), tag)))


def desired_description(desired: DesiredVm, current: str | None) -> str:
    """homelab's header and record, followed by whatever the user wrote."""
    return description_text(desired.record, user_notes(current))


def net0_value(current: str | None, desired: DesiredVm, mac: str | None = None) -> str:
    """``net0`` with the desired bridge and VLAN tag (and ``mac`` if given); the model and any
    other options are kept."""
    parts = [p.strip() for p in (current or "").split(",") if p.strip()]
    kept = [p for p in parts if p.partition("=")[0] not in ("bridge", "tag")]
    if not any(p.partition("=")[0] in (*NIC_MODELS, "model") for p in kept):
        kept.insert(0, "virtio")
    head, rest = kept[0], kept[1:]
    if mac is not None:
        model = head.partition("=")[0]
        head = f"{'virtio' if model == 'model' else model}={mac.upper()}"
    fields = [head, f"bridge={desired.bridge}"]
    if desired.vlan is not None:
        fields.append(f"tag={desired.vlan}")
    return ",".join(fields + rest)


def config_changes(
    desired: DesiredVm, raw: Mapping[str, str], mac: str | None = None
) -> dict[str, str]:
    """The managed keys whose current value differs from the desired one (empty: in place).

    ``mac`` (for a new VM) is the MAC its seed's network-config matches the NIC by.
    """
    current = parse_config({**raw, "digest": ""})
    changes: dict[str, str] = {}
    if current.cores != desired.topology_cores:
        changes["cores"] = str(desired.topology_cores)
    if current.sockets != 1:
        changes["sockets"] = "1"
    if current.vcpus is not None or "cpu" in desired.hotplug:
        # with CPU hotplug the VM runs ``vcpus`` of its ``cores``; without, all of them
        vcpus = desired.cores if "cpu" in desired.hotplug else desired.topology_cores
        if current.vcpus != vcpus:
            changes["vcpus"] = str(vcpus)
    hotplug = hotplug_value(current.hotplug, desired.hotplug)
    if hotplug is not None:
        changes["hotplug"] = hotplug
    if "memory" in desired.hotplug and not current.numa:
        changes["numa"] = "1"  # qemu-server starts a memory-hotplug VM only with NUMA
    if current.memory_mib != desired.memory_mib:
        changes["memory"] = str(desired.memory_mib)
    if current.agent != desired.agent:
        changes["agent"] = "1" if desired.agent else "0"
    if current.onboot != desired.onboot:
        changes["onboot"] = "1" if desired.onboot else "0"
    if managed_subset(current.tags) != desired.tags:
        changes["tags"] = desired_tags(desired, raw.get("tags"))
    if current.record != desired.record:
        changes["description"] = desired_description(desired, current.description)
    net0 = current.net0
    wrong_mac = mac is not None and (net0 is None or (net0.mac or "") != mac.upper())
    if net0 is None or wrong_mac or (net0.bridge, net0.tag) != (desired.bridge, desired.vlan):
        changes["net0"] = net0_value(raw.get("net0"), desired, mac)
    return changes


MANAGED_HOTPLUG = frozenset({"cpu", "memory"})


def hotplug_value(current: tuple[str, ...], wanted: tuple[str, ...]) -> str | None:
    """``hotplug`` with the spec's cpu/memory features and the user's others kept (network,
    disk, usb... as PVE or the user set them), or None when it needs no change."""
    features = (set(current) - MANAGED_HOTPLUG) | set(wanted)
    if features == set(current):
        return None
    order = ("network", "disk", "usb", "cloudinit", "cpu", "memory")
    return ",".join(f for f in order if f in features) or "0"


def held_for_restart(raw: Mapping[str, str], changes: Mapping[str, str]) -> tuple[str, ...]:
    """The keys of ``changes`` that wait until the VM is stopped when a restart follows.

    qemu-server hotplugs ``vcpus`` and ``memory`` into a running VM with those features at
    once: fewer vCPUs or less memory would be taken from the guest before its node is drained
    (and a DIMM the guest keeps fails the update: "error unplug memory module"), and more
    vCPUs than the running ``cores`` allow fail it ("you can't add more vcpus than maxcpus":
    the new ``cores`` only counts after the restart). ``restart_vm`` writes them while the VM
    is stopped."""
    current = parse_config({**raw, "digest": ""})
    held: list[str] = []
    if "cpu" in current.hotplug and "vcpus" in changes:
        maxcpus = current.cores * current.sockets
        if not (current.vcpus or maxcpus) <= int(changes["vcpus"]) <= maxcpus:
            held.append("vcpus")
    memory = int(changes.get("memory", current.memory_mib))
    if "memory" in current.hotplug and memory < current.memory_mib:
        held.append("memory")
    return tuple(held)


def seed_attached(raw: Mapping[str, str], volid: str) -> bool:
    """Whether the seed drive holds ``volid``."""
    value = raw.get(SEED_DRIVE, "")
    return value.split(",", 1)[0] == volid
