"""Reading the values providers store: sizes, Proxmox ``ipconfigN`` strings, DNS lists, SSH
keys and tags. Shared by the provider readers. Pure.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from ipaddress import AddressValueError, IPv4Address, IPv4Interface, NetmaskValueError
from typing import Any

from homelab.core.onboarding.model import ImportedVm
from homelab.core.spec.checks import ssh_key_problem

__all__ = [
    "IpConfig",
    "as_int",
    "as_text",
    "first_block",
    "gib_from_size",
    "parse_ipconfig",
    "read_dns",
    "read_keys",
    "read_tags",
]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNIT_MIB = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def as_text(value: Any) -> str | None:
    """A non-empty string, trimmed, or None."""
    return value.strip() or None if isinstance(value, str) else None


def as_int(value: Any) -> int | None:
    """An integer (also from digits in a string), or None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def first_block(value: Any) -> dict[str, Any]:
    """The object of a one-element SDKv2 block (a list of one object), or {}."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return value if isinstance(value, dict) else {}


def gib_from_size(value: Any, *, bare_unit: str = "g") -> int | None:
    """``"32G"``, ``"3584M"``, ``"1T"``, ``32`` (``bare_unit``) -> whole GiB, rounded up as
    homelab reads a disk's size from Proxmox (a 3.5 GiB disk is 4 GiB); None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        mib = float(value) * _UNIT_MIB[bare_unit]
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        mib = float(match.group(1)) * _UNIT_MIB[(match.group(2) or bare_unit).lower()]
    else:
        return None
    return math.ceil(mib / 1024) if mib > 0 else None


@dataclass(frozen=True)
class IpConfig:
    """The IPv4 half of a Proxmox ``ipconfigN``: a static address, ``dhcp``, or nothing."""

    mode: str  # "static", "dhcp" or "none"
    address: IPv4Interface | None = None
    gateway: IPv4Address | None = None
    problem: str | None = None


def parse_ipconfig(text: str | None) -> IpConfig:
    """``ip=10.0.20.21/24,gw=10.0.20.1,ip6=dhcp`` -> static 10.0.20.21/24 via 10.0.20.1."""
    fields: dict[str, str] = {}
    for part in (text or "").split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return static_ipv4(fields.get("ip"), fields.get("gw"))


def static_ipv4(address: str | None, gateway: str | None) -> IpConfig:
    """An IPv4 address in CIDR notation (or ``dhcp``) and its gateway, as an IpConfig."""
    if not address:
        return IpConfig("none")
    if address.lower() == "dhcp":
        return IpConfig("dhcp")
    if "/" not in address:
        return IpConfig("none", problem=f"IPv4 address {address!r} has no prefix length")
    try:
        interface = IPv4Interface(address)
    except (AddressValueError, NetmaskValueError, ValueError):
        return IpConfig("none", problem=f"{address!r} is not an IPv4 address with a prefix")
    gw: IPv4Address | None = None
    if gateway:
        try:
            gw = IPv4Address(gateway)
        except (AddressValueError, ValueError):
            return IpConfig("none", problem=f"gateway {gateway!r} is not an IPv4 address")
    return IpConfig("static", interface, gw)


def read_dns(vm: ImportedVm, servers: list[str], domains: list[str], where: str) -> None:
    """Put the IPv4 DNS servers and the search domains on ``vm``; other servers become notes."""
    for server in servers:
        try:
            address = IPv4Address(server)
        except (AddressValueError, ValueError):
            vm.notes.append(f"{where}: DNS server {server!r} is not an IPv4 address: left out")
            continue
        if address not in vm.dns:
            vm.dns.append(address)
    for domain in domains:
        if domain not in vm.search_domains:
            vm.search_domains.append(domain)


def split_words(text: Any) -> list[str]:
    """``"1.1.1.1 8.8.8.8"`` or ``"a, b"`` -> the words."""
    if isinstance(text, list):
        return [str(word).strip() for word in text if str(word).strip()]
    if not isinstance(text, str):
        return []
    return [word for word in re.split(r"[\s,;]+", text) if word]


def read_keys(vm: ImportedVm, keys: list[str], where: str) -> None:
    """Put the valid SSH public keys on ``vm``; a line that is not one becomes a note (the line
    itself is never quoted: it could be anything, a private key included)."""
    for raw in keys:
        line = " ".join(raw.split())
        if not line:
            continue
        problem = ssh_key_problem(line)
        if problem is not None:
            vm.notes.append(f"{where}: a line is not imported ({problem})")
        elif line not in vm.ssh_keys:
            vm.ssh_keys.append(line)


def read_tags(value: Any) -> list[str]:
    """Tags as PVE and the providers store them: ``"a;b"``, ``"a,b"`` or a list."""
    return [tag.lower() for tag in split_words(value)]
