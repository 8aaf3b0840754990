"""Interface assignments end to end on the simulated OPNsense: the reference lab applied on a
26.7 firewall that has no assignment for its VLANs (homelab on LAN), one reconfigure per
module, a second apply with zero writes, a foreign assignment refused, drift shown and
repaired, the tool's own interface guarded; on 26.1 a note and nothing attempted."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.core.spec.models import LabSpec
from homelab.engine.opnsense.errors import LockoutRefused
from homelab.verbs.net import Firewall, net_apply, net_plan, net_status
from homelab.verbs.provision import PlanRefused
from homelab_sim.opnsense import Interface, OpnsenseSimulator
from tests.network.support import MakeSim, firewall_for, writes

WAN = Interface("wan", "vtnet0", "192.0.2.2/24", "WAN")
LAN = Interface("lan", "vtnet2", "192.168.1.1/24", "LAN")
APPLIES = {
    "interfaces/vlan_settings": 1,
    "interfaces/assignment": 1,
    "firewall/alias": 1,
    "firewall/filter": 1,
    "unbound/service": 1,
}


def bare_firewall(
    lab: LabSpec, tmp_path: Path, version: str = "26.7", dhcp: str = "dnsmasq"
) -> tuple[OpnsenseSimulator, Firewall]:
    """WAN and LAN only; homelab reaches the API from LAN (its anti-lockout rule)."""
    sim = OpnsenseSimulator(
        version=version, dhcp=dhcp, interfaces=[WAN, LAN], devices=("vtnet0", "vtnet1", "vtnet2")
    )
    sim.set_client("lan", "192.168.1.100")
    if dhcp == "kea":
        sim.seed("kea_subnet", {"subnet": "10.0.20.0/24"})
    return sim, firewall_for(sim, tmp_path / "recovery")


def assigned(sim: OpnsenseSimulator) -> dict[str, tuple[str, str, str]]:
    vlans = {r["vlanif"]: r["tag"] for r in sim.running("vlan").values()}
    return {
        name: (vlans.get(r["if"], r["if"]), r["ipaddr"], r["descr"])
        for name, r in sim.running("interface").items()
        if name.startswith("opt")
    }


@pytest.mark.parametrize("dhcp", ["dnsmasq", "kea"])
def test_assignments_are_made_once_then_nothing(lab: LabSpec, tmp_path: Path, dhcp: str) -> None:
    sim, firewall = bare_firewall(lab, tmp_path, dhcp=dhcp)
    _, plan = net_plan(lab, firewall)
    assert [(c.op, c.label, c.uuid) for c in plan.changes if c.module == "assign"] == [
        ("create", "mgmt", "opt1"),
        ("create", "apps", "opt2"),
    ]
    outcome = net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert outcome.report is not None and outcome.report.writes["assign"] == 2
    service = "kea/service" if dhcp == "kea" else "dnsmasq/service"
    assert dict(sim.log.applies) == {**APPLIES, service: 1}
    assert outcome.report.applied[:2] == ["vlan", "assign"]  # devices before assignments
    assert assigned(sim) == {
        "opt1": ("10", "10.0.10.1/24", "homelab_home_lab__mgmt"),
        "opt2": ("20", "10.0.20.1/24", "homelab_home_lab__apps"),
    }
    running = sim.running("interface")["opt2"]
    assert (running["enable"], running["lock"], running["type4"]) == ("1", "0", "staticv4")
    sim.log.clear()
    again = net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert again.report is None and again.plan.is_noop and not again.plan.warnings
    assert writes(sim) == [] and not sim.log.applies
    assert net_status(lab, firewall).in_sync


def test_a_foreign_assignment_on_the_spec_interface_is_refused(
    lab: LabSpec, tmp_path: Path
) -> None:
    sim, firewall = bare_firewall(lab, tmp_path)
    sim.seed("interface", {"if": "vtnet1", "descr": "DMZ", "type4": "staticv4",
                           "ipaddr": "172.16.0.1/24"}, uuid="opt1")  # fmt: skip
    _, plan = net_plan(lab, firewall)
    assert len(plan.errors) == 1
    error = plan.errors[0]
    assert "interface opt1 is assigned to vtnet1 ('DMZ'), not by the lab" in error
    assert "'homelab_home_lab__mgmt'" in error
    with pytest.raises(PlanRefused, match="interface opt1 is assigned to vtnet1"):
        net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert writes(sim) == []
    assert sim.configured("interface")["opt1"]["descr"] == "DMZ"


def test_an_address_changed_by_hand_is_drift_and_repaired(lab: LabSpec, tmp_path: Path) -> None:
    sim, firewall = bare_firewall(lab, tmp_path)
    net_apply(lab, tmp_path / "lab.yaml", firewall)
    firewall.client.save("interfaces/assignment/setItem/opt2", "interface",
                         {"ipaddr": "10.0.20.254/24"})  # fmt: skip
    firewall.client.post("interfaces/assignment/reconfigure")
    status = net_status(lab, firewall)
    assert not status.in_sync
    [change] = status.plan.changes
    assert (change.op, change.module, change.uuid) == ("update", "assign", "opt2")
    assert change.changed == {"ipaddr": ("10.0.20.254/24", "10.0.20.1/24")}
    sim.log.clear()
    outcome = net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert outcome.report is not None and outcome.report.writes == {"assign": 1}
    assert dict(sim.log.applies) == {"interfaces/assignment": 1}
    assert assigned(sim)["opt2"][1] == "10.0.20.1/24"


def test_the_tool_interface_is_not_reassigned_without_force(lab: LabSpec, tmp_path: Path) -> None:
    sim, firewall = bare_firewall(lab, tmp_path)
    net_apply(lab, tmp_path / "lab.yaml", firewall)
    firewall.client.save("interfaces/assignment/setItem/opt1", "interface",
                         {"ipaddr": "10.0.10.254/24"})  # fmt: skip
    firewall.client.post("interfaces/assignment/reconfigure")
    _, plan = net_plan(lab, firewall)
    assert plan.reassigns_tool_interface and plan.locks_out
    sim.log.clear()
    with pytest.raises(LockoutRefused, match="changes the assignment of opt1"):
        net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert writes(sim) == []
    net_apply(lab, tmp_path / "lab.yaml", firewall, force=True)
    assert assigned(sim)["opt1"][1] == "10.0.10.1/24"


def test_a_lab_assignment_gone_from_the_spec_is_removed(
    lab: LabSpec, example_text: str, tmp_path: Path
) -> None:
    from tests.network.support import spec_from

    sim, firewall = bare_firewall(lab, tmp_path)
    net_apply(lab, tmp_path / "lab.yaml", firewall)
    smaller = spec_from(
        example_text.replace("    apps: {parent: vtnet1, interface: opt2, dhcp: true}", "").replace(
            "at: mgmt, to: apps", "at: mgmt, to: 10.0.20.0/24"
        )
    )
    outcome = net_apply(smaller, tmp_path / "lab.yaml", firewall)
    assert outcome.report is not None
    assert [(c.op, c.module, c.uuid) for c in outcome.plan.changes if c.module == "assign"] == [
        ("delete", "assign", "opt2")
    ]
    assert "opt2" not in sim.running("interface")
    assert not any(r["tag"] == "20" for r in sim.configured("vlan").values())


def test_26_1_notes_what_to_assign_by_hand(lab: LabSpec, make_sim: MakeSim, tmp_path: Path) -> None:
    sim, firewall = make_sim(lab, "26.1.2")  # its interfaces assigned by hand, as 26.1 needs
    _, plan = net_plan(lab, firewall)
    assert not plan.errors and not any(c.module == "assign" for c in plan.changes)
    assert plan.warnings == (
        "OPNsense 26.1.2 has no API for interface assignments (new in 26.7): assign by hand "
        "(Interfaces > Assignments): VLAN 10 on vtnet1 as opt1 with 10.0.10.1/24; VLAN 20 on "
        "vtnet1 as opt2 with 10.0.20.1/24",
    )
    outcome = net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert outcome.report is not None and "assign" not in outcome.report.writes
    assert not any("interfaces/assignment" in e.path for e in sim.log.entries)


def test_an_assignment_named_otherwise_than_planned_stops_the_apply(
    lab: LabSpec, tmp_path: Path
) -> None:
    from homelab.engine.opnsense.apply import apply_plan
    from homelab.engine.opnsense.errors import OpnsenseError

    sim, firewall = bare_firewall(lab, tmp_path)
    inventory, plan = net_plan(lab, firewall)
    sim.seed("interface", {"if": "vtnet1", "descr": "late", "type4": "none"}, uuid="opt1")
    with pytest.raises(OpnsenseError, match="assigned mgmt's VLAN as opt2, not opt1"):
        apply_plan(firewall.client, plan, mode="backup", dhcp="dnsmasq",
                   recovery_dir=tmp_path, sleep=sim.advance, inventory=inventory)  # fmt: skip
    assert sim.log.applies["interfaces/assignment"] == 1  # what was written took effect
    _, again = net_plan(lab, firewall)
    assert ("delete", "opt2") in [(c.op, c.uuid) for c in again.changes if c.module == "assign"]
