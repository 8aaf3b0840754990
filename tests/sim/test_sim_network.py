"""A node's network as pve-manager lists it (``GET /nodes/{node}/network``: bridges only to whom
may see them in SDN), and a VM start that qemu-server refuses for a NIC it cannot plug in."""

from __future__ import annotations

from typing import Any

import pytest

from homelab_sim.pve.simulator import PveSimulator
from tests.sim.support import Api


def _ifaces(api: Api, **params: str) -> dict[str, dict[str, Any]]:
    listed = api.ok("GET", "/nodes/pve/network", params=params)
    return {entry["iface"]: entry for entry in listed}


def test_a_fresh_node_has_its_nic_under_a_vlan_aware_bridge(api: Api) -> None:
    found = _ifaces(api)
    assert sorted(found) == ["eno1", "vmbr0"]
    bridge = found["vmbr0"]
    assert bridge["type"] == "bridge" and bridge["bridge_ports"] == "eno1"
    assert bridge["bridge_vlan_aware"] == 1 and bridge["bridge_vids"] == "2-4094"
    assert bridge["cidr"] == "192.0.2.10/24" and bridge["gateway"] == "192.0.2.1"
    assert (bridge["address"], bridge["netmask"]) == ("192.0.2.10", "24")
    assert found["eno1"]["type"] == "eth" and "bridge_ports" not in found["eno1"]
    assert sorted(_ifaces(api, type="bridge")) == ["vmbr0"]
    assert sorted(_ifaces(api, type="any_bridge")) == ["vmbr0"]
    assert sorted(_ifaces(api, type="eth")) == ["eno1"]
    assert _ifaces(api, type="bond") == {}
    bad = api.call("GET", "/nodes/pve/network", params={"type": "bridges"})
    assert bad.status_code == 400
    assert api.call("GET", "/nodes/nope/network").status_code != 200


def test_bridges_are_listed_only_to_whom_may_see_them_in_sdn(sim: PveSimulator) -> None:
    auditor = Api(sim, sim.add_token("ro@pve!init", {"/": ["Sys.Audit", "VM.Audit"]}))
    assert sorted(_ifaces(auditor)) == ["eno1"]  # any user may list; the bridge is SDN's
    sdn = Api(sim, sim.add_token("sdn@pve!init", {"/": ["SDN.Audit"]}))
    assert sorted(_ifaces(sdn)) == ["eno1", "vmbr0"]
    one_vlan = Api(
        sim, sim.add_token("vl@pve!init", {"/sdn/zones/localnetwork/vmbr0/20": ["SDN.Use"]})
    )
    assert sorted(_ifaces(one_vlan)) == ["eno1", "vmbr0"]  # a VLAN of it is enough
    other = Api(sim, sim.add_token("ot@pve!init", {"/sdn/zones/localnetwork/vmbr1": ["SDN.Use"]}))
    assert sorted(_ifaces(other)) == ["eno1"]


def _start(api: Api, vmid: int, net0: str) -> dict[str, Any]:
    api.finish(api.clone(vmid, name=f"vm{vmid}"))
    api.ok("PUT", f"/nodes/pve/qemu/{vmid}/config", data={"net0": net0})
    upid = api.ok("POST", f"/nodes/pve/qemu/{vmid}/status/start")
    return api.finish(upid)


@pytest.mark.parametrize(
    ("net0", "refusal"),
    [
        ("virtio,bridge=vmbr9", "bridge 'vmbr9' does not exist"),
        ("virtio,bridge=eno1", "bridge 'eno1' does not exist"),
        ("virtio,bridge=vmbr0,mtu=9000", "netdev net0: MTU '9000' is bigger than the bridge MTU"),
        ("virtio,bridge=vmbr0,mtu=500", "netdev net0: MTU '500' is smaller than the IP minimum"),
        ("virtio,bridge=vmbr1,tag=20", "no physical interface on bridge 'vmbr1'"),
        ("virtio,bridge=vmbr1,trunks=20;30", "vlan aware feature need to be enabled to use trunks"),
        ("virtio,bridge=vmbr2", "bridge 'vmbr2' does not exist"),  # configured, not up
    ],
)
def test_a_start_with_a_nic_the_node_cannot_plug_in_fails(
    api: Api, net0: str, refusal: str
) -> None:
    api.ok(
        "PUT",
        "/_sim/network",
        json={
            "node": "pve",
            "interfaces": [
                {"iface": "eno1", "type": "eth"},
                {
                    "iface": "vmbr0",
                    "type": "bridge",
                    "bridge_ports": "eno1",
                    "bridge_vlan_aware": True,
                },
                {"iface": "vmbr1", "type": "bridge"},  # host-only: no port, not VLAN aware
                {"iface": "vmbr2", "type": "bridge", "active": False},
            ],
        },
    )
    status = _start(api, 101, net0)
    assert status["exitstatus"].startswith(refusal), status
    assert api.ok("GET", "/nodes/pve/qemu/101/status/current")["status"] == "stopped"


@pytest.mark.parametrize(
    "net0",
    [
        "virtio,bridge=vmbr0,tag=20",
        "virtio,bridge=vmbr0,mtu=1500",
        "virtio,bridge=vmbr0,mtu=1",  # 1: the bridge's MTU
        "e1000,bridge=vmbr0,mtu=9000",  # only virtio NICs take an MTU
        "virtio,bridge=vmbr3,mtu=9000",
        "virtio,bridge=vmbr4,tag=30",  # not VLAN aware: vmbr4v30 over its port
        "virtio,bridge=vmbr5,tag=30",  # Open vSwitch tags the port itself
    ],
)
def test_a_start_with_a_nic_the_node_can_plug_in_runs(api: Api, net0: str) -> None:
    api.ok(
        "PUT",
        "/_sim/network",
        json={
            "node": "pve",
            "interfaces": [
                {"iface": "eno1", "type": "eth"},
                {"iface": "eno2", "type": "eth"},
                {
                    "iface": "vmbr0",
                    "type": "bridge",
                    "bridge_ports": "eno1",
                    "bridge_vlan_aware": True,
                },
                {"iface": "vmbr3", "type": "bridge", "mtu": 9000, "bridge_vlan_aware": True},
                {"iface": "vmbr4", "type": "bridge", "bridge_ports": "eno2"},
                {"iface": "vmbr5", "type": "OVSBridge"},
            ],
        },
    )
    status = _start(api, 102, net0)
    assert status["exitstatus"] == "OK", status


def test_the_network_control_refuses_what_is_not_an_interfaces_file(api: Api) -> None:
    twice = [{"iface": "vmbr0", "type": "bridge"}, {"iface": "vmbr0", "type": "bridge"}]
    for body in (
        {"node": "nope", "interfaces": []},
        {"node": "pve"},
        {"node": "pve", "interfaces": [{"iface": "vmbr0", "type": "router"}]},
        {"node": "pve", "interfaces": twice},
    ):
        assert api.call("PUT", "/_sim/network", json=body).status_code == 400, body
    assert sorted(_ifaces(api)) == ["eno1", "vmbr0"]  # unchanged
