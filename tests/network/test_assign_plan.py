"""Interface assignments in the plan, pure: OPNsense's naming of new ones, the lab's own
removed (not when locked), work saved but not applied, hand-made and other labs' ones."""

from __future__ import annotations

from homelab.core.network.assign import has_assignment_api, plan_assignments
from homelab.core.network.objects import (
    Inventory,
    Module,
    Observed,
    compact_mark,
    owner_of,
)
from homelab.core.network.plan import plan_network
from homelab.core.network.render import plan_text, plan_to_dict
from homelab.core.spec.models import LabSpec
from tests.network.support import observed_as_applied


def _assignment(name: str, descr: str, device: str, address: str, **extra: str) -> Observed:
    fields = {"descr": descr, "if": device, "enable": "1", "lock": "0", "type4": "staticv4",
              "ipaddr": address, "pending_action": "", **extra}  # fmt: skip
    return Observed("assign", name, fields, owner_of(descr))


def _with(lab: LabSpec, *assignments: Observed) -> Inventory:
    objects: dict[Module, list[Observed]] = observed_as_applied(lab)  # type: ignore[assignment]
    objects["assign"] = list(assignments)
    return Inventory("26.7", "dnsmasq", objects)


def test_versions_with_the_api() -> None:
    assert [has_assignment_api(v) for v in ("26.1.2", "26.7", "26.7.1", "27.1", "x")] == [
        False, True, True, True, False]  # fmt: skip


def test_marks_of_interfaces_fit_their_description_mask() -> None:
    assert compact_mark("home-lab", "mgmt") == "homelab_home_lab__mgmt"
    assert owner_of("homelab_home_lab__mgmt") == ("home_lab", "mgmt")
    assert owner_of("MGMT") is None


def test_a_foreign_one_is_an_error_and_the_next_name_is_used(lab: LabSpec) -> None:
    dmz = _assignment("opt1", "storage", "vtnet2", "10.0.30.1/24")
    found = plan_assignments(lab, _with(lab, dmz))
    assert len(found.errors) == 1
    assert "interface opt1 is assigned to vtnet2 ('storage'), not by the lab" in found.errors[0]
    assert [(c.op, c.uuid) for c in found.changes] == [("create", "opt2")]
    fresh = plan_assignments(lab, _with(lab))
    assert [(c.op, c.uuid) for c in fresh.changes] == [("create", "opt1"), ("create", "opt2")]
    assert fresh.changes[0].fields["if"] == "vlan01"  # the lab's VLAN as the firewall names it


def test_a_gap_in_opt_names_is_an_error_naming_the_free_one(lab: LabSpec) -> None:
    mine = _assignment("opt1", compact_mark("home-lab", "mgmt"), "vlan01", "10.0.10.1/24")
    other = _assignment("opt2", "dmz", "vtnet2", "10.0.10.1/24")
    spec = lab.model_copy(deep=True)
    assert spec.opnsense is not None
    routed = spec.opnsense.networks["apps"].model_copy(update={"interface": "opt4"})
    spec.opnsense.networks["apps"] = routed
    found = plan_assignments(spec, _with(spec, mine, other))
    assert found.errors == [
        "opnsense.networks.apps.interface: OPNsense names a new assignment after the lowest "
        "free optN, which is opt3, so homelab cannot make opt4: set interface: opt3 in the "
        "spec, or assign opt4 by hand with the description 'homelab_home_lab__apps'"
    ]


def test_the_labs_own_gone_from_the_spec_is_removed_unless_locked(lab: LabSpec) -> None:
    old = _assignment("opt3", compact_mark("home-lab", "storage"), "vlan03", "10.0.30.1/24")
    locked = _assignment("opt4", compact_mark("home-lab", "dmz"), "vlan04", "10.0.40.1/24",
                         lock="1")  # fmt: skip
    other_lab = _assignment("opt5", compact_mark("other", "storage"), "vlan05", "10.0.50.1/24")
    inventory = _with(lab, *observed_as_applied(lab)["assign"], old, locked, other_lab)
    plan = plan_network(lab, inventory)
    assert [(c.op, c.label, c.uuid) for c in plan.changes] == [("delete", "storage", "opt3")]
    [error] = plan.errors
    assert "interface opt4 (homelab_home_lab__dmz) is the lab's" in error
    assert "unset its lock" in error


def test_saved_but_not_applied_is_applied(lab: LabSpec) -> None:
    applied = observed_as_applied(lab)["assign"]
    pending = Observed("assign", "opt2", {**applied[1].fields, "pending_action": "update"},
                       applied[1].owner)  # fmt: skip
    plan = plan_network(lab, _with(lab, applied[0], pending))
    [change] = plan.changes
    assert (change.op, change.uuid, change.changed) == ("update", "opt2", {})
    assert "saved but not applied (update)" in change.summary
    assert not plan.reassigns_tool_interface


def test_the_tool_interface_changing_is_shown_and_refused(lab: LabSpec) -> None:
    applied = observed_as_applied(lab)["assign"]
    moved = Observed("assign", "opt1", {**applied[0].fields, "ipaddr": "10.0.10.254/24"},
                     applied[0].owner)  # fmt: skip
    plan = plan_network(lab, _with(lab, moved, applied[1]))
    assert plan.reassigns_tool_interface and plan.locks_out
    assert "! this plan changes the assignment of opt1, the interface homelab reaches" in (
        plan_text(plan)
    )
    assert plan_to_dict(plan)["reassigns_tool_interface"] is True


def test_a_hand_made_one_with_the_gateway_is_left_and_the_gap_below_it_used(
    lab: LabSpec,
) -> None:
    apps = _assignment("opt2", "APPS", "vtnet1_vlan20", "10.0.20.1/24")
    found = plan_assignments(lab, _with(lab, apps))
    assert not found.errors
    assert [(c.op, c.label, c.uuid) for c in found.changes] == [("create", "mgmt", "opt1")]
    assert found.notes == [
        "interface opt2 (apps) was assigned by hand with 10.0.20.1/24: homelab leaves it as it "
        "is; to let homelab manage it, set its description to 'homelab_home_lab__apps'"
    ]
