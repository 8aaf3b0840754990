"""Parsers of the replies ``homelab doctor`` reads beside the tool's own calls (pure).

``GET /version`` and ``GET /storage`` (the datacenter's storage configuration: content types,
shared, nodes, disabled). Built on
``homelab.core.pve_reply``'s value parsers; a reply of the wrong shape is a MalformedReply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homelab.core.pve_reply import MalformedReply, pve_bool, pve_list, reply_list, reply_object
from homelab.core.storage_facts import PBS_KEYS, StorageFacts

__all__ = ["PBS_KEYS", "StorageFacts", "parse_storage_configs", "parse_version"]


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
