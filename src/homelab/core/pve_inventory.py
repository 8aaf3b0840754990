"""Parsers of the replies ``homelab doctor`` and ``init --from-proxmox`` read beside the tool's
own calls (pure).

``GET /version``, ``GET /storage`` (the datacenter's storage configuration: content types,
shared, nodes, disabled) and ``GET /nodes/{node}/network?type=any_bridge`` (a node's bridges:
VLAN aware or not, ports, address, gateway, MTU). Built on
``homelab.core.pve_reply``'s value parsers; a reply of the wrong shape is a MalformedReply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from homelab.core.pve_reply import MalformedReply, pve_bool, pve_list, reply_list, reply_object
from homelab.core.storage_facts import PBS_KEYS, StorageFacts

__all__ = [
    "PBS_KEYS",
    "Bridge",
    "StorageFacts",
    "parse_bridges",
    "parse_storage_configs",
    "parse_version",
]

DEFAULT_MTU = 1500  # a Linux bridge without an `mtu` line


@dataclass(frozen=True)
class Bridge:
    """A node's Linux (or OVS) bridge, as the node's network configuration has it."""

    name: str
    vlan_aware: bool
    ports: tuple[str, ...]
    address: IPv4Interface | None
    gateway: IPv4Address | None
    mtu: int
    active: bool
    vids: str | None = None
    comments: str | None = None
    #: an Open vSwitch bridge: it tags a port itself (any VLAN, no vmbr0v20 needed)
    ovs: bool = False


def _text(entry: Mapping[str, Any], key: str, what: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedReply(f"Proxmox sent {what} without {key!r}")
    return value


def parse_version(payload: Any) -> str:
    """``GET /version`` -> ``8.2.4``."""
    return _text(reply_object(payload, "/version"), "version", "/version")


def parse_storage_configs(payload: Any) -> dict[str, StorageFacts]:
    """``GET /storage`` -> each storage visible to the token, by id."""
    found = {}
    for entry in reply_list(payload, "/storage"):
        storage = _text(entry, "storage", "a storage")
        nodes = pve_list(entry.get("nodes"), "nodes")
        found[storage] = StorageFacts(
            storage=storage,
            content=frozenset(pve_list(entry.get("content"), "content")),
            shared=pve_bool(entry.get("shared", 0), "shared"),
            nodes=frozenset(nodes) if nodes else None,
            disabled=pve_bool(entry.get("disable", 0), "disable"),
            type=str(entry.get("type") or ""),
            pbs=tuple(
                (key, str(entry[key])) for key in PBS_KEYS if entry.get(key) not in (None, "")
            ),
        )
    return found


def parse_bridges(payload: Any) -> tuple[Bridge, ...]:
    """``GET /nodes/{node}/network`` -> its bridges (other interfaces are skipped), by name."""
    found = []
    for entry in reply_list(payload, "/nodes/{node}/network"):
        if entry.get("type") not in ("bridge", "OVSBridge"):
            continue
        name = _text(entry, "iface", "a network interface")
        found.append(
            Bridge(
                name=name,
                vlan_aware=pve_bool(entry.get("bridge_vlan_aware", 0), "bridge_vlan_aware"),
                ports=tuple(str(entry.get("bridge_ports") or entry.get("ovs_ports") or "").split()),
                address=_interface(entry, name),
                gateway=_address(entry.get("gateway"), f"{name} gateway"),
                mtu=_mtu(entry.get("mtu"), name),
                active=pve_bool(entry.get("active", 0), "active"),
                vids=str(entry["bridge_vids"]) if entry.get("bridge_vids") else None,
                comments=str(entry["comments"]).strip() or None if entry.get("comments") else None,
                ovs=entry.get("type") == "OVSBridge",
            )
        )
    return tuple(sorted(found, key=lambda bridge: bridge.name))


def _interface(entry: Mapping[str, Any], name: str) -> IPv4Interface | None:
    cidr = entry.get("cidr")
    if not cidr and entry.get("address") and entry.get("netmask"):
        cidr = f"{entry['address']}/{entry['netmask']}"
    if not cidr:
        return None
    try:
        return IPv4Interface(str(cidr))
    except ValueError:
        raise MalformedReply(f"Proxmox sent bridge {name} with address {cidr!r}") from None


def _address(value: Any, what: str) -> IPv4Address | None:
    if not value:
        return None
    try:
        return IPv4Address(str(value))
    except ValueError:
        raise MalformedReply(f"Proxmox sent {what} {value!r}") from None


def _mtu(value: Any, name: str) -> int:
    if value in (None, ""):
        return DEFAULT_MTU
    try:
        return int(str(value))
    except ValueError:
        raise MalformedReply(f"Proxmox sent bridge {name} with MTU {value!r}") from None
