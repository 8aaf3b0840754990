"""`homelab backup status|now` against the simulated PVE over HTTPS, with the documented token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab.engine.proxmox.privileges import TOKEN_ID, grants
from tests.apply.support import (
    Cli,
    assert_one_line_error,
    new_sim,
    root_client,
    served,
    write_spec,
)

BACKUP = {
    "storage": {"existing": "local"},
    "jobs": {
        "nightly": {"schedule": "02:30", "retention": {"keep_last": 3}, "max_age": "26h"},
    },
}


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    sim = new_sim()
    spec = write_spec(tmp_path, {"proxmox.token_id": TOKEN_ID, "backup": BACKUP})
    monkeypatch.delenv("HOMELAB_STATE_URL", raising=False)
    with served(sim, grants(8, "local", backups=True)) as env:
        yield Cli(sim, spec, env, monkeypatch, capsys)


def test_status_now_and_status_again(cli: Cli) -> None:
    spec = str(cli.spec)
    code, out, err = cli("apply", spec, "--yes")
    assert code == 0, err
    assert "backup jobs 1 created" in out

    code, out, err = cli("backup", "status", spec, "--json")
    assert code == 1  # nothing backed up yet
    report = json.loads(out)
    assert [vm["problems"] for vm in report["vms"]] == [["no backup yet"]] * 3
    assert [vm["jobs"] for vm in report["vms"]] == [["nightly"]] * 3
    assert report["proxmox_not_backed_up"] == []
    assert report["jobs"][0]["on_proxmox"] and report["jobs"][0]["next_run"] is not None

    code, out, err = cli("backup", "now", spec, "--vm", "k8s-worker-3")
    assert code == 0, err
    assert out.count("local:backup/vzdump-qemu-") == 1 and "1 archive(s) written" in out
    code, out, err = cli("backup", "now", spec)
    assert code == 0, err
    assert "3 archive(s) written" in out

    code, out, err = cli("backup", "status", spec)
    assert code == 0, err
    assert "All VMs of the lab are backed up within their max_age." in out
    assert "etcd: no snapshot kept on this machine" in out
    code, out, _ = cli("backup", "status", spec, "--json")
    report = json.loads(out)
    assert {vm["vm"]: vm["count"] for vm in report["vms"]} == {
        "k8s-master-1": 1,
        "k8s-worker-2": 1,
        "k8s-worker-3": 2,
    }
    assert all(vm["newest"]["volid"].endswith(".vma.zst") for vm in report["vms"])

    # a day and a half later the scheduled run has made fresh ones; stop the job and wait again
    cli.sim.advance(36 * 3600)
    code, out, _ = cli("backup", "status", spec, "--json")
    assert code == 0 and json.loads(out)["ok"]
    for job in cli.sim.state.backup_jobs.values():
        job.settings["enabled"] = 0
    cli.sim.advance(30 * 3600)
    code, out, err = cli("backup", "status", spec)
    assert code == 1
    assert "problem: vm k8s-master-1: no enabled backup job of the lab covers it" in err
    assert "old (max_age 26.0 hours)" in err


def test_unknown_vm_and_missing_section_are_one_line_errors(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("backup", "now", str(cli.spec), "--vm", "k8s-worker-9")
    assert_one_line_error(code, err, "'k8s-worker-9' is not a VM of the lab home-lab")
    code, _, err = cli("backup", "now", str(cli.spec))
    assert_one_line_error(code, err, "no VM of the lab home-lab exists")
    bare = write_spec(tmp_path, {"proxmox.token_id": TOKEN_ID}, name="bare")
    code, _, err = cli("backup", "status", str(bare))
    assert_one_line_error(code, err, "has no backup: section")


def test_drills_prove_backups_and_a_damaged_one_fails(cli: Cli) -> None:
    spec = str(cli.spec)
    assert cli("apply", spec, "--yes")[0] == 0
    code, out, err = cli("backup", "drill", spec, "--vm", "k8s-worker-2")
    assert code == 1 and "drill k8s-worker-2: FAILED: no backup to drill" in out
    assert cli("backup", "now", spec)[0] == 0
    code, out, err = cli("backup", "drill", spec, "--json")
    assert code == 0, out + err
    results = {r["vm"]: r for r in json.loads(out)}
    assert all(r["ok"] for r in results.values()), results
    assert results["k8s-master-1"]["detail"] == (
        "booted; /etc/kubernetes/manifests/kube-apiserver.yaml is there"
    )
    scratch = {r["scratch_vmid"] for r in results.values()}
    assert not scratch & set(cli.sim.state.vms)  # the scratch VMs are gone
    assert len(cli.sim.state.vms) == 4  # the lab's three and the template

    volid = json.loads(cli("backup", "status", spec, "--json")[1])["vms"][1]["newest"]["volid"]
    with root_client(cli.sim) as root:
        root.session.request("POST", "/_sim/corrupt", {"volid": volid})
    code, out, _ = cli("backup", "drill", spec, "--vm", "k8s-worker-2")
    assert code == 1 and "Data corruption detected" in out
    code, out, err = cli("backup", "status", spec)
    assert code == 1
    assert "problem: vm k8s-worker-2: its last drill failed (the restore failed:" in err
    assert "drill ok" in out and "drill FAILED" in out


def test_restore_as_a_copy(cli: Cli) -> None:
    spec = str(cli.spec)
    assert cli("apply", spec, "--yes")[0] == 0
    code, _, err = cli("restore", "vm", spec, "k8s-worker-3")
    assert code == 1 and "vm k8s-worker-3 has no backup on local" in err
    assert cli("backup", "now", spec, "--vm", "k8s-worker-3")[0] == 0
    worker = next(
        vm for vm in cli.sim.state.vms.values() if vm.config.get("name") == "k8s-worker-3"
    )
    before = dict(worker.config)

    code, out, err = cli("restore", "vm", spec, "k8s-worker-3")
    assert code == 0, err
    copy = next(
        vm for vm in cli.sim.state.vms.values() if vm.config.get("name") == "k8s-worker-3-restored"
    )
    assert f"as VMID {copy.vmid}" in out and copy.status == "stopped"
    assert copy.config["tags"] == "homelab-restored"
    assert copy.config["net0"] != before["net0"]  # new MACs
    code, out, _ = cli("plan", spec, "--detailed-exitcode")
    assert code == 0, out  # the copy is not the lab's: the plan leaves it alone

    code, _, err = cli("restore", "vm", spec, "k8s-worker-3", "--at", "yesterday")
    assert_one_line_error(code, err, "--at 'yesterday' is not a time")
    code, _, err = cli("restore", "vm", spec, "k8s-worker-3", "--at", "2000-01-01T00:00")
    assert code == 1 and "made by 2000-01-01" in err


def test_backup_etcd_on_the_command_line(cli: Cli) -> None:
    spec = str(cli.spec)
    code, _, err = cli("backup", "etcd", spec)
    assert_one_line_error(code, err, "no control plane of the lab home-lab runs")
    assert cli("apply", spec, "--yes")[0] == 0
    cli.sim.advance(120)
    code, out, err = cli("backup", "etcd", spec)
    assert code == 0, err
    assert out.startswith("etcd snapshot of k8s-master-1: revision ")
    assert ".db.sealed" in out
    code, out, _ = cli("backup", "status", spec, "--json")
    report = json.loads(out)
    etcd = report["etcd"]
    # measured on this machine's clock, which dated the snapshot (not on Proxmox's)
    assert etcd["newest"] is not None and 0 <= etcd["age_seconds"] < 60
    assert not [p for p in report["problems"] if p.startswith("etcd")]
    code, out, _ = cli("backup", "status", spec)
    assert "etcd: newest snapshot kept here 0m old" in out


def test_restore_over_the_vm_asks_first(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = str(cli.spec)
    assert cli("apply", spec, "--yes")[0] == 0
    monkeypatch.setattr("typer.confirm", lambda *a, **k: False)
    code, _, err = cli("restore", "vm", spec, "k8s-worker-3", "--force")
    assert code == 1 and "restore cancelled; nothing was changed" in err


def test_pbs_key_export_needs_a_pbs_storage(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("state", "pbs-key", str(cli.spec), "--out", str(tmp_path / "key.json"))
    assert_one_line_error(code, err, "the lab home-lab has no PBS storage")
    assert not (tmp_path / "key.json").exists()
