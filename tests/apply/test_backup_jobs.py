"""The lab's backup jobs on the simulated PVE, through plan and apply with the documented token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homelab.engine.proxmox.errors import RefusedError
from homelab.errors import LabError
from homelab.verbs.lab import make_plan
from homelab.verbs.provision import PlanRefused, apply_lab, destroy_lab
from tests.apply.support import FAST, Lab, guests, inprocess, new_sim, root_client, write_spec, yes

BACKUP: dict[str, Any] = {
    "storage": {"existing": "local"},
    "jobs": {
        "nightly": {"schedule": "02:30", "retention": {"keep_last": 3, "keep_daily": 7}},
        "masters": {
            "vms": {"role": "control-plane"},
            "schedule": "*:0/30",
            "retention": {"keep_last": 2},
            "notes": "{{guestname}} ({{vmid}})",
        },
    },
}


def _respec(lab: Lab, tmp_path: Path, changes: dict[str, Any]) -> None:
    write_spec(tmp_path, changes)
    lab.reload()


def _jobs(sim: Any) -> dict[str, dict[str, Any]]:
    return {job.id: dict(job.settings) for job in sim.state.backup_jobs.values()}


def test_jobs_are_made_kept_changed_and_removed_with_the_spec(lab: Lab, tmp_path: Path) -> None:
    sim = new_sim()
    conn = inprocess(sim, backups=True)
    _respec(lab, tmp_path, {"backup": BACKUP})
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok, outcome.report
    assert [(j.name, j.kind) for j in outcome.report.jobs] == [
        ("nightly", "create"),
        ("masters", "create"),
    ]
    vmids = {str(vm.config["name"]): vm.vmid for vm in guests(sim)}
    jobs = _jobs(sim)
    nightly = jobs["homelab-home-lab-nightly"]
    assert nightly["vmid"] == ",".join(str(v) for v in sorted(vmids.values()))
    assert nightly["schedule"] == "02:30" and nightly["prune-backups"] == "keep-last=3,keep-daily=7"
    assert nightly["comment"] == "homelab lab=home-lab job=nightly"
    assert jobs["homelab-home-lab-masters"]["vmid"] == str(vmids["k8s-master-1"])
    with root_client(sim) as root:
        uncovered = root.session.get("/cluster/backup-info/not-backed-up")
        assert [g["vmid"] for g in uncovered] == [9000]  # only the template, no lab VM

    plan, _ = make_plan(conn, lab.ctx)
    assert not plan.has_changes, plan.jobs
    assert {j.kind for j in plan.jobs} == {"no-op"}

    # the half-hourly job runs on the simulated scheduler and keeps two backups
    sim.advance(2 * 3600)
    with root_client(sim) as root:
        made = root.session.get("/nodes/pve/storage/local/content", content="backup")
    master = [b for b in made if b.get("vmid") == vmids["k8s-master-1"]]
    assert len(master) == 2 and {b.get("notes") for b in master} == {
        f"k8s-master-1 ({vmids['k8s-master-1']})"
    }

    # a changed schedule and a removed worker: the job follows
    changed = {**BACKUP, "jobs": {**BACKUP["jobs"], "nightly": {**BACKUP["jobs"]["nightly"]}}}
    changed["jobs"]["nightly"]["schedule"] = "mon..fri 01:00"
    _respec(lab, tmp_path, {"backup": changed, "vms.k8s-worker-3": None})
    plan, _ = make_plan(conn, lab.ctx)
    update = [j for j in plan.jobs if j.kind == "update"]
    assert [(j.name, sorted(c.key for c in j.changes)) for j in update] == [
        ("nightly", ["schedule", "vmid"])
    ]
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok
    nightly = _jobs(sim)["homelab-home-lab-nightly"]
    assert nightly["schedule"] == "mon..fri 01:00"
    assert nightly["vmid"] == f"{vmids['k8s-master-1']},{vmids['k8s-worker-2']}"

    # the backup section removed: the jobs go, and later plans stop reading /cluster/backup
    write_spec(tmp_path, {"vms.k8s-worker-3": None})
    lab.reload()
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok
    assert sorted(j.kind for j in outcome.report.jobs) == ["delete", "delete"]
    assert _jobs(sim) == {}
    sim.log.clear()
    plan, _ = make_plan(conn, lab.ctx)
    assert plan.jobs == () and not plan.has_changes
    assert not any("/cluster/backup" in e.path for e in sim.log.entries())


def test_a_job_with_the_labs_id_but_not_its_mark_stops_the_plan(lab: Lab, tmp_path: Path) -> None:
    sim = new_sim()
    conn = inprocess(sim, backups=True)
    with root_client(sim) as root:
        root.create_backup_job(
            "homelab-home-lab-nightly", {"schedule": "daily", "all": "1", "storage": "local"}
        )
        root.create_backup_job("someone-elses", {"schedule": "daily", "all": "1"})
    _respec(lab, tmp_path, {"backup": BACKUP})
    plan, _ = make_plan(conn, lab.ctx)
    assert [e for e in plan.errors if "backup job" in e] == [
        "backup job homelab-home-lab-nightly exists and is not this lab's job nightly (its "
        "comment is not the lab's mark): rename the job in the spec, or remove the other job"
    ]
    assert "someone-elses" not in {j.id for j in plan.jobs}


def test_destroy_deletes_the_labs_jobs_and_no_others(lab: Lab, tmp_path: Path) -> None:
    sim = new_sim()
    conn = inprocess(sim, backups=True)
    with root_client(sim) as root:
        root.create_backup_job("someone-elses", {"schedule": "daily", "all": "1"})
        # the virtual clock starts at the wall time and runs 400 times faster: a job could
        # start in the middle and lock a VM the destroy stops (not what this test is about)
        root.session.put("/_sim/scheduler", running="0")
    _respec(lab, tmp_path, {"backup": BACKUP})
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert len(_jobs(sim)) == 3
    outcome = destroy_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok
    assert list(_jobs(sim)) == ["someone-elses"]


def test_without_the_backup_role_pves_refusal_is_reported(lab: Lab, tmp_path: Path) -> None:
    sim = new_sim()
    conn = inprocess(sim)  # the documented grants without HomelabBackups
    _respec(lab, tmp_path, {"backup": BACKUP})
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and len(outcome.report.outcomes) == 3
    assert not outcome.report.failed  # the VMs were made
    failed = outcome.report.failed_jobs
    assert [j.name for j in failed] == ["nightly", "masters"]
    assert failed[0].error is not None and "Sys.Modify" in failed[0].error
    assert _jobs(sim) == {}


FINGERPRINT = ":".join(["5A"] * 32)
PBS_SPEC: dict[str, Any] = {
    "storage": {
        "pbs": {
            "id": "pbs-lab",
            "server": "10.0.10.5",
            "datastore": "homelab",
            "namespace": "home-lab",
            "fingerprint": FINGERPRINT,
            "token_id": "pve@pbs!homelab",
        }
    },
    "jobs": {"nightly": {"schedule": "02:30", "retention": {"keep_last": 3}}},
}


def _pbs_world(sim: Any, datastore: str = "homelab") -> None:
    with root_client(sim) as root:
        root.session.request(
            "PUT",
            "/_sim/pbs",
            {
                "server": "10.0.10.5",
                "fingerprint": FINGERPRINT,
                "datastore": datastore,
                "token_id": "pve@pbs!homelab",
                "token_secret": "pbs-secret-1",
            },
        )


def _pbs_lab(
    lab: Lab,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    backup: dict[str, Any] = PBS_SPEC,
    datastore: str = "homelab",
) -> tuple[Any, Any]:
    """A simulator whose world holds the PBS, the spec with ``backup``, the token's secret set."""
    sim = new_sim()
    _pbs_world(sim, datastore=datastore)
    conn = inprocess(sim, backups=True, pbs=True)
    _respec(lab, tmp_path, {"backup": backup})
    monkeypatch.setenv("HOMELAB_PBS_TOKEN", "pbs-secret-1")
    return sim, conn


