"""The provisioning commands end to end through ``homelab.cli.main.main``: exit codes, output,
one-line errors without tracebacks, and nothing half-made left behind when something fails.

The simulator runs in this process over HTTPS; the commands reach it the way they reach a real
Proxmox, through PROXMOX_VE_ENDPOINT / PROXMOX_VE_API_TOKEN / PROXMOX_VE_FINGERPRINT.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from homelab.engine.state import open_store
from homelab.engine.upgrade.versions import NodeVersions
from homelab_sim.pve.faults import FaultProfile
from tests.apply.support import (
    SIM_TOKEN_ID,
    Cli,
    assert_nothing_made,
    assert_one_line_error,
    faults,
    guests,
    inprocess,
    new_sim,
    write_spec,
)


def test_plan_save_apply_the_saved_plan_then_no_changes(cli: Cli, tmp_path: Path) -> None:
    saved = tmp_path / "lab.plan"
    code, out, _ = cli("plan", str(cli.spec), "--detailed-exitcode", "--out", str(saved))
    assert code == 2
    assert "+ vm k8s-master-1" in out and "Plan: 3 to add" in out
    assert json.loads(saved.read_text())["summary"]["add"] == 3
    code, out, err = cli("apply", str(cli.spec), "--plan", str(saved))
    assert code == 0, err
    assert "Apply complete: 3 created." in out
    assert "k8s-worker-3: agent done" in out  # plain progress lines when not a terminal
    code, out, _ = cli("plan", str(cli.spec), "--detailed-exitcode")
    # the VMs match; the cluster's components are up's to install (apply leaves them)
    assert code == 0 and "No changes to the VMs." in out
    assert "+ component calico v3.28.5 (up installs it)" in out
    code, out, _ = cli("plan", str(cli.spec), "--json")
    assert code == 0 and json.loads(out)["summary"]["no_op"] == 3


def test_a_stale_saved_plan_is_refused(cli: Cli, tmp_path: Path) -> None:
    saved = tmp_path / "lab.plan"
    assert cli("plan", str(cli.spec), "--out", str(saved))[0] == 0
    write_spec(tmp_path, {"proxmox.token_id": SIM_TOKEN_ID, "vms.k8s-worker-2.memory": "8GiB"})
    code, _, err = cli("apply", str(cli.spec), "--plan", str(saved))
    assert_one_line_error(code, err, "the saved plan is stale")
    assert_nothing_made(cli.sim)


def test_apply_needs_yes_when_it_cannot_ask(cli: Cli) -> None:
    code, out, err = cli("apply", str(cli.spec))
    assert_one_line_error(code, err, "needs confirmation")
    assert "--yes" in err and "+ vm k8s-master-1" in out
    assert_nothing_made(cli.sim)


def test_status_destroy_and_status_again(cli: Cli) -> None:
    assert cli("apply", str(cli.spec), "--yes", "--quiet")[0] == 0
    code, out, _ = cli("status", str(cli.spec), "--json", "--no-health")
    rows = {row["vm"]: row for row in json.loads(out)["vms"]}
    assert code == 0 and rows["k8s-worker-2"]["ips"] == ["10.0.20.21"]
    assert {row["drift"] for row in rows.values()} == {"in sync"}
    code, out, _ = cli("status", str(cli.spec), "--no-health")
    assert code == 0 and "k8s-master-1" in out and "10.0.20.10" in out
    code, out, err = cli("destroy", str(cli.spec), "--yes")
    assert code == 0, err
    assert "Destroy complete: 3 destroyed." in out
    assert_nothing_made(cli.sim)
    code, out, _ = cli("status", str(cli.spec), "--json", "--no-health")
    assert {row["state"] for row in json.loads(out)["vms"]} == {"absent"}


def test_bad_token(cli: Cli) -> None:
    code, _, err = cli("plan", str(cli.spec), PROXMOX_VE_API_TOKEN=f"{SIM_TOKEN_ID}=wrong")
    assert_one_line_error(code, err, "401")
    assert "wrong" not in err


def test_wrong_fingerprint(cli: Cli) -> None:
    other = ":".join(["AB"] * 32)
    code, _, err = cli("apply", str(cli.spec), "--yes", PROXMOX_VE_FINGERPRINT=other)
    assert_one_line_error(code, err, "fingerprint", other)
    assert_nothing_made(cli.sim)


def test_unreachable_endpoint(cli: Cli) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = cli("plan", str(cli.spec), PROXMOX_VE_ENDPOINT=f"https://127.0.0.1:{port}")
    assert_one_line_error(code, err, f"127.0.0.1:{port}")


def test_missing_template(cli: Cli, tmp_path: Path) -> None:
    write_spec(tmp_path, {"proxmox.token_id": SIM_TOKEN_ID, "proxmox.template": "no-such"})
    code, _, err = cli("apply", str(cli.spec), "--yes")
    assert_one_line_error(code, err, "template no-such not found")
    assert_nothing_made(cli.sim)


FULL: dict[str, dict[str, Any]] = {
    "clone": {
        "method": "POST",
        "path": "/nodes/*/qemu/*/clone",
        "message": "clone failed: lvcreate 'pve/vm-200-disk-0' error: Volume group \"pve\" "
        "has insufficient free space",
    },
    "resize": {
        "method": "PUT",
        "path": "/nodes/*/qemu/*/resize",
        "message": "resize failed: not enough space on storage 'local-lvm'",
    },
}


@pytest.mark.parametrize("step", list(FULL))
def test_storage_full_leaves_nothing_half_made(cli: Cli, step: str) -> None:
    cli.sim.set_faults(faults({**FULL[step], "count": 100, "fault": "task_failure"}))
    code, _, err = cli("apply", str(cli.spec), "--yes", "--quiet")
    assert_one_line_error(code, err, "Apply failed for 3 of 3 VM(s)", "space")
    cli.sim.set_faults(FaultProfile())
    assert_nothing_made(cli.sim)
    code, _, err = cli("apply", str(cli.spec), "--yes", "--quiet")  # and the rerun works
    assert code == 0, err


def test_sim_flag_keeps_its_lab_between_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path)
    cli = Cli(new_sim(), spec, {"HOMELAB_SIM_TIME_SCALE": "400"}, monkeypatch, capsys)
    code, out, err = cli("apply", str(spec), "--sim", "--yes")
    assert code == 0, err
    assert (tmp_path / ".homelab" / "home-lab" / "sim" / "state.json").is_file()
    code, out, _ = cli("plan", str(spec), "--sim", "--detailed-exitcode")
    assert code == 0 and "No changes to the VMs." in out
    code, out, _ = cli("adopt", str(spec), "--sim", "--yes")
    assert code == 0 and "Nothing to adopt." in out
    code, out, _ = cli("destroy", str(spec), "--sim", "--yes")
    assert code == 0 and "3 destroyed" in out


def test_unlock_removes_a_stale_lock(cli: Cli) -> None:
    store = open_store(cli.spec)
    store.backend.execute(
        "INSERT INTO hl_locks (lab, owner, host, pid, purpose, acquired) "
        "VALUES ('home-lab', 'x', 'elsewhere', 1, 'apply', 'then')"
    )
    code, _, err = cli("apply", str(cli.spec), "--yes")
    assert_one_line_error(code, err, "is locked: apply by x")
    assert "homelab unlock" in err
    code, out, _ = cli("unlock", str(cli.spec), "--yes")
    assert code == 0 and "unlocked" in out
    code, out, _ = cli("unlock", str(cli.spec), "--yes")
    assert code == 0 and "was not locked" in out
    store.close()


def test_a_saved_plan_with_its_actions_duplicated_is_refused(cli: Cli, tmp_path: Path) -> None:
    saved = tmp_path / "lab.plan"
    assert cli("plan", str(cli.spec), "--out", str(saved))[0] == 0
    document = json.loads(saved.read_text())
    document["actions"] = document["actions"] * 2
    saved.write_text(json.dumps(document))
    code, _, err = cli("apply", str(cli.spec), "--plan", str(saved))
    assert_one_line_error(code, err, "does not fit the spec", "vm k8s-master-1: 2 actions")
    assert_nothing_made(cli.sim)


def test_a_saved_plan_whose_desired_vm_was_edited_is_refused(cli: Cli, tmp_path: Path) -> None:
    saved = tmp_path / "lab.plan"
    assert cli("plan", str(cli.spec), "--out", str(saved))[0] == 0
    document = json.loads(saved.read_text())
    document["actions"][0]["desired"]["memory_mib"] = 65536
    saved.write_text(json.dumps(document))
    code, _, err = cli("apply", str(cli.spec), "--plan", str(saved))
    assert_one_line_error(code, err, "does not fit the spec", "desired settings are not the spec")
    assert_nothing_made(cli.sim)


def test_destroy_and_adopt_show_their_plans_as_json(cli: Cli) -> None:
    assert cli("apply", str(cli.spec), "--yes", "--quiet")[0] == 0
    code, out, _ = cli("destroy", str(cli.spec), "--json")
    document = json.loads(out)
    assert code == 0 and document["summary"]["destroy"] == 3
    assert [a["kind"] for a in document["actions"]] == ["destroy"] * 3
    assert document["actions"][-1]["vm"] == "k8s-master-1"  # control planes last
    code, _, _ = cli("destroy", str(cli.spec), "--detailed-exitcode")
    assert code == 2
    assert len(guests(cli.sim)) == 3  # showing the plan destroys nothing
    code, out, _ = cli("adopt", str(cli.spec), "--json", "--detailed-exitcode")
    assert code == 0 and json.loads(out)["summary"]["adopt"] == 0


NODE_DOWN: dict[str, Any] = {
    "method": "GET",
    "path": "/nodes/pve/qemu/205/*",
    "fault": "http_error",
    "status": 595,
    "message": "no route to host",
    "count": 10_000,
}


def test_a_journal_entry_that_cannot_complete_is_reported_and_can_be_dropped(cli: Cli) -> None:
    store = open_store(cli.spec)
    entry = {"op": "create", "vm": "k8s-worker-2", "node": "pve", "vmid": 205, "phase": "clone"}
    store.intents("home-lab").put("vm/k8s-worker-2", entry)
    cli.sim.set_faults(faults(NODE_DOWN))
    for verb in ("apply", "destroy"):
        code, _, err = cli(verb, str(cli.spec), "--yes", "--quiet")
        assert_one_line_error(code, err, "1 journal entry", "vm/k8s-worker-2: create")
        assert "homelab journal drop SPEC vm/k8s-worker-2" in err
    code, out, _ = cli("journal", "show", str(cli.spec))
    assert code == 0 and "vm/k8s-worker-2: create (phase clone) of VMID 205 on pve" in out
    code, _, err = cli("journal", "drop", str(cli.spec), "vm/nope", "--yes")
    assert_one_line_error(code, err, "no journal entry 'vm/nope'")
    code, out, _ = cli("journal", "drop", str(cli.spec), "vm/k8s-worker-2", "--yes")
    assert code == 0 and "Dropped vm/k8s-worker-2." in out
    assert store.intents("home-lab").all() == {}
    code, _, err = cli("apply", str(cli.spec), "--yes", "--quiet")
    assert code == 0, err
    store.close()


def test_adopt_shows_its_plan_then_adopts(cli: Cli) -> None:
    conn = inprocess(cli.sim)
    conn.client.wait_task(conn.client.clone("pve", 9000, 150, name="k8s-worker-2", full=False))
    conn.client.update_config("pve", 150, tags="terraform")
    code, out, _ = cli("adopt", str(cli.spec), "--json", "--detailed-exitcode")
    (action,) = json.loads(out)["actions"]
    assert code == 2 and action["kind"] == "adopt" and action["vmid"] == 150
    code, out, err = cli("adopt", str(cli.spec), "--yes")
    assert code == 0, err
    assert "& vm k8s-worker-2 (vmid 150 on pve): no homelab mark" in out
    assert "Adopt complete: 1 adopted." in out
    code, out, _ = cli("adopt", str(cli.spec), "--yes")
    assert code == 0 and "Nothing to adopt." in out
    conn.client.wait_task(conn.client.start("pve", 150))
    # the worker runs no cluster here: record its Kubernetes version as a lab that ran up
    # has it, so the plan does not ask a cluster (at 10.0.20.10, which this real-site CLI
    # would dial directly) for it
    store = open_store(cli.spec)
    NodeVersions(store, "home-lab").seed({"k8s-worker-2": "1.29.15"})
    store.close()
    # more memory for the adopted, running worker: its restart needs --restart-adopted
    write_spec(
        cli.spec.parent, {"proxmox.token_id": SIM_TOKEN_ID, "vms.k8s-worker-2.memory": "8GiB"}
    )
    code, out, _ = cli("plan", str(cli.spec))
    assert code == 1 and "it was adopted and memory only takes effect after a restart" in out
    code, out, err = cli("plan", str(cli.spec), "--restart-adopted", "--detailed-exitcode")
    assert code == 2, out + err
    assert "~ vm k8s-worker-2: memory 2048 -> 8192 (restart)" in out


def test_a_new_seed_for_the_only_control_plane_needs_recreate_cluster(
    cli: Cli, tmp_path: Path
) -> None:
    code, _, err = cli("apply", str(cli.spec), "--yes", "--quiet")
    assert code == 0, err
    write_spec(
        cli.spec.parent,
        {
            "proxmox.token_id": SIM_TOKEN_ID,
            # another login user: first-boot only, and not one homelab changes in place
            "access": {"user": "admin"},
        },
    )
    code, out, _ = cli("plan", str(cli.spec))
    assert code == 1
    assert "replacing the only control plane runs kubeadm init again" in out
    assert "Pass --recreate-cluster" in out
    code, out, err = cli("apply", str(cli.spec), "--yes", "--quiet")
    assert_one_line_error(code, err, "replacing the only control plane")
    code, out, err = cli("plan", str(cli.spec), "--recreate-cluster", "--detailed-exitcode")
    assert code == 2, out + err
    assert "(--recreate-cluster given)" in out and "drain first" not in out
    code, out, err = cli(
        "apply", str(cli.spec), "--yes", "--quiet", "--recreate-cluster", "--force"
    )
    assert code == 0, err
    assert "Apply complete: 3 replaced." in out
