"""Interface assignments: each routed network's VLAN device assigned to the spec's interface.

OPNsense 26.7 added ``interfaces/assignment`` (AssignmentController over the NetworkInterface
model); 26.1 has no API for it, so there the plan only notes what to assign by hand. The lab's
assignment is its VLAN device on the spec's ``interface``, enabled, unlocked (a locked one
cannot be removed), a static IPv4 address: the network's gateway with the network's prefix. Its
description carries the lab's compact mark (an interface description allows only letters,
digits and '_').

Facts from upstream that shape the plan:
- the API names a new assignment itself: the lowest free ``optN`` among the assignments the
  configuration holds (``NetworkInterface::serializeToConfig``), so homelab creates in
  ascending order and only the name the firewall will give; a deleted one stays taken until
  the reconfigure;
- the item's id is the interface name (lan, opt1), not a uuid;
- ``delItem`` refuses a locked interface ("Interface locked, unset lock first before removal");
- ``reconfigure`` removes the rules on a deleted interface with it (``cleanRules``).

An assignment made by hand (not the lab's) is never touched: when it already holds the
network's gateway it is left as it is (a note), otherwise it is a plan error.

Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from homelab.core.network.objects import Inventory, Observed, compact, compact_mark

if TYPE_CHECKING:
    from homelab.core.network.plan import NetChange
    from homelab.core.spec.models import LabSpec

_OPT = re.compile(r"^opt(\d+)$")


def new_device(label: str) -> str:
    """Stands for the device of the lab's VLAN ``label`` until the apply has made it."""
    return f"<VLAN {label}>"


def has_assignment_api(version: str) -> bool:
    """``interfaces/assignment`` exists from 26.7 on."""
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1].split("_")[0])) >= (26, 7)
    except (ValueError, IndexError):
        return False


@dataclass
class AssignPlan:
    """The assignment changes, and what the plan says about them."""

    changes: list[NetChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unchanged: int = 0


def _wanted(spec: LabSpec, inventory: Inventory) -> dict[str, tuple[str, dict[str, str], str]]:
    """interface -> (network, fields, summary), in the spec's order."""
    assert spec.opnsense is not None
    devices = vlan_devices(spec.name, inventory)
    found = {}
    for name, routed in spec.opnsense.networks.items():
        net = spec.networks[name]
        address = f"{net.gateway}/{net.cidr.prefixlen}"
        fields = {
            "descr": compact_mark(spec.name, name),
            "if": devices.get(name, new_device(name)),
            "enable": "1",
            "lock": "0",
            "type4": "staticv4",
            "ipaddr": address,
        }
        summary = f"VLAN {net.vlan} on {routed.parent} as {routed.interface}, {address}"
        found[routed.interface] = (name, fields, summary)
    return found


def vlan_devices(lab: str, inventory: Inventory) -> dict[str, str]:
    """network -> the device name of the lab's VLAN for it (vlan01...), as the firewall has it.
    A search row shows an assigned device as ``vlan01 [DESCR]``."""
    found = {}
    for vlan in inventory.of("vlan"):
        if vlan.owned_by(lab) and vlan.owner is not None:
            found[vlan.owner[1]] = vlan.fields.get("vlanif", "").split(" [")[0]
    return found


def hand_steps(spec: LabSpec) -> str:
    """What to assign by hand where there is no API (26.1)."""
    assert spec.opnsense is not None
    steps = []
    for name, routed in spec.opnsense.networks.items():
        net = spec.networks[name]
        steps.append(
            f"VLAN {net.vlan} on {routed.parent} as {routed.interface} with "
            f"{net.gateway}/{net.cidr.prefixlen}"
        )
    return "; ".join(steps)


def plan_assignments(spec: LabSpec, inventory: Inventory) -> AssignPlan:
    """Creates, updates and deletes that give each routed network its assignment."""
    from homelab.core.network.plan import NetChange

    out = AssignPlan()
    if not has_assignment_api(inventory.version):
        out.notes.append(
            f"OPNsense {inventory.version} has no API for interface assignments (new in 26.7): "
            f"assign by hand (Interfaces > Assignments): {hand_steps(spec)}"
        )
        return out
    observed = {obj.uuid: obj for obj in inventory.of("assign")}
    wanted = _wanted(spec, inventory)
    for interface, obj in observed.items():  # the lab's, no longer wanted here
        if not obj.owned_by(spec.name) or obj.owner is None:
            continue
        label = obj.owner[1]
        want = wanted.get(interface)
        if want is not None and compact(want[0]) == label:
            continue
        if obj.fields.get("lock") == "1":
            out.errors.append(
                f"interface {interface} ({obj.fields.get('descr', '')}) is the lab's and no "
                "longer in the spec, but locked: OPNsense refuses to remove a locked interface; "
                "unset its lock (Interfaces > Assignments) and plan again"
            )
            continue
        out.changes.append(
            NetChange("delete", "assign", label, {}, interface, {}, "not in the spec")
        )
    taken = {int(m[1]) for name in observed if (m := _OPT.match(name))}
    creates = []
    for interface, (network, fields, summary) in wanted.items():
        have = observed.get(interface)
        if have is None:
            creates.append((interface, network, fields, summary))
            continue
        if not have.owned_by(spec.name) or have.owner is None or have.owner[1] != compact(network):
            if have.fields.get("ipaddr") == fields["ipaddr"]:  # made by hand, as the lab wants
                out.notes.append(
                    f"interface {interface} ({network}) was assigned by hand with "
                    f"{fields['ipaddr']}: homelab leaves it as it is; to let homelab manage it, "
                    f"set its description to '{compact_mark(spec.name, network)}'"
                )
                continue
            out.errors.append(_foreign(spec, interface, network, have))
            continue
        diff = {
            name: (have.fields.get(name, ""), value)
            for name, value in fields.items()
            if have.fields.get(name, "") != value
        }
        pending = have.fields.get("pending_action", "")
        if diff or pending:
            summary = summary if diff else f"{summary}; saved but not applied ({pending})"
            out.changes.append(
                NetChange("update", "assign", network, fields, interface, diff, summary)
            )
        else:
            out.unchanged += 1
    for interface, network, fields, summary in sorted(creates, key=lambda c: _order(c[0])):
        found = _OPT.match(interface)
        free = next(n for n in range(1, len(taken) + 2) if n not in taken)
        if found is None or int(found[1]) != free:
            out.errors.append(
                f"opnsense.networks.{network}.interface: OPNsense names a new assignment after "
                f"the lowest free optN, which is opt{free}, so homelab cannot make "
                f"{interface}: set interface: opt{free} in the spec, or assign {interface} by "
                f"hand with the description '{compact_mark(spec.name, network)}'"
            )
            continue
        taken.add(free)
        out.changes.append(NetChange("create", "assign", network, fields, interface, {}, summary))
    return out


def _order(interface: str) -> tuple[int, str]:
    found = _OPT.match(interface)
    return (int(found[1]) if found else 1 << 30, interface)


def _foreign(spec: LabSpec, interface: str, network: str, have: Observed) -> str:
    who = have.fields.get("descr", "") or interface.upper()
    return (
        f"opnsense.networks.{network}: interface {interface} is assigned to "
        f"{have.fields.get('if', '?')} ('{who}'), not by the lab; homelab never changes it: "
        f"pick a free interface in the spec, remove that assignment, or hand it over by setting "
        f"its description to '{compact_mark(spec.name, network)}'"
    )
