"""`homelab doctor` against the simulator, healthy and broken in one way at a time: each broken
set-up must be found (with its fix), and a healthy one must pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homelab.cli.main import app
from homelab.core.doctor import Finding
from homelab.core.spec.models import LabSpec
from homelab.engine.clock import Clock
from homelab.engine.proxmox.config import parse_token
from homelab.simulated.site import SimulatedSite
from homelab.verbs.connection import Connection, connect_to
from homelab.verbs.doctor import DoctorReport, run_doctor
from homelab.verbs.spec import load_valid_spec
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.pve.state import Vm
from homelab_sim.transport import SimTransport
from tests.apply.support import MANIFESTS, inprocess, new_sim, settings_for, write_spec

# The role the README documents (PVE 8), with Datastore.Allocate for deleting seed ISOs.
ROLE = [
    "VM.Allocate",
    "VM.Clone",
    "VM.Audit",
    "VM.PowerMgmt",
    "VM.Monitor",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Sys.Audit",
    "SDN.Use",
]


def _spec(tmp_path: Path, **changes: object) -> LabSpec:
    return load_valid_spec(write_spec(tmp_path, dict(changes)))


def _as_token(sim: PveSimulator, privileges: list[str]) -> Connection:
    """A connection with a privilege-separated token holding ``privileges`` on ``/``."""
    token_id, secret = parse_token(sim.add_token("homelab@pve!apply", {"/": privileges}).reveal())
    settings = settings_for(sim)
    settings = type(settings)(settings.endpoint, token_id, secret)
    clock, transport = Clock.scaled(sim.clock.time_scale), SimTransport(sim)
    site = SimulatedSite(settings, MANIFESTS, clock, transport=transport)
    return connect_to(settings, site, clock, transport=transport)


def _errors(report: DoctorReport, check: str) -> list[Finding]:
    return [f for f in report.findings if f.check == check and f.is_error]


def test_a_healthy_simulator_passes(tmp_path: Path) -> None:
    report = run_doctor(inprocess(new_sim()), _spec(tmp_path))
    assert report.findings == ()
    assert report.ok and report.version == "8.4.1"
    assert {report.status(check) for check in report.checked} == {"ok"}


def test_a_token_with_exactly_the_documented_role_passes(tmp_path: Path) -> None:
    report = run_doctor(_as_token(new_sim(), ROLE), _spec(tmp_path))
    assert report.findings == ()


@pytest.mark.parametrize(
    ("missing", "path"),
    [
        ("VM.Config.Cloudinit", "/vms"),
        ("VM.Clone", "/vms/9000"),
        ("Datastore.Allocate", "/storage/local"),
        ("Datastore.AllocateSpace", "/storage/local-lvm"),
        ("SDN.Use", "/sdn/zones/localnetwork/vmbr0/20"),
        ("Sys.Audit", "/nodes/pve"),
    ],
)
def test_a_missing_privilege_is_named_with_its_path(
    tmp_path: Path, missing: str, path: str
) -> None:
    role = [priv for priv in ROLE if priv != missing]
    report = run_doctor(_as_token(new_sim(), role), _spec(tmp_path))
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
    assert any("node pve2" in p and "uses non-shared storage local-lvm" in p for p in problems)
    assert any("storage local-lvm is not shared" in p for p in problems)
    assert report.status("templates") == "error"


def test_a_template_without_agent_or_with_its_own_cloudinit_drive(tmp_path: Path) -> None:
    sim = new_sim()
    config = sim.state.vms[9000].config
    config.pop("agent")
    config["scsi1"] = config.pop("ide2")
    report = run_doctor(inprocess(sim), _spec(tmp_path))
    fixes = [f.fix for f in _errors(report, "templates")]
    assert fixes == [
        "qm set 9000 --agent enabled=1 (and install qemu-guest-agent in the image)",
        "qm set 9000 --delete scsi1 (homelab puts its own seed on ide2)",
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