def test_a_pbs_storage_is_added_before_its_jobs(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = new_sim()
    _pbs_world(sim)
    conn = inprocess(sim, backups=True, pbs=True)
    _respec(lab, tmp_path, {"backup": PBS_SPEC})
    monkeypatch.delenv("HOMELAB_PBS_TOKEN", raising=False)
    with pytest.raises(PlanRefused, match="needs the PBS token's secret in HOMELAB_PBS_TOKEN"):
        apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert guests(sim) == []  # refused before anything changed

    monkeypatch.setenv("HOMELAB_PBS_TOKEN", "pbs-secret-1")
    plan, _ = make_plan(conn, lab.ctx)
    assert plan.storage is not None and plan.storage.id == "pbs-lab"
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok, outcome.report
    assert [(j.name, j.kind) for j in outcome.report.jobs] == [
        ("storage pbs-lab", "create"),
        ("nightly", "create"),
    ]
    storage = sim.state.storage("pbs-lab")
    assert storage is not None and storage.type == "pbs" and storage.pbs is not None
    assert storage.pbs["namespace"] == "home-lab" and "pbs-secret-1" not in str(sim.state)
    assert _jobs(sim)["homelab-home-lab-nightly"]["storage"] == "pbs-lab"
    plan, _ = make_plan(conn, lab.ctx)
    assert not plan.has_changes and plan.storage is None


def test_a_pbs_storage_pve_cannot_reach_fails_its_jobs_but_not_the_vms(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, conn = _pbs_lab(lab, tmp_path, monkeypatch, datastore="elsewhere")
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and not outcome.report.failed
    storage, job = outcome.report.failed_jobs
    assert storage.error is not None and (
        "Cannot find datastore 'homelab', check permissions and existence!" in storage.error
    )
    assert job.error == "the backup storage pbs-lab could not be added"
    assert sim.state.storage("pbs-lab") is None and _jobs(sim) == {}


def test_a_vm_restored_over_itself_is_drained_replaced_and_back(lab: Lab, tmp_path: Path) -> None:
    from homelab.verbs.backup import backup_now
    from homelab.verbs.restore import restore_vm

    sim = new_sim()
    conn = inprocess(sim, backups=True)
    _respec(lab, tmp_path, {"backup": {"storage": {"existing": "local"}}})
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    sim.advance(120)  # kubeadm init has run: the cluster answers, so the restore drains first
    assert backup_now(conn, lab.ctx, "k8s-worker-3").ok
    worker = next(vm for vm in guests(sim) if vm.config.get("name") == "k8s-worker-3")
    net0 = worker.config["net0"]
    sim.state.vms[worker.vmid].guest["marker"] = "written after the backup"
    result = restore_vm(conn, lab.ctx, "k8s-worker-3", force=True, limits=FAST)
    assert result.in_place and result.vmid == worker.vmid
    # it was drained first; without a CNI (apply only, no addons) it cannot be Ready again
    assert [w.split(":")[0] for w in result.warnings] == ["k8s-worker-3 is not Ready again yet"]
    # apply's journaled drain: the next apply finds the node cordoned and uncordons it
    assert "drain/k8s-worker-3" in lab.ctx.store.intents(lab.ctx.lab).all()
    restored = sim.state.vms[worker.vmid]
    assert restored.status == "running" and "marker" not in restored.guest
    assert restored.config["net0"] == net0  # in place: the same MACs
    plan, _ = make_plan(conn, lab.ctx)
    assert not plan.has_changes


def test_an_etcd_snapshot_is_fetched_verified_sealed_and_pruned(lab: Lab, tmp_path: Path) -> None:
    from homelab.verbs.etcd import backup_etcd, open_snapshot
    from homelab_sim.guest.crictl import MAGIC

    sim = new_sim()
    conn = inprocess(sim, backups=True)
    etcd = {"schedule": "hourly", "retention": {"keep_last": 2}}
    _respec(lab, tmp_path, {"backup": {"storage": {"existing": "local"}, "etcd": etcd}})
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    sim.advance(120)  # kubeadm init has run
    first = backup_etcd(conn, lab.ctx)
    assert first.vm == "k8s-master-1" and first.keys > 10 and first.revision > 1
    assert first.path.parent == tmp_path / ".homelab" / "home-lab" / "etcd"
    assert first.path.stat().st_mode & 0o777 == 0o600
    raw = first.path.read_bytes()
    assert not raw.startswith(MAGIC) and b"kube-system" not in raw  # sealed, never in clear
    plain = open_snapshot(lab.ctx, first.path)
    assert plain.startswith(MAGIC) and len(plain) == first.size
    master = next(vm for vm in guests(sim) if vm.config.get("name") == "k8s-master-1")
    with root_client(sim) as root, pytest.raises(RefusedError, match="No such file"):
        root.agent_file_read("pve", master.vmid, "/var/lib/etcd/homelab-snapshot.db")  # gone
    names = [first.path.name]
    for _ in range(2):
        names.append(backup_etcd(conn, lab.ctx).path.name)
    left = sorted(p.name for p in first.path.parent.iterdir())
    assert left == names[1:]  # keep_last: 2


def test_an_encrypted_pbs_storage_leaves_its_key_sealed_and_exportable(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from homelab.verbs.state_key import export_pbs_key

    encrypted = {**PBS_SPEC, "storage": {"pbs": {**PBS_SPEC["storage"]["pbs"], "encrypt": True}}}
    sim, conn = _pbs_lab(lab, tmp_path, monkeypatch, backup=encrypted)
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok, outcome.report
    storage = sim.state.storage("pbs-lab")
    assert storage is not None and storage.pbs is not None
    fingerprint = storage.pbs["encryption-key"]
    sealed = lab.ctx.store.secrets(lab.ctx.lab).get("pbs-encryption-key/pbs-lab")
    assert sealed is not None and json.loads(sealed)["fingerprint"] == fingerprint
    key_data = json.loads(sealed)["data"].encode()
    for path in (tmp_path / ".homelab").rglob("*"):  # never in clear on disk
        if path.is_file():
            assert key_data not in path.read_bytes(), path
    out = export_pbs_key(lab.path, lab.ctx.lab, "pbs-lab", tmp_path / "escrow.json")
    assert out.stat().st_mode & 0o777 == 0o600
    assert json.loads(out.read_text())["fingerprint"] == fingerprint
    with pytest.raises(LabError, match="exists: not overwriting it"):
        export_pbs_key(lab.path, lab.ctx.lab, "pbs-lab", out)

    from homelab.verbs.backup import backup_now

    assert backup_now(conn, lab.ctx).ok
    with root_client(sim) as root:
        items = root.session.get("/nodes/pve/storage/pbs-lab/content", content="backup")
    assert {item["encrypted"] for item in items} == {fingerprint}


def test_a_pbs_backup_that_failed_verification_is_a_problem(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from homelab.verbs.backup import backup_now, backup_status

    sim, conn = _pbs_lab(lab, tmp_path, monkeypatch)
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert backup_now(conn, lab.ctx).ok
    status = backup_status(conn, lab.ctx)
    assert {row.newest.verified for row in status.vms if row.newest} == {None}  # not yet
    worker = next(r for r in status.vms if r.vm == "k8s-worker-2")
    assert worker.newest is not None
    with root_client(sim) as root:
        root.session.request("POST", "/_sim/corrupt", {"volid": worker.newest.volid})
        root.session.request("POST", "/_sim/pbs-verify", {"storage": "pbs-lab"})
    status = backup_status(conn, lab.ctx)
    verified = {row.vm: row.newest.verified for row in status.vms if row.newest}
    assert verified == {"k8s-master-1": "ok", "k8s-worker-2": "failed", "k8s-worker-3": "ok"}
    assert "vm k8s-worker-2: the newest backup failed verification" in status.problems


def test_the_exporter_reports_the_last_drill_of_each_vm(lab: Lab, tmp_path: Path) -> None:
    from homelab.verbs.backup import backup_now
    from homelab.verbs.metrics import collect_facts
    from homelab.verbs.restore import drill

    sim = new_sim()
    conn = inprocess(sim, backups=True)
    _respec(lab, tmp_path, {"backup": {"storage": {"existing": "local"}}})
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert collect_facts(conn, lab.ctx).drills == {}
    sim.advance(300)  # the worker has joined: its disk holds its kubelet's config
    assert backup_now(conn, lab.ctx, "k8s-worker-3").ok
    results = drill(conn, lab.ctx, ["k8s-worker-3", "k8s-worker-2"], limits=FAST)
    assert [r.ok for r in results] == [True, False], results  # worker-2 has no backup
    drills = collect_facts(conn, lab.ctx).drills
    assert {vm: d.ok for vm, d in drills.items()} == {"k8s-worker-3": True, "k8s-worker-2": False}
    assert all(d.at > 1.7e9 for d in drills.values())


def test_a_saved_plan_is_stale_once_the_jobs_changed_and_refused_if_edited(
    lab: Lab, tmp_path: Path
) -> None:
    import dataclasses

    from homelab.core.plan.json import plan_from_json, plan_to_json

    sim = new_sim()
    conn = inprocess(sim, backups=True)
    _respec(lab, tmp_path, {"backup": BACKUP})
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    changed = {**BACKUP, "jobs": {**BACKUP["jobs"], "nightly": {**BACKUP["jobs"]["nightly"]}}}
    changed["jobs"]["nightly"]["schedule"] = "03:15"
    _respec(lab, tmp_path, {"backup": changed})
    saved = plan_from_json(plan_to_json(make_plan(conn, lab.ctx)[0]))
    assert [j.kind for j in saved.jobs if j.changes_anything] == ["update"]

    first = saved.jobs[0]
    assert first.desired is not None
    wrong = dataclasses.replace(first.desired, vms=("k8s-master-1",))
    edited_job = dataclasses.replace(first, desired=wrong)
    edited = dataclasses.replace(saved, jobs=(edited_job, *saved.jobs[1:]))
    with pytest.raises(PlanRefused, match="backup job nightly: its settings are not the spec's"):
        apply_lab(conn, lab.ctx, confirm=yes, saved=edited, limits=FAST)

    with root_client(sim) as root:  # someone changes a job of the lab meanwhile
        root.update_backup_job("homelab-home-lab-masters", {"schedule": "05:00"})
    with pytest.raises(PlanRefused, match="the lab's backup jobs changed since the plan was made"):
        apply_lab(conn, lab.ctx, confirm=yes, saved=saved, limits=FAST)
    assert _jobs(sim)["homelab-home-lab-nightly"]["schedule"] == "02:30"  # nothing applied
