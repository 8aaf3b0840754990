"""The tool's exporter against a lab brought up on the simulator (over HTTPS on loopback)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from homelab.engine.site import Reach
from homelab.verbs.lab import prepare_lab
from homelab.verbs.metrics import collect_facts, etcd_dir
from tests.up.simlab import copy_example, upped


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
