"""Day 2 on the simulated cluster: a running node is drained before it is disrupted.

A Deployment of 3 replicas with a PodDisruptionBudget ``minAvailable: 2`` runs the whole time;
a watch on its pods records every change, so "the budget was never violated" is read from what
the API server reported, not from a sample.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.core.ownership import Flags
from homelab.core.plan.actions import DestroyVm, UpdateVm
from homelab.engine.kube.drain import DrainBlocked, NodeDrainer
from homelab.verbs.lab import make_plan, prepare_lab
from tests.up.simlab import copy_example, upped
from tests.up.workload import (
    RECORDER,
    WORKER2,
    WORKER2_8G,
    apply,
    node,
    respec,
    running,
    start_workload,
    watched,
)


def test_a_restart_drains_the_node_within_the_budget_then_uncordons_it(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        start_workload(lab, api, min_available=2)
        on_worker2 = {
            p["metadata"]["name"] for p in running(api) if p["spec"]["nodeName"] == "k8s-worker-2"
        }
        assert on_worker2, "the scheduler spread the pods over both workers"
        ctx = respec(spec, WORKER2, WORKER2_8G)
        try:
            plan, _ = make_plan(lab.conn, ctx)
            (update,) = plan.changes
            assert isinstance(update, UpdateVm) and update.restart and update.drain
            with watched(api) as counts:
                RECORDER.events.clear()
                outcome = apply(lab, ctx)
            assert outcome.report is not None and outcome.report.ok, outcome.report
        finally:
            ctx.close()
        phases = [(e.phase, e.status) for e in RECORDER.events if e.vm == "k8s-worker-2"]
        drain_at = phases.index(("drain", "done"))
        assert phases.index(("drain", "running")) < drain_at < phases.index(("start", "done"))
        assert phases.index(("ready", "done")) > phases.index(("start", "done"))
        worker2 = node(api, "k8s-worker-2")
        assert not worker2["spec"].get("unschedulable"), "uncordoned after the restart"
        now = {p["metadata"]["name"] for p in running(api)}
        assert len(now) == 3 and not (now & on_worker2), "the evicted pods were replaced"
        assert counts and min(counts) >= 2, f"the budget was violated: {counts}"


def test_a_budget_that_cannot_be_met_stops_before_the_vm_changes(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        start_workload(lab, api, min_available=3)
        ctx = respec(spec, WORKER2, WORKER2_8G)
        try:
            outcome = apply(lab, ctx, drain_timeout=60.0)
            assert outcome.report is not None
            (failed,) = outcome.report.failed
            assert failed.vm == "k8s-worker-2"
            assert failed.error is not None and failed.error.startswith(
                "cannot drain node k8s-worker-2: pod default/web-"
            )
            assert "disruption budget" in failed.error and "after 60 s" in failed.error
            assert not node(api, "k8s-worker-2")["spec"].get("unschedulable"), "uncordoned"
            again, _ = make_plan(lab.conn, ctx)
            assert [a.vm for a in again.changes] == ["k8s-worker-2"], "nothing was changed"
            assert ctx.store.intents(ctx.lab).all() == {}
            # --force is the only way past it
            forced = apply(lab, ctx, Flags(force_drain=True), drain_timeout=60.0)
            assert forced.report is not None and forced.report.ok, forced.report
            assert not (make_plan(lab.conn, ctx)[0]).has_changes
        finally:
            ctx.close()


def test_removing_a_worker_drains_it_and_deletes_its_node(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        start_workload(lab, api, min_available=2)
        text = spec.read_text()
        line = next(row for row in text.splitlines() if row.strip().startswith("k8s-worker-3:"))
        spec.write_text(text.replace(line + "\n", ""))
        ctx = prepare_lab(spec)
        try:
            plan, _ = make_plan(lab.conn, ctx)
            (gone,) = plan.changes
            assert isinstance(gone, DestroyVm) and gone.drain
            with watched(api) as counts:
                outcome = apply(lab, ctx)
            assert outcome.report is not None and outcome.report.ok, outcome.report
        finally:
            ctx.close()
        assert api.find("v1", "Node", "k8s-worker-3") is None
        pods = running(api)
        assert len(pods) == 3 and {p["spec"]["nodeName"] for p in pods} == {"k8s-worker-2"}
        assert counts and min(counts) >= 2, f"the budget was violated: {counts}"


def test_a_node_left_cordoned_by_an_interrupted_drain_is_uncordoned(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        api.set_unschedulable("k8s-worker-3", True)
        lab.ctx.store.intents(lab.ctx.lab).put(
            "drain/k8s-worker-3", {"op": "drain", "vm": "k8s-worker-3", "node": "pve"}
        )
        outcome = apply(lab, lab.ctx)
        assert outcome.report is None  # nothing else to do
        assert outcome.notes == ["k8s-worker-3: uncordoned after an interrupted drain"]
        assert not node(api, "k8s-worker-3")["spec"].get("unschedulable")
        assert lab.ctx.store.intents(lab.ctx.lab).all() == {}


def test_the_drainer_skips_daemonset_and_static_pods_and_refuses_past_a_budget(
    tmp_path: Path,
) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        start_workload(lab, api, min_available=3)
        pod = running(api)[0]
        answer = api.evict("default", pod["metadata"]["name"])
        assert not answer.evicted and not answer.gone
        assert "disruption budget" in answer.refusal and "needs 3 healthy pods" in answer.refusal
        assert api.evict("default", "no-such-pod").gone
        drainer = NodeDrainer(api, lab.conn.clock, timeout=10)
        with pytest.raises(DrainBlocked, match="still cannot be evicted after 10 s"):
            drainer.drain(pod["spec"]["nodeName"])
        drainer.uncordon(pod["spec"]["nodeName"])
        report = drainer.drain("k8s-master-1")
        # the workload does not run on the tainted control plane; what tolerates it is evicted
        assert report.evicted and not [r for r in report.evicted if r.startswith("default/")]
        kinds = set(report.skipped.values())
        assert kinds == {"static pod (the kubelet owns it)", "DaemonSet pod"}, report.skipped
        assert "kube-system/kube-apiserver-k8s-master-1" in report.skipped
        assert node(api, "k8s-master-1")["spec"]["unschedulable"] is True
        drainer.uncordon("k8s-master-1")
        assert not node(api, "k8s-master-1")["spec"].get("unschedulable")
        drainer.uncordon("no-such-node")  # gone: nothing to do
