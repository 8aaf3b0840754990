"""Typed views of Proxmox API replies, parsed tolerantly.

Proxmox's Perl encoder sends booleans as 0/1 and some numbers as strings (``nextid`` is
``"100"``); optional fields are simply absent. Every parser here accepts all of those forms and
never crashes on an unexpected type: a value that cannot be read becomes ``None``. Pure
functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Interface
from typing import Any

__all__ = [
    "ClusterResource",
    "NodeInfo",
    "NodeStatus",
    "PveVersion",
    "StorageItem",
    "StorageStatus",
    "VmStatus",
    "as_bool",
    "as_float",
    "as_int",
    "parse_config",
    "parse_interfaces",
    "split_list",
]


def as_int(value: Any) -> int | None:
    """An int from 5, 5.0, "5"; None for anything else."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_bool(value: Any) -> bool:
    """Proxmox booleans: 1/0, "1"/"0", true/false; absent means false."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def as_str(value: Any) -> str | None:
    return None if value is None else str(value)


def split_list(value: Any) -> tuple[str, ...]:
    """PVE lists (tags, content types) are separated by ``;``, ``,`` or whitespace."""
    if not value:
        return ()
    return tuple(item for item in re.split(r"[;,\s]+", str(value)) if item)


@dataclass(frozen=True)
class PveVersion:
    version: str
    release: str
    repoid: str

    @property
    def major(self) -> int:
        return as_int(self.version.split(".")[0]) or 0

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> PveVersion:
        return cls(
            str(raw.get("version", "")), str(raw.get("release", "")), str(raw.get("repoid", ""))
        )


@dataclass(frozen=True)
class ClusterResource:
    """One entry of ``/cluster/resources`` (a guest, node, storage, pool or SDN zone)."""

    id: str
    type: str
    node: str | None = None
    vmid: int | None = None
    name: str | None = None
    status: str | None = None
    template: bool = False
    tags: tuple[str, ...] = ()
    lock: str | None = None
    pool: str | None = None
    storage: str | None = None
    maxmem: int | None = None
    maxdisk: int | None = None
    maxcpu: float | None = None
    hastate: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ClusterResource:
        return cls(
            id=str(raw.get("id", "")),
            type=str(raw.get("type", "")),
            node=as_str(raw.get("node")),
            vmid=as_int(raw.get("vmid")),
            name=as_str(raw.get("name")),
            status=as_str(raw.get("status")),
            template=as_bool(raw.get("template")),
            tags=split_list(raw.get("tags")),
            lock=as_str(raw.get("lock")) or None,
            pool=as_str(raw.get("pool")),
            storage=as_str(raw.get("storage")),
            maxmem=as_int(raw.get("maxmem")),
            maxdisk=as_int(raw.get("maxdisk")),
            maxcpu=as_float(raw.get("maxcpu")),
            hastate=as_str(raw.get("hastate")),
        )


@dataclass(frozen=True)
class NodeInfo:
    """One entry of ``/nodes``."""

    node: str
    status: str
    maxmem: int | None = None
    mem: int | None = None
    maxcpu: int | None = None
    cpu: float | None = None
    uptime: int | None = None
    ssl_fingerprint: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> NodeInfo:
        return cls(
            node=str(raw.get("node", "")),
            status=str(raw.get("status", "unknown")),
            maxmem=as_int(raw.get("maxmem")),
            mem=as_int(raw.get("mem")),
            maxcpu=as_int(raw.get("maxcpu")),
            cpu=as_float(raw.get("cpu")),
            uptime=as_int(raw.get("uptime")),
            ssl_fingerprint=as_str(raw.get("ssl_fingerprint")),
        )


@dataclass(frozen=True)
class VmStatus:
    """``/nodes/{node}/qemu/{vmid}/status/current``: the live state of one VM."""

    vmid: int
    status: str
    qmpstatus: str | None = None
    name: str | None = None
    lock: str | None = None
    template: bool = False
    agent: bool = False
    uptime: int | None = None
    maxmem: int | None = None
    ha_managed: bool = False

    @property
    def running(self) -> bool:
        return self.status == "running"

    @classmethod
    def parse(cls, raw: Mapping[str, Any], vmid: int) -> VmStatus:
        ha = raw.get("ha")
        return cls(
            vmid=as_int(raw.get("vmid")) or vmid,
            status=str(raw.get("status", "unknown")),
            qmpstatus=as_str(raw.get("qmpstatus")),
            name=as_str(raw.get("name")),
            lock=as_str(raw.get("lock")) or None,
            template=as_bool(raw.get("template")),
            agent=as_bool(raw.get("agent")),
            uptime=as_int(raw.get("uptime")),
            maxmem=as_int(raw.get("maxmem")),
            ha_managed=as_bool(ha.get("managed")) if isinstance(ha, Mapping) else False,
        )


@dataclass(frozen=True)
class StorageItem:
    """One volume of ``/nodes/{node}/storage/{storage}/content``."""

    volid: str
    content: str | None = None
    format: str | None = None
    size: int | None = None
    vmid: int | None = None
    ctime: int | None = None
    notes: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> StorageItem:
        return cls(
            volid=str(raw.get("volid", "")),
            content=as_str(raw.get("content")),
            format=as_str(raw.get("format")),
            size=as_int(raw.get("size")),
            vmid=as_int(raw.get("vmid")),
            ctime=as_int(raw.get("ctime")),
            notes=as_str(raw.get("notes")),
        )


@dataclass(frozen=True)
class StorageStatus:
    """``/nodes/{node}/storage/{storage}/status``; sizes in bytes."""

    storage: str
    type: str | None
    content: tuple[str, ...]
    active: bool
    enabled: bool
    shared: bool
    total: int | None
    used: int | None
    avail: int | None

    @classmethod
    def parse(cls, raw: Mapping[str, Any], storage: str) -> StorageStatus:
        return cls(
            storage=str(raw.get("storage", storage)),
            type=as_str(raw.get("type")),
            content=split_list(raw.get("content")),
            active=as_bool(raw.get("active")),
            enabled=as_bool(raw.get("enabled", 1)),
            shared=as_bool(raw.get("shared")),
            total=as_int(raw.get("total")),
            used=as_int(raw.get("used")),
            avail=as_int(raw.get("avail")),
        )


@dataclass(frozen=True)
class NodeStatus:
    """``/nodes/{node}/status``: versions, load and memory of one node."""

    node: str
    pveversion: str | None
    kernel: str | None
    cpu: float | None
    cpus: int | None
    memory_total: int | None
    memory_used: int | None
    uptime: int | None

    @classmethod
    def parse(cls, raw: Mapping[str, Any], node: str) -> NodeStatus:
        memory = _mapping(raw.get("memory"))
        cpuinfo = _mapping(raw.get("cpuinfo"))
        return cls(
            node=node,
            pveversion=as_str(raw.get("pveversion")),
            kernel=as_str(_mapping(raw.get("current-kernel")).get("release")),
            cpu=as_float(raw.get("cpu")),
            cpus=as_int(cpuinfo.get("cpus")),
            memory_total=as_int(memory.get("total")),
            memory_used=as_int(memory.get("used")),
            uptime=as_int(raw.get("uptime")),
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_config(raw: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """A VM config as ``{key: text}`` (numbers become their decimal text) and its digest."""
    digest = str(raw.get("digest", ""))
    config = {str(k): _config_text(v) for k, v in raw.items() if k != "digest" and v is not None}
    return config, digest


def _config_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_interfaces(raw: Any) -> dict[str, tuple[IPv4Interface, ...]]:
    """IPv4 addresses per interface from the guest agent's ``network-get-interfaces``.

    ``lo`` and loopback/link-local addresses are left out: they say nothing about how to reach
    the guest. An interface with no usable IPv4 address maps to an empty tuple.
    """
    result = raw.get("result") if isinstance(raw, Mapping) else raw
    interfaces: dict[str, tuple[IPv4Interface, ...]] = {}
    for entry in result if isinstance(result, list) else []:
        if not isinstance(entry, Mapping) or entry.get("name") in (None, "lo"):
            continue
        interfaces[str(entry["name"])] = tuple(_ipv4_addresses(entry.get("ip-addresses")))
    return interfaces


def _ipv4_addresses(addresses: Any) -> list[IPv4Interface]:
    found: list[IPv4Interface] = []
    for item in addresses if isinstance(addresses, list) else []:
        if not isinstance(item, Mapping) or item.get("ip-address-type") != "ipv4":
            continue
        try:
            address = IPv4Interface(f"{item.get('ip-address')}/{as_int(item.get('prefix')) or 32}")
        except ValueError:
            continue
        if not (address.ip.is_loopback or address.ip.is_link_local):
            found.append(address)
    return found
