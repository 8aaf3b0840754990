"""The firewall plan: what to create, change and delete so OPNsense holds what the lab wants.

``plan_network(spec, inventory)`` compares the desired objects with what was read. Objects
carrying the lab's mark are the lab's: changed when their fields differ, deleted when the spec
no longer has them. Every other object is foreign and never touched; a foreign one in the way of
a lab object (same alias name, VLAN tag, host name or reservation) is an error naming how to
hand it over. The plan also judges the tool's own path (its source to the API port) under the
rules it would leave: ``lockout`` is that verdict. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Literal

from homelab.core.network import assign as assign_mod
from homelab.core.network import desired as desired_mod
from homelab.core.network.objects import (
    MODULES,
    Inventory,
    Module,
    NetObject,
    Observed,
    mark,
)
from homelab.core.network.verdicts import Packet, Verdict, alias_table, evaluate
from homelab.core.spec.models import LabSpec

Op = Literal["create", "update", "delete"]
SUPPORTED = "26.1 and 26.7 or later"
# Fields whose text is a list: compared as sets (the API may reorder or re-join them).
LIST_FIELDS = frozenset({"content"})


@dataclass(frozen=True)
class NetChange:
    """One write: create (fields), update (the fields that differ, old -> new) or delete."""

    op: Op
    module: Module
    label: str
    fields: dict[str, str]
    uuid: str | None = None
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    summary: str = ""


@dataclass(frozen=True)
class NetPlan:
    """The writes, in apply order, and what blocks them."""

    lab: str
    version: str
    dhcp: str
    changes: tuple[NetChange, ...]
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    lockout: Verdict | None = None
    unchanged: int = 0
    tool_interface: str = ""  # the interface homelab reaches the API through

    @property
    def reassigns_tool_interface(self) -> bool:
        """The plan changes or removes the assignment of the interface the tool comes in on."""
        return any(
            c.module == "assign" and c.op != "create" and c.uuid == self.tool_interface
            for c in self.changes
        )

    @property
    def modules(self) -> list[Module]:
        """The modules with a write: each gets one apply/reconfigure."""
        touched = {change.module for change in self.changes}
        return [module for module in MODULES if module in touched]

    @property
    def blocks_tool_path(self) -> bool:
        """The plan changes the filter (rules or aliases) and the tool's path ends up blocked."""
        touches = any(change.module in ("rule", "alias") for change in self.changes)
        return touches and self.lockout is not None and not self.lockout.allowed

    @property
    def locks_out(self) -> bool:
        """The plan blocks the tool's path, or (re)assigns the interface it crosses."""
        return self.blocks_tool_path or self.reassigns_tool_interface

    @property
    def is_noop(self) -> bool:
        return not self.changes


def rollback_mode(version: str) -> Literal["savepoint", "backup"] | None:
    """26.1.x: savepoint/apply/cancelRollback; 26.7 and later: backup download + revert."""
    parts = version.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1].split("_")[0])
    except (ValueError, IndexError):
        return None
    if (major, minor) >= (26, 7):
        return "backup"
    if (major, minor) >= (26, 1):
        return "savepoint"
    return None


def _natural_key(module: Module, dhcp: str) -> Callable[[dict[str, str]], tuple[str, ...]] | None:
    keys: dict[str, tuple[str, ...]] = {
        "vlan": ("if", "tag"),
        "alias": ("name",),
        "host": ("hostname", "domain"),
        "dhcp": ("hw_address",) if dhcp == "kea" else ("hwaddr",),
    }
    names = keys.get(module)
    if names is None:
        return None
    return lambda fields: tuple(fields.get(name, "").lower() for name in names)


def _items(text: str) -> list[str]:
    return sorted(item.strip() for item in text.replace(",", "\n").split("\n") if item.strip())


def _same(name: str, want: str, have: str) -> bool:
    if name in LIST_FIELDS:
        return _items(want) == _items(have)
    if name in ("hwaddr", "hw_address"):
        return want.lower() == have.lower()
    return want == have


def _diff(want: NetObject, have: Observed) -> dict[str, tuple[str, str]]:
    return {
        name: (have.fields.get(name, ""), value)
        for name, value in want.fields.items()
        if not _same(name, value, have.fields.get(name, ""))
    }


def _wanted(spec: LabSpec, inventory: Inventory, errors: list[str]) -> list[NetObject]:
    objects = desired_mod.desired_objects(spec, inventory.dhcp)
    wants_dhcp = desired_mod.dhcp_wanted(spec)
    if wants_dhcp and inventory.dhcp not in ("dnsmasq", "kea"):
        server = "ISC DHCP" if inventory.dhcp == "isc" else "no DHCP server"
        errors.append(
            f"opnsense.networks: {', '.join(wants_dhcp)} ask for DHCP reservations, but the "
            f"firewall runs {server}: ISC DHCP has no API for static mappings (a plugin since "
            "26.1 with leases only); enable Dnsmasq (the default since 26.1) or Kea, or set "
            "dhcp: false"
        )
    if inventory.dhcp != "kea":
        return objects
    found = []
    for obj in objects:
        if obj.module == "dhcp":
            cidr = obj.fields["subnet"]
            subnet = inventory.kea_subnets.get(cidr)
            if subnet is None:
                missing = f"Kea has no DHCPv4 subnet {cidr}: add it (Services > Kea DHCP)"
                if missing not in errors:
                    errors.append(missing)
                continue
            obj = NetObject("dhcp", obj.label, {**obj.fields, "subnet": subnet}, obj.summary)
        found.append(obj)
    return found


