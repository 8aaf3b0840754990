"""Firewall objects as the API holds them, and the ownership mark the lab writes on its own.

An object is a module (which API area holds it), a label (its name within the lab) and the
fields homelab sets, as the API's text values. The lab marks each object it owns in the
module's description field: ``[homelab LAB] LABEL``. An object without the lab's mark is
foreign: it is read (rule order, conflicts, the lockout proof) but never changed. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Module = Literal["vlan", "assign", "alias", "rule", "host", "dhcp"]
MODULES: tuple[Module, ...] = ("vlan", "assign", "alias", "rule", "host", "dhcp")
MODULE_NAMES: dict[Module, str] = {
    "vlan": "VLAN",
    "assign": "interface",
    "alias": "alias",
    "rule": "rule",
    "host": "DNS override",
    "dhcp": "DHCP reservation",
}
_MARK = re.compile(r"^\[homelab (?P<lab>[a-z0-9-]+)\] (?P<label>.+)$")
# An interface's description allows only letters, digits and '_' (NetworkInterface.xml: descr
# Mask /^[a-z_0-9]{0,255}$/i), so assignments carry the compact form: homelab_LAB__LABEL.
_COMPACT = re.compile(r"^homelab_(?P<lab>[a-z0-9_]+?)__(?P<label>[A-Za-z0-9_]+)$")


def mark(lab: str, label: str) -> str:
    """The description that marks ``label`` as owned by ``lab``."""
    return f"[homelab {lab}] {label}"


def compact(name: str) -> str:
    """``name`` in the letters an interface description allows ('-' becomes '_')."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def compact_mark(lab: str, label: str) -> str:
    """The interface description that marks ``label`` as owned by ``lab``."""
    return f"homelab_{compact(lab)}__{compact(label)}"


def owner_of(description: str) -> tuple[str, str] | None:
    """(lab, label) when ``description`` carries a lab's mark (either form), else None; the
    compact form gives the lab as ``compact`` writes it."""
    found = _MARK.match(description) or _COMPACT.match(description)
    return (found["lab"], found["label"]) if found else None


@dataclass(frozen=True)
class NetObject:
    """What the lab wants one object to be: its fields as the API's text values."""

    module: Module
    label: str
    fields: dict[str, str]
    summary: str = ""

    @property
    def key(self) -> tuple[Module, str]:
        return (self.module, self.label)


@dataclass(frozen=True)
class Observed:
    """One object read from the API: its uuid, the lab that owns it (if any), its fields."""

    module: Module
    uuid: str
    fields: dict[str, str]
    owner: tuple[str, str] | None = None

    def owned_by(self, lab: str) -> bool:
        if self.owner is None:
            return False
        return self.owner[0] == (compact(lab) if self.module == "assign" else lab)


@dataclass(frozen=True)
class Inventory:
    """Everything read from the firewall in one observation, per module, in the API's order."""

    version: str
    dhcp: str  # "dnsmasq", "kea", "isc" or "none"
    objects: dict[Module, list[Observed]] = field(default_factory=dict)
    kea_subnets: dict[str, str] = field(default_factory=dict)  # CIDR -> subnet uuid

    def of(self, module: Module) -> list[Observed]:
        return self.objects.get(module, [])
