"""The tool's exporter against a lab brought up on the simulator (over HTTPS on loopback)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from homelab.cli.lab import health_lines
from homelab.core.monitoring.facts import ApplyFact, LabFacts
from homelab.engine.site import Reach
from homelab.simulated.site import SimulatedSite
from homelab.verbs.connection import open_connection
from homelab.verbs.lab import prepare_lab
from homelab.verbs.metrics import LabHealth, collect_facts, etcd_dir, lab_health
from tests.up.simlab import Upped, copy_example, upped


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exporter")


def test_facts_of_an_upped_lab_then_drift_then_an_interrupted_apply(lab_dir: Path) -> None:
    spec = copy_example("home-lab.yaml", lab_dir)
    before = time.time()
    with upped(spec) as lab:
        facts = collect_facts(lab.conn, lab.ctx)
        assert facts.errors == {}
        assert facts.drift_objects == 0
        assert facts.last_apply is not None and facts.last_apply.ok
        assert facts.last_apply.at is not None and facts.last_apply.at >= before - 1
        assert set(facts.certificates) == {"cluster-ca", "etcd-ca", "front-proxy-ca", "apiserver"}
        # kubeadm signs the API server for a year, the CAs live ten
        year = 365 * 86400
        assert 0.9 * year < facts.certificates["apiserver"] - time.time() <= 1.01 * year
        assert facts.certificates["cluster-ca"] - time.time() > 9 * year
        assert facts.etcd_snapshot_last is None

        # the spec moves away from the lab: one VM to update, counted as drift
        text = spec.read_text()
        edited = text.replace(
            "k8s-worker-2: {role: worker, cores: 2", "k8s-worker-2: {role: worker, cores: 4"
        )
        assert edited != text
        spec.write_text(edited)
        moved = prepare_lab(spec)
        try:
            assert collect_facts(lab.conn, moved).drift_objects == 1
            # an apply that left an intent behind (killed) is a failed last apply
            moved.store.intents(moved.lab).put("vm/k8s-worker-2", {"op": "update"})
            interrupted = collect_facts(lab.conn, moved).last_apply
            assert interrupted is not None and not interrupted.ok
        finally:
            moved.store.intents(moved.lab).remove("vm/k8s-worker-2")
            moved.close()
        spec.write_text(text)

        # an etcd snapshot kept locally: its time; other files are not snapshots
        folder = etcd_dir(spec, lab.ctx.lab)
        folder.mkdir(parents=True)
        (folder / "notes.txt").write_text("x")
        snap = folder / "etcd-20261203.db"
        snap.write_bytes(b"\0")
        os.utime(snap, (1_790_000_000, 1_790_000_000))
        os.utime(folder / "notes.txt", (1_795_000_000, 1_795_000_000))
        assert collect_facts(lab.conn, lab.ctx).etcd_snapshot_last == 1_790_000_000


def test_an_unreadable_source_is_counted_and_its_facts_left_out(
    lab_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = copy_example("home-lab.yaml", lab_dir / "broken")
    with upped(spec) as lab:
        # the API server no longer answers where the site says it is: a certificates error
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        gone = Reach(f"https://127.0.0.1:{closed}", server_name="10.0.20.10")
        monkeypatch.setattr(lab.conn.site, "reach", lambda host, port: gone)
        folder = etcd_dir(spec, lab.ctx.lab)
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.write_text("a file where the folder should be")
        facts = collect_facts(lab.conn, lab.ctx)
        assert facts.errors == {"certificates": 1, "etcd": 1}
        assert "apiserver" not in facts.certificates
        assert "cluster-ca" in facts.certificates
        assert facts.etcd_snapshot_last is None
        assert facts.drift_objects == 0


def test_status_health_of_an_upped_lab_then_of_a_stopped_node(lab_dir: Path) -> None:
    spec = copy_example("home-lab.yaml", lab_dir / "health")
    with upped(spec) as lab:
        health = lab_health(lab.conn, lab.ctx)
        assert health.api == ""
        assert health.nodes == dict.fromkeys(lab.ctx.spec.vms, "Ready")
        assert "apiserver" in health.facts.certificates
        applied = health.facts.last_apply
        assert applied is not None
        assert health.to_dict()["last_apply"] == {"at": applied.at, "ok": True}
        lab.conn.client.wait_task(lab.conn.client.stop("pve", _vmid(lab, "k8s-worker-3")))
        site = lab.conn.site
        assert isinstance(site, SimulatedSite)
        site.advance_clock(60)  # past the grace period: every condition Unknown, unreachable
        nodes = lab_health(lab.conn, lab.ctx).nodes
        assert nodes["k8s-worker-2"] == "Ready"
        assert nodes["k8s-worker-3"] == "NotReady: Kubelet stopped posting node status.", nodes
        with lab.api() as api:
            found: dict[str, Any] = api.find("v1", "Node", "k8s-worker-3")
        taints = found["spec"]["taints"]
        assert {t["key"] for t in taints} == {"node.kubernetes.io/unreachable"}
        lab.conn.client.wait_task(lab.conn.client.start("pve", _vmid(lab, "k8s-worker-3")))
        site.advance_clock(30)  # the kubelet is back and posts Ready
        assert lab_health(lab.conn, lab.ctx).nodes["k8s-worker-3"] == "Ready"


def test_status_health_before_anything_was_applied(lab_dir: Path) -> None:
    spec = copy_example("home-lab.yaml", lab_dir / "fresh")
    ctx = prepare_lab(spec)
    try:
        with open_connection(ctx.spec, spec, sim=True) as conn:
            health = lab_health(conn, ctx)
    finally:
        ctx.close()
    assert health.api == "no cluster yet"
    assert set(health.nodes.values()) == {"not joined"}
    assert health.facts.last_apply is None


def test_health_lines_warn_about_what_needs_a_person() -> None:
    now = 1_800_000_000.0
    facts = LabFacts(
        lab="x",
        vms=[],
        certificates={"apiserver": now + 10 * 86400, "cluster-ca": now + 3000 * 86400},
        last_apply=ApplyFact(at=now - 60, ok=False),
        etcd_snapshot_last=now - 30 * 3600,
        errors={"certificates": 1},
    )
    lines = dict(health_lines(LabHealth({}, "", facts), now))
    assert lines["certificate apiserver: expires 2027-01-25 (in 10 d)"] is True
    assert lines["certificate cluster-ca: expires 2035-04-03 (in 3000 d)"] is False
    assert lines["last apply: 2027-01-15T07:59+00:00, FAILED"] is True
    assert lines["etcd snapshot: newest 30 h old"] is True
    assert lines["could not read certificates (1)"] is True


def _vmid(lab: Upped, name: str) -> int:
    (vm,) = [v for v in lab.conn.client.cluster_vms() if v.name == name]
    return vm.vmid


def test_backup_facts_follow_vzdump_and_the_jobs(lab_dir: Path) -> None:
    from homelab.engine.proxmox.session import PveSession

    spec = copy_example("home-lab.yaml", lab_dir / "backups")
    with upped(spec) as lab:
        facts = collect_facts(lab.conn, lab.ctx)
        assert facts.errors == {}
        assert set(facts.backups) == set(lab.ctx.spec.vms)
        assert all(b.last is None and b.covered is False for b in facts.backups.values())
        site = lab.conn.site
        assert isinstance(site, SimulatedSite)
        master = _vmid(lab, "k8s-master-1")
        root = PveSession(site.settings)  # the simulator's root token sets the scene up
        try:
            root.post(
                "/cluster/backup",
                id="nightly",
                schedule="02:00",
                storage="local",
                vmid=str(master),
                enabled=1,
            )
            upid = root.post("/nodes/pve/vzdump", vmid=str(master), storage="local")
            lab.conn.client.wait_task(str(upid))
        finally:
            root.close()
        facts = collect_facts(lab.conn, lab.ctx)
        assert facts.errors == {}
        backed = facts.backups["k8s-master-1"]
        assert backed.covered is True and backed.last is not None
        assert facts.backups["k8s-worker-2"] == facts.backups["k8s-worker-3"]
        assert facts.backups["k8s-worker-2"].last is None
        assert facts.backups["k8s-worker-2"].covered is False
