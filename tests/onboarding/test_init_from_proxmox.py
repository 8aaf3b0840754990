"""`homelab init --from-proxmox`: a starter spec read from a (simulated) Proxmox VE cluster with
foreign guests, through a read-only token; it validates, its plan is exactly the lab's creates,
its VMIDs and addresses avoid every existing guest, and the existing VMs are offered to adopt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from homelab.core.plan.actions import AdoptVm, CreateVm
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ConnectionSettings, parse_token
from homelab.errors import LabError
from homelab.verbs.init import write_from_proxmox
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.provision import adopt_lab, apply_lab
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.transport import SimTransport
from tests.apply.support import FAST, inprocess, new_sim, root_client, served, yes
from tests.sim.support import Api
from tests.support.cli import run_main

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICR1Kjxkp8TY39QQ8rPrvZta2Cl81ledsQySZv20Y4+h me@desk"
#: what PVE's built-in PVEAuditor role holds (pve-access-control AccessControl.pm)
AUDITOR = ["Datastore.Audit", "Mapping.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit"]


def _foreign(sim: PveSimulator) -> None:
    """Guests made outside homelab, as a Terraform module or a person would have."""
    client = root_client(sim)

    def vm(vmid: int, name: str, **config: Any) -> None:
        client.wait_task(client.clone("pve", 9000, vmid, name=name, full=False))
        if config:
            client.update_config("pve", vmid, **config)

    vm(100, "web-1", net0="virtio,bridge=vmbr0,tag=20", ipconfig0="ip=10.0.20.10/24,gw=10.0.20.1")
    vm(
        201,
        "db-1",
        cores=4,
        memory=6144,
        net0="virtio,bridge=vmbr0,tag=20",
        ipconfig0="ip=10.0.20.21/24,gw=10.0.20.1",
        tags="terraform",
    )
    vm(305, "scratch", ipconfig0="ip=dhcp")
    vm(402, "k8s-worker-9", tags="homelab;lab-other;role-worker")
    vm(403, "Web-Server.lan")
    client.session.post("/_sim/lxc", vmid=250, node="pve", name="ct-dns")
    client.close()


def _reader(sim: PveSimulator) -> PveClient:
    token_id, secret = parse_token(sim.add_token("reader@pve!init", {"/": AUDITOR}).reveal())
    settings = ConnectionSettings(
        endpoint="https://127.0.0.1:8006", token_id=token_id, token_secret=secret
    )
    return PveClient(settings, transport=SimTransport(sim))


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "id.pub"
    path.write_text(KEY + "\n")
    return path


def test_the_starter_spec_validates_and_plans_exactly_the_labs_creates(
    tmp_path: Path, key: Path
) -> None:
    sim = new_sim()
    _foreign(sim)
    out = tmp_path / "lab.yaml"
    with _reader(sim) as client:
        starter = write_from_proxmox(client, out, name="my-lab", ssh_key=key)

    assert starter.template == "ubuntu-2404-cloudinit" and starter.nodes == ("pve",)
    assert (starter.storage, starter.iso_storage) == ("local-lvm", "local")
    # 100, 201 (VMs), 250 (a container), 305, 402, 403 and the template 9000 are taken
    assert starter.vmid_range == "500-599"
    assert starter.networks == {"vlan20": "10.0.20.0/24", "vmbr0": "192.0.2.0/24"}
    assert starter.lab_network == "vlan20"
    assert starter.adoptable == ("web-1", "db-1", "scratch")
    data = yaml.safe_load(out.read_text())
    assert data["networks"]["vlan20"] == {
        "vlan": 20,
        "cidr": "10.0.20.0/24",
        "gateway": "10.0.20.1",
        "bridge": "vmbr0",
        "dns": ["10.0.20.1"],
    }
    assert data["networks"]["vmbr0"]["gateway"] == "192.0.2.1"
    ips = {name: vm["ip"] for name, vm in data["vms"].items()}
    # .10 (web-1) and .21 (db-1) are taken: the next free ones instead
    assert ips == {
        "k8s-master-1": "10.0.20.11",
        "k8s-worker-2": "10.0.20.12",
        "k8s-worker-3": "10.0.20.22",
    }
    assert data["kubernetes"]["load_balancer"] == {"addresses": "10.0.20.199-10.0.20.249"}
    assert data["access"]["ssh_authorized_keys"] == [KEY]
    text = out.read_text()
    db = "  # db-1: {role: worker, node: pve, cores: 4, memory: 6GiB, disk: 4GiB, network: vlan20"
    assert f"{db}, ip: 10.0.20.21}}   # vmid 201, stopped" in text
    assert "  # scratch: {role: worker, node: pve, cores: 2, memory: 2GiB, disk: 4GiB}" in text
    assert "no static address in ipconfig0" in text
    assert "k8s-worker-9 (vmid 402): lab other's" in text
    assert "VM 403 (Web-Server.lan): its name is not an RFC 1123 label" in text

    before = {vmid: dict(vm.config) for vmid, vm in sim.state.vms.items()}
    ctx = prepare_lab(out)
    try:
        conn = inprocess(sim)
        plan, _ = make_plan(conn, ctx)
        assert not plan.errors and not plan.warnings, (plan.errors, plan.warnings)
        assert [type(a) for a in plan.actions] == [CreateVm] * 3
        assert [a.vm for a in plan.actions] == ["k8s-master-1", "k8s-worker-2", "k8s-worker-3"]
        outcome = apply_lab(conn, ctx, confirm=yes, limits=FAST)
        assert outcome.report is not None and outcome.report.ok
    finally:
        ctx.close()
    made = {
        vmid: str(vm.config["name"]) for vmid, vm in sim.state.vms.items() if vmid not in before
    }
    assert sorted(made.values()) == ["k8s-master-1", "k8s-worker-2", "k8s-worker-3"]
    assert all(500 <= vmid <= 599 for vmid in made)
    assert {vmid: dict(sim.state.vms[vmid].config) for vmid in before} == before  # untouched


def test_an_adopted_block_uncommented_is_what_adopt_takes_over(tmp_path: Path, key: Path) -> None:
    sim = new_sim()
    _foreign(sim)
    out = tmp_path / "lab.yaml"
    with _reader(sim) as client:
        write_from_proxmox(client, out, name="my-lab", ssh_key=key)
    text = out.read_text().replace("  # db-1: {role: worker", "  db-1: {role: worker", 1)
    out.write_text(text)
    ctx = prepare_lab(out)
    try:
        assert ctx.spec.vms["db-1"].cores == 4 and ctx.spec.vms["db-1"].memory == 6144
        outcome = adopt_lab(inprocess(sim), ctx, confirm=yes)
    finally:
        ctx.close()
    assert [(a.vm, a.vmid) for a in outcome.plan.actions if isinstance(a, AdoptVm)] == [
        ("db-1", 201)
    ]
    assert outcome.report is not None and outcome.report.ok


def test_a_cluster_with_nothing_usable_still_gives_a_valid_spec_and_says_why(
    tmp_path: Path, key: Path
) -> None:
    sim = new_sim()
    only_nic = {"node": "pve", "interfaces": [{"iface": "eno1", "type": "eth"}]}
    Api(sim).ok("PUT", "/_sim/network", json=only_nic)
    out = tmp_path / "lab.yaml"
    # without SDN.Audit no bridge is visible; without the template's VM.Audit no template
    token_id, secret = parse_token(sim.add_token("r@pve!x", {"/": ["Sys.Audit"]}).reveal())
    settings = ConnectionSettings("https://127.0.0.1:8006", token_id, secret)
    with PveClient(settings, transport=SimTransport(sim)) as reader:
        starter = write_from_proxmox(reader, out, ssh_key=key)
    assert starter.template is None
    assert any("no VM template found" in note for note in starter.notes)
    assert any("no bridge was visible" in note for note in starter.notes)
    assert "NOT FOUND on this cluster" in out.read_text()
    assert starter.vmid_range == "200-299"


def test_init_never_overwrites_and_refuses_a_bad_name(tmp_path: Path, key: Path) -> None:
    sim = new_sim()
    out = tmp_path / "lab.yaml"
    out.write_text("mine\n")
    with _reader(sim) as client:
        with pytest.raises(LabError, match="exists: not overwriting it"):
            write_from_proxmox(client, out, ssh_key=key)
        with pytest.raises(LabError, match="not an RFC 1123 label"):
            write_from_proxmox(client, tmp_path / "b.yaml", name="My_Lab", ssh_key=key)
    assert out.read_text() == "mine\n" and not (tmp_path / "b.yaml").exists()


def test_the_command_reads_the_cluster_named_by_the_environment(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = new_sim()
    _foreign(sim)
    from homelab.engine.proxmox.privileges import Grant

    reader = Grant("HomelabReader", "/", frozenset(AUDITOR))
    out = tmp_path / "lab.yaml"
    with served(sim, [reader]) as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        argv = ["init", "--from-proxmox", "--out", str(out), "--ssh-key", str(key), "--json"]
        code, printed, errors = run_main(monkeypatch, capsys, *argv)
    assert code == 0, errors
    shown = json.loads(printed)
    assert shown["vmid_range"] == "500-599" and shown["lab_network"] == "vlan20"
    assert shown["adoptable"] == ["web-1", "db-1", "scratch"]
    assert env["PROXMOX_VE_API_TOKEN"].split("=", 1)[1] not in printed + out.read_text()
    assert yaml.safe_load(out.read_text())["proxmox"]["endpoint"] == env["PROXMOX_VE_ENDPOINT"]


def test_the_command_says_what_it_chose_and_what_to_do_next(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from homelab.engine.proxmox.privileges import Grant

    sim = new_sim()
    _foreign(sim)
    out = tmp_path / "lab.yaml"
    reader = Grant("HomelabReader", "/", frozenset(["Sys.Audit", "VM.Audit", "Datastore.Audit"]))
    with served(sim, [reader]) as env:
        endpoint = env.pop("PROXMOX_VE_ENDPOINT")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("PROXMOX_VE_ENDPOINT", raising=False)
        argv = ["init", "--from-proxmox", "--out", str(out), "--ssh-key", str(key)]
        code, printed, errors = run_main(monkeypatch, capsys, *argv, "--endpoint", endpoint)
    assert code == 0, errors
    lines = printed.splitlines()
    assert lines[0].startswith(f"wrote {out}: template ubuntu-2404-cloudinit on pve, disks on ")
    assert "VMIDs 500-599" in lines[0]
    assert lines[1] == (
        "3 existing VM(s) could be adopted (commented out in the spec): web-1, db-1, scratch"
    )
    # without SDN.Audit the token sees no bridge: the lab goes on what the VMs show, and it says so
    assert "note: no bridge was visible: the token needs SDN.Audit" in printed
    assert lines[-1] == f"next: `homelab doctor {out}` and `homelab plan {out}`"


def test_endpoint_and_fingerprint_go_with_from_proxmox(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lab.yaml"
    argv = ["init", "--out", str(out), "--ssh-key", str(key)]
    code, _, errors = run_main(monkeypatch, capsys, *argv, "--endpoint", "https://pve:8006")
    assert code == 2 and "--endpoint and --fingerprint go with --from-proxmox" in errors
    assert not out.exists()
    code, printed, errors = run_main(monkeypatch, capsys, *argv, "--json")
    assert code == 0, errors
    assert json.loads(printed) == {"spec": str(out), "from": "reference lab"}
