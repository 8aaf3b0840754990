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
    if current.cores != desired.cores:
        changes["cores"] = str(desired.cores)
    if current.sockets != 1:
        changes["sockets"] = "1"
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


def seed_attached(raw: Mapping[str, str], volid: str) -> bool:
    """Whether the seed drive holds ``volid``."""
    value = raw.get(SEED_DRIVE, "")
    return value.split(",", 1)[0] == volid
