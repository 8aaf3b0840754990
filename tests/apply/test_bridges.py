"""The plan reads the bridges of the nodes it would start a VM on, and refuses, before anything
changes, a NIC that Proxmox VE would refuse at the VM's start (core.plan.bridges)."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.verbs.lab import make_plan
from homelab.verbs.provision import PlanRefused, apply_lab
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.pve.state import NetIface
from tests.apply.support import FAST, Lab, assert_nothing_made, inprocess, new_sim, write_spec, yes


def _interfaces(sim: PveSimulator, *entries: dict[str, object]) -> None:
    node = sim.state.node("pve")
    assert node is not None
    node.interfaces = [NetIface.model_validate(entry) for entry in entries]


def test_a_missing_bridge_stops_the_plan_before_anything_is_made(lab: Lab, tmp_path: Path) -> None:
    lab.path = write_spec(tmp_path, {"networks.apps.bridge": "vmbr9"})
    lab.reload()
    sim = new_sim()
    with pytest.raises(PlanRefused, match=r"bridge vmbr9 \(networks.apps.bridge\) does not exist"):
        apply_lab(inprocess(sim), lab.ctx, confirm=yes, limits=FAST)
    assert_nothing_made(sim)


def test_a_network_moved_to_a_vlan_its_bridge_drops_is_refused(lab: Lab, tmp_path: Path) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    _interfaces(
        sim,
        {"iface": "eno1", "type": "eth"},
        {
            "iface": "vmbr0",
            "type": "bridge",
            "bridge_ports": "eno1",
            "bridge_vlan_aware": True,
            "bridge_vids": "10 20",
        },
    )
    plan, _ = make_plan(conn, lab.ctx)
    assert not plan.has_changes and not plan.errors  # nothing to start: the bridges are not read
    lab.path = write_spec(tmp_path, {"networks.apps.vlan": 30})
    lab.reload()
    plan, _ = make_plan(conn, lab.ctx)
    assert plan.has_changes
    assert [e.split(":")[0] for e in plan.errors] == [
        "VLAN 30 (networks.apps.vlan) is not among bridge vmbr0's VLANs (10 20) on node pve"
    ]


def test_the_plan_reads_only_the_nodes_it_would_start_a_vm_on(lab: Lab) -> None:
    sim = new_sim(("pve", "pve2"))
    conn = inprocess(sim)
    sim.log.clear()
    plan, _ = make_plan(conn, lab.ctx)  # the reference lab: every VM on pve
    assert not plan.errors
    read = [e.path for e in sim.log.entries() if e.path.endswith("/network")]
    assert read == ["/api2/json/nodes/pve/network"]
