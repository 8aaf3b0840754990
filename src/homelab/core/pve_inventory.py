"""Parsers of the replies ``homelab doctor`` reads beside the tool's own calls (pure).

``GET /version``, ``GET /access/permissions?path=...``, ``GET /storage`` (the datacenter's
storage configuration) and the unfiltered ``GET /cluster/resources`` (guests of every kind,
containers included, and the node and storage entries capacity is read from). Built on
``homelab.core.pve_reply``'s value parsers; a reply of the wrong shape is a MalformedReply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homelab.core.pve_reply import MalformedReply, pve_bool, pve_int, pve_list, pve_tags, unwrap

__all__ = [
    "Guest",
    "StorageFacts",
    "parse_guests",
    "parse_permissions",
    "parse_storage_configs",
    "parse_version",
    "resource_entries",
]


@dataclass(frozen=True)
class StorageFacts:
    """A storage as ``GET /storage`` describes it; ``nodes`` None: on every node."""

    storage: str
    content: frozenset[str]
    shared: bool = False
    nodes: frozenset[str] | None = None
    disabled: bool = False

    def on_node(self, node: str) -> bool:
        return not self.disabled and (self.nodes is None or node in self.nodes)


@dataclass(frozen=True)
class Guest:
    """A VM or container of the cluster (``/cluster/resources``)."""

    vmid: int
    node: str
    kind: str  # "qemu" or "lxc"
    name: str | None = None
    tags: tuple[str, ...] = ()
    template: bool = False


def _mapping(payload: Any, what: str) -> Mapping[str, Any]:
    data = unwrap(payload)
    if not isinstance(data, Mapping):
        raise MalformedReply(f"Proxmox sent {what} that is not an object")
    return data


def resource_entries(payload: Any, what: str = "/cluster/resources") -> list[Mapping[str, Any]]:
    """The entries of a list reply (each an object)."""
    data = unwrap(payload)
    if not isinstance(data, Sequence) or isinstance(data, str | bytes):
        raise MalformedReply(f"Proxmox sent {what} that is not a list")
    if not all(isinstance(entry, Mapping) for entry in data):
        raise MalformedReply(f"Proxmox sent {what} with an entry that is not an object")
    return list(data)


def _text(entry: Mapping[str, Any], key: str, what: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedReply(f"Proxmox sent {what} without {key!r}")
    return value


def parse_version(payload: Any) -> str:
    """``GET /version`` -> ``8.2.4``."""
    return _text(_mapping(payload, "/version"), "version", "/version")


def parse_permissions(payload: Any, path: str) -> frozenset[str]:
    """``GET /access/permissions?path=P`` -> the privileges held on ``P`` (none: empty)."""
    data = _mapping(payload, "/access/permissions")
    privs = data.get(path, {})
    if not isinstance(privs, Mapping):
        raise MalformedReply(f"Proxmox sent the permissions of {path} that are not an object")
    return frozenset(str(priv) for priv, held in privs.items() if pve_bool(held, priv))


def parse_storage_configs(payload: Any) -> dict[str, StorageFacts]:
    """``GET /storage`` -> each storage visible to the token, by id."""
    found = {}
    for entry in resource_entries(payload, "/storage"):
        storage = _text(entry, "storage", "a storage")
        nodes = pve_list(entry.get("nodes"), "nodes")
        found[storage] = StorageFacts(
            storage=storage,
            content=frozenset(pve_list(entry.get("content"), "content")),
            shared=pve_bool(entry.get("shared", 0), "shared"),
            nodes=frozenset(nodes) if nodes else None,
            disabled=pve_bool(entry.get("disable", 0), "disable"),
        )
    return found


def parse_guests(entries: Sequence[Mapping[str, Any]]) -> tuple[Guest, ...]:
    """The VMs and containers among ``/cluster/resources`` entries, by VMID."""
    guests = []
    for entry in entries:
        kind = entry.get("type")
        if kind not in {"qemu", "lxc"}:
            continue
        name = entry.get("name")
        guests.append(
            Guest(
                vmid=pve_int(entry.get("vmid"), "vmid"),
                node=_text(entry, "node", "a guest resource"),
                kind=str(kind),
                name=str(name) if isinstance(name, str | int) and name != "" else None,
                tags=pve_tags(entry.get("tags")),
                template=pve_bool(entry.get("template", 0), "template"),
            )
        )
    return tuple(sorted(guests, key=lambda guest: guest.vmid))