def plan_network(spec: LabSpec, inventory: Inventory) -> NetPlan:
    """The changes that make the firewall hold ``spec``'s objects; foreign ones kept."""
    errors: list[str] = []
    if rollback_mode(inventory.version) is None:
        errors.append(f"OPNsense {inventory.version} is not supported (supported: {SUPPORTED})")
    wanted = _wanted(spec, inventory, errors)
    changes: list[NetChange] = []
    unchanged = 0
    assignments = assign_mod.plan_assignments(spec, inventory)
    for module in MODULES:
        if module == "assign":
            found, same = assignments.changes, assignments.unchanged
            errors.extend(assignments.errors)
        else:
            module_wanted = [obj for obj in wanted if obj.module == module]
            found, same = _plan_module(spec.name, module, module_wanted, inventory, errors)
        changes.extend(found)
        unchanged += same
    plan = NetPlan(
        spec.name, inventory.version, inventory.dhcp, tuple(changes), unchanged=unchanged
    )
    verdict = tool_path_verdict(spec, inventory, plan)
    assert spec.opnsense is not None
    tool_interface = spec.opnsense.networks[desired_mod.tool_network(spec)].interface
    return NetPlan(
        plan.lab,
        plan.version,
        plan.dhcp,
        plan.changes,
        tuple(errors),
        tuple(assignments.notes),
        verdict,
        unchanged,
        tool_interface,
    )


def _plan_module(
    lab: str, module: Module, wanted: list[NetObject], inventory: Inventory, errors: list[str]
) -> tuple[list[NetChange], int]:
    observed = inventory.of(module)
    owned: dict[str, Observed] = {}
    changes: list[NetChange] = []
    for obj in observed:
        if obj.owned_by(lab) and obj.owner is not None:
            if obj.owner[1] in owned:  # a duplicate (e.g. a cut-short apply made it twice)
                changes.append(
                    NetChange("delete", module, obj.owner[1], {}, obj.uuid, {}, "duplicate")
                )
            else:
                owned[obj.owner[1]] = obj
    key_of = _natural_key(module, inventory.dhcp)
    foreign = [obj for obj in observed if not obj.owned_by(lab)]
    unchanged = 0
    for want in wanted:
        have = owned.pop(want.label, None)
        if have is None:
            clash = _clash(key_of, want, foreign)
            if clash is not None:
                errors.append(
                    f"{module} {want.label}: a {module} not owned by the lab is in the way "
                    f"(uuid {clash.uuid}); homelab never changes it: delete it, or adopt it by "
                    f"setting its description to '{mark(lab, want.label)}'"
                )
                continue
            changes.append(
                NetChange("create", module, want.label, want.fields, None, {}, want.summary)
            )
            continue
        diff = _diff(want, have)
        if diff:
            changes.append(
                NetChange("update", module, want.label, want.fields, have.uuid, diff, want.summary)
            )
        else:
            unchanged += 1
    for label, gone in owned.items():
        changes.append(NetChange("delete", module, label, {}, gone.uuid, {}, "not in the spec"))
    return changes, unchanged


def _clash(
    key_of: Callable[[dict[str, str]], tuple[str, ...]] | None,
    want: NetObject,
    foreign: list[Observed],
) -> Observed | None:
    if key_of is None:
        return None
    mine = key_of(want.fields)
    return next((obj for obj in foreign if key_of(obj.fields) == mine), None)


def planned(inventory: Inventory, plan: NetPlan, module: Module) -> list[Observed]:
    """The objects of ``module`` the firewall would hold once ``plan`` is applied."""
    gone = {c.uuid for c in plan.changes if c.module == module and c.op != "create"}
    kept = [obj for obj in inventory.of(module) if obj.uuid not in gone]
    made = [
        Observed(module, change.uuid or f"new:{change.label}", change.fields)
        for change in plan.changes
        if change.module == module and change.op != "delete"
    ]
    return kept + made


def tool_packet(spec: LabSpec) -> Packet:
    """The tool's own path: its source to the API port, entering the interface it reaches."""
    assert spec.opnsense is not None
    net = desired_mod.tool_network(spec)
    address = desired_mod.api_address(spec) or str(spec.networks[net].gateway)
    return Packet(
        interface=spec.opnsense.networks[net].interface,
        source=spec.opnsense.source,
        destination=IPv4Address(address),
        port=spec.opnsense.port,
        protocol="tcp",
    )


def tool_path_verdict(spec: LabSpec, inventory: Inventory, plan: NetPlan) -> Verdict:
    """Whether the rules left after ``plan`` still let the tool reach the API."""
    rules = planned(inventory, plan, "rule")
    aliases = alias_table(planned(inventory, plan, "alias"))
    return evaluate(rules, aliases, tool_packet(spec))
