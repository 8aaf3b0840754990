"""`homelab doctor` against the simulator, healthy and broken in one way at a time: each broken
set-up must be found (with its fix), and a healthy one must pass."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homelab.cli.main import app
from homelab.core.doctor import Finding
from homelab.core.spec.models import LabSpec
from homelab.engine.clock import Clock
from homelab.engine.proxmox.access import provision_token
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import parse_token
from homelab.engine.proxmox.privileges import grants
from homelab.simulated.site import SimulatedSite
from homelab.verbs.connection import Connection, connect_to
from homelab.verbs.doctor import DoctorReport, run_doctor
from homelab.verbs.spec import load_valid_spec
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.pve.state import NetIface, Vm
from homelab_sim.server import start_server
from homelab_sim.transport import SimTransport
from tests.apply.support import MANIFESTS, inprocess, new_sim, settings_for, write_spec


def _spec(tmp_path: Path, **changes: object) -> LabSpec:
    return load_valid_spec(write_spec(tmp_path, dict(changes)))


def _lacking(sim: PveSimulator, missing: str) -> Connection:
    """A connection whose token holds the documented grants (PVE 8) except ``missing``."""
    root = settings_for(sim)
    clock, transport = Clock.scaled(sim.clock.time_scale), SimTransport(sim)
    wanted = [replace(g, privileges=g.privileges - {missing}) for g in grants(8, "local")]
    with PveClient(root, transport=transport) as client:
        value = provision_token(client, "homelab@pve!lacking", wanted)
    token_id, secret = parse_token(value.reveal())
    settings = replace(root, token_id=token_id, token_secret=secret)
    site = SimulatedSite(root, MANIFESTS, clock, transport=transport)
    return connect_to(settings, site, clock, transport=transport)


def _errors(report: DoctorReport, check: str) -> list[Finding]:
    return [f for f in report.findings if f.check == check and f.is_error]


def test_a_healthy_simulator_passes(tmp_path: Path) -> None:
    report = run_doctor(inprocess(new_sim()), _spec(tmp_path))
    assert report.findings == ()
    assert report.ok and report.version == "8.4.1"
    assert {report.status(check) for check in report.checked} == {"ok"}


@pytest.mark.parametrize(
    ("missing", "path"),
    [
        ("VM.Config.Cloudinit", "/vms"),
        ("VM.Clone", "/vms/9000"),
        ("Datastore.Allocate", "/storage/local"),
        ("Datastore.AllocateSpace", "/storage/local-lvm"),
        ("Datastore.AllocateTemplate", "/storage/local"),
        ("SDN.Use", "/sdn/zones/localnetwork/vmbr0/20"),
        ("VM.Monitor", "/vms"),
    ],
)
def test_a_missing_privilege_is_named_with_its_path(
    tmp_path: Path, missing: str, path: str
) -> None:
    report = run_doctor(_lacking(new_sim(), missing), _spec(tmp_path))
    assert not report.ok
    found = [f for f in _errors(report, "privileges") if f" on {path} " in f.problem]
    assert len(found) == 1, report.findings
    assert missing in found[0].problem and "pveum" in found[0].fix


def test_a_node_without_template_and_local_storage_is_an_error(tmp_path: Path) -> None:
    sim = new_sim(("pve", "pve2"))
    del sim.state.vms[9001]  # pve2's copy of the template
    spec = _spec(tmp_path, **{"proxmox.nodes": ["pve", "pve2"]})
    report = run_doctor(inprocess(sim), spec)
    problems = [f.problem for f in _errors(report, "templates")]
    (problem,) = [p for p in problems if "placed on node pve2" in p]
    assert "which has no copy of template ubuntu-2404-cloudinit" in problem
    assert "proxmox.storage local-lvm is not shared" in problem
    assert report.status("templates") == "error"


def test_a_template_without_agent_or_with_its_own_cloudinit_drive(tmp_path: Path) -> None:
    sim = new_sim()
    config = sim.state.vms[9000].config
    config.pop("agent")
    config["scsi1"] = config.pop("ide2")
    report = run_doctor(inprocess(sim), _spec(tmp_path))
    fixes = [f.fix for f in _errors(report, "templates")]
    assert fixes == [
        "remove it from the template (`qm set 9000 --delete scsi1`) or move it to ide2, where "
        "homelab's seed ISO replaces it",
        "qm set 9000 --agent enabled=1 (and install qemu-guest-agent in the image)",
    ]


def test_iso_storage_without_iso_content(tmp_path: Path) -> None:
    sim = new_sim()
    local = sim.state.storage("local")
    assert local is not None
    local.content = ["vztmpl", "backup", "snippets"]
    report = run_doctor(inprocess(sim), _spec(tmp_path))
    (finding,) = _errors(report, "storage")
    assert "storage local (proxmox.iso_storage)" in finding.problem
    assert "not iso" in finding.problem
    assert finding.fix.startswith("pvesm set local --content backup,iso,snippets,vztmpl")


def test_a_missing_disk_storage(tmp_path: Path) -> None:
    report = run_doctor(inprocess(new_sim()), _spec(tmp_path, **{"proxmox.storage": "ceph"}))
    problems = [f.problem for f in _errors(report, "storage")]
    assert problems == ["storage ceph (proxmox.storage) does not exist or is not visible"]


def _bridges(sim: PveSimulator, *interfaces: dict[str, object]) -> None:
    node = sim.state.node("pve")
    assert node is not None
    node.interfaces = [NetIface.model_validate(entry) for entry in interfaces]


@pytest.mark.parametrize(
    ("vmbr0", "changes", "problem"),
    [
        (None, {}, "bridge vmbr0 (networks.apps.bridge) does not exist on node pve"),
        (
            {"active": False, "bridge_ports": "eno1", "bridge_vlan_aware": True},
            {},
            "bridge vmbr0 on node pve is not active",
        ),
        ({}, {}, "bridge vmbr0 on node pve has no port and is not VLAN aware"),
        (
            {"bridge_ports": "eno1", "bridge_vlan_aware": True, "bridge_vids": "2-19 30"},
            {},
            "VLAN 20 (networks.apps.vlan) is not among bridge vmbr0's VLANs (2-19 30)",
        ),
        (
            {"bridge_ports": "eno1", "bridge_vlan_aware": True},
            {"networks.apps.mtu": 9000},
            "networks.apps.mtu 9000 is above bridge vmbr0's MTU 1500 on node pve",
        ),
    ],
)
def test_a_bridge_the_lab_cannot_use(
    tmp_path: Path, vmbr0: dict[str, object] | None, changes: dict[str, object], problem: str
) -> None:
    sim = new_sim()
    bridge = [] if vmbr0 is None else [{"iface": "vmbr0", "type": "bridge", **vmbr0}]
    _bridges(sim, {"iface": "eno1", "type": "eth"}, *bridge)
    report = run_doctor(inprocess(sim), _spec(tmp_path, **changes))
    (finding,) = _errors(report, "network")
    assert finding.problem.startswith(problem), finding
    assert report.status("network") == "error" and not report.ok


@pytest.mark.parametrize(
    "vmbr0",
    [
        {"bridge_ports": "eno1"},  # not VLAN aware: vmbr0v20 over eno1
        {"bridge_ports": "eno1", "bridge_vlan_aware": True, "bridge_vids": "10 20 100-200"},
        {"bridge_ports": "eno1", "bridge_vlan_aware": True, "mtu": 9000},
        {"type": "OVSBridge"},  # Open vSwitch tags the VM's port: no port, no VLAN awareness
    ],
)
def test_a_bridge_the_lab_can_use(tmp_path: Path, vmbr0: dict[str, object]) -> None:
    sim = new_sim()
    _bridges(sim, {"iface": "eno1", "type": "eth"}, {"iface": "vmbr0", "type": "bridge", **vmbr0})
    spec = _spec(tmp_path, **{"networks.apps.mtu": 9000} if "mtu" in vmbr0 else {})
    report = run_doctor(inprocess(sim), spec)
    assert report.findings == () and report.status("network") == "ok"


def test_a_foreign_vm_in_the_vmid_range(tmp_path: Path) -> None:
    sim = new_sim()
    sim.state.vms[250] = Vm(vmid=250, node="pve", config={"name": "someone-else"})
    report = run_doctor(inprocess(sim), _spec(tmp_path))
    (finding,) = _errors(report, "vmids")
    assert "250 (VM someone-else on pve)" in finding.problem


def test_a_vm_too_big_for_its_node(tmp_path: Path) -> None:
    report = run_doctor(inprocess(new_sim()), _spec(tmp_path, **{"vms.k8s-master-1.cores": 200}))
    (finding,) = _errors(report, "capacity")
    assert "200 cores" in finding.problem


def test_a_refused_token_stops_the_checks(tmp_path: Path) -> None:
    sim = new_sim()
    settings = settings_for(sim)
    conn = inprocess(sim)
    bad = type(settings)(settings.endpoint, settings.token_id, parse_token("root@pam!sim=x")[1])
    conn = connect_to(bad, conn.site, conn.clock, transport=SimTransport(sim))
    report = run_doctor(conn, _spec(tmp_path))
    assert [f.check for f in report.findings] == ["token"]
    assert report.status("privileges") == "skipped" and not report.ok


def test_the_command_exits_1_and_prints_json(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, {"proxmox.iso_storage": "local-lvm"})
    result = CliRunner().invoke(app, ["doctor", str(spec), "--sim", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["ok"] is False
    assert report["checks"]["storage"] == "error" and report["checks"]["privileges"] == "ok"
    assert [f["check"] for f in report["findings"]] == ["storage"]
    fine = write_spec(tmp_path, {}, name="fine")
    text = CliRunner().invoke(app, ["doctor", str(fine), "--sim"])
    assert text.exit_code == 0, text.output
    assert "All checks passed." in text.output


def test_a_certificate_not_matching_the_pin_stops_the_checks(tmp_path: Path) -> None:
    sim = new_sim()
    server = start_server(sim)
    try:
        wrong = ":".join(["AB"] * 32)
        settings = settings_for(sim, server.endpoint, wrong)
        clock = Clock.scaled(sim.clock.time_scale)
        conn = connect_to(settings, SimulatedSite(settings, MANIFESTS, clock), clock)
        with conn.client:
            report = run_doctor(conn, _spec(tmp_path))
    finally:
        server.stop()
    (finding,) = report.findings
    assert finding.check == "endpoint" and "is pinned" in finding.problem
    assert "PROXMOX_VE_FINGERPRINT" in finding.fix
    assert report.status("token") == "skipped"
