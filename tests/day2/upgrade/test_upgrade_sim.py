"""The rolling Kubernetes upgrade on the simulator, over the wire: 1.29 -> 1.30.

A Deployment of 3 replicas with a PodDisruptionBudget ``minAvailable: 2`` runs the whole time;
a watch counts its Running pods after every event, so "the budget was never violated" is read
from what the API server reported.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

from homelab.core.plan.json import plan_to_json
from homelab.core.plan.text import format_plan
from homelab.engine.apply.progress import ProgressEvent, Silent
from homelab.engine.apply.runtime import Limits
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.upgrade.rollout import Rollout, UpgradeFailed
from homelab.engine.upgrade.versions import RECORD, NodeVersions
from homelab.simulated.site import SimulatedSite
from homelab.verbs.guest_log import guest_history
from homelab.verbs.lab import lab_status, make_plan, prepare_lab
from homelab.verbs.provision import apply_lab, new_runtime
from tests.up.simlab import copy_example, ready_nodes, upped
from tests.up.workload import apply, node, respec, start_workload, watched

OLD, NEW = "version: 1.29.15", "version: 1.30.14"


def test_a_version_bump_upgrades_every_node_within_the_budget(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        start_workload(lab, api, min_available=2)
        ctx = respec(spec, OLD, NEW)
        try:
            plan, _ = make_plan(lab.conn, ctx)
            assert plan.changes == (), "no VM is replaced for a version change"
            assert [(s.vm, s.step) for s in plan.upgrades] == [
                ("k8s-master-1", "apply"),
                ("k8s-worker-2", "node"),
                ("k8s-worker-3", "node"),
            ]
            text = format_plan(plan)
            assert "^ upgrade 1. vm k8s-master-1: 1.29.15 -> 1.30.14" in text
            assert "kubeadm upgrade apply -y v1.30.14" in text
            assert "3 node(s) to upgrade" in text
            rows, _ = lab_status(lab.conn, ctx)
            assert {r.vm: r.drift for r in rows} == dict.fromkeys(
                ("k8s-master-1", "k8s-worker-2", "k8s-worker-3"), "upgrade"
            )
            data = json.loads(plan_to_json(plan))
            assert [u["vm"] for u in data["upgrades"]] == [s.vm for s in plan.upgrades]
            with watched(api) as counts:
                outcome = apply(lab, ctx)
            assert outcome.report is not None and outcome.report.ok, outcome.report
            assert counts and min(counts) >= 2, f"the budget was violated: {counts}"
            for name in ("k8s-master-1", "k8s-worker-2", "k8s-worker-3"):
                found = node(api, name)
                assert found["status"]["nodeInfo"]["kubeletVersion"] == "v1.30.14", name
                assert not found["spec"].get("unschedulable"), name
            assert api.version()["gitVersion"] == "v1.30.14"
            assert NodeVersions(ctx.store, ctx.lab).current() == dict.fromkeys(
                ("k8s-master-1", "k8s-worker-2", "k8s-worker-3"), "1.30.14"
            )
            assert list((spec.parent / ".homelab").rglob("etcd/*.db.sealed"))
            again, _ = make_plan(lab.conn, ctx)
            assert not again.has_changes, format_plan(again)
        finally:
            ctx.close()
        back = respec(spec, NEW, OLD)
        try:
            refused, _ = make_plan(lab.conn, back)
            assert any("downgrade is not supported" in e for e in refused.errors), refused.errors
            assert not refused.upgrades and refused.changes == ()
        finally:
            back.close()


class Killed(BaseException):
    """The process dies here (not an error apply could handle)."""


def test_a_kill_mid_upgrade_and_a_rerun_finish_it(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        ctx = respec(spec, OLD, NEW)
        try:

            def killer(event: ProgressEvent) -> None:
                if (event.vm, event.phase, event.status) == ("k8s-worker-2", "drain", "done"):
                    raise Killed

            with pytest.raises(Killed):
                apply_lab(lab.conn, ctx, confirm=lambda _plan: True, progress=killer)
            assert node(api, "k8s-worker-2")["spec"].get("unschedulable"), "killed while drained"
            plan, _ = make_plan(lab.conn, ctx)
            assert [s.vm for s in plan.upgrades] == ["k8s-worker-2", "k8s-worker-3"], (
                "the finished control plane is not repeated"
            )
            outcome = apply(lab, ctx)
            assert outcome.report is not None and outcome.report.ok
            assert "k8s-worker-2: uncordoned after an interrupted drain" in outcome.notes
            for name in ("k8s-master-1", "k8s-worker-2", "k8s-worker-3"):
                found = node(api, name)
                assert found["status"]["nodeInfo"]["kubeletVersion"] == "v1.30.14", name
                assert not found["spec"].get("unschedulable"), name
            assert ctx.store.intents(ctx.lab).all() == {}
        finally:
            ctx.close()


def test_the_ha_lab_upgrades_its_control_planes_one_at_a_time(tmp_path: Path) -> None:
    spec = copy_example("ha-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        start_workload(lab, api, min_available=2)
        with watched(api) as counts:
            for old, new in (("1.29.15", "1.30.14"), ("1.30.14", "1.31.14")):
                ctx = respec(spec, f"version: {old}", f"version: {new}")
                try:
                    plan, _ = make_plan(lab.conn, ctx)
                    assert plan.changes == ()
                    planes = [s for s in plan.upgrades if s.role == "control-plane"]
                    assert [s.step for s in planes] == ["apply", "node", "node"]
                    outcome = apply(lab, ctx)
                    assert outcome.report is not None and outcome.report.ok
                finally:
                    ctx.close()
                # kube-vip moves with the minor (v0.8.9 up to 1.30, v0.9.2 from 1.31), in the
                # running manifest and in the staged copy a rejoin installs
                channel = GuestChannel(lab.conn.client, lab.conn.clock)
                vip = "v0.9.2" if new == "1.31.14" else "v0.8.9"
                for plane in planes:
                    for path in (
                        "/etc/kubernetes/manifests/kube-vip.yaml",
                        "/etc/homelab/kube-vip.yaml",
                    ):
                        text = channel.read_file(plane.node, plane.vmid, path).decode()
                        assert f"image: ghcr.io/kube-vip/kube-vip:{vip}" in text, (plane.vm, path)
                for found in api.nodes():
                    assert found["status"]["nodeInfo"]["kubeletVersion"] == f"v{new}"
                    assert not found["spec"].get("unschedulable")
                images = {
                    p["spec"]["containers"][0]["image"]
                    for p in api.pods("kube-system")
                    if p["metadata"].get("labels", {}).get("component") == "kube-apiserver"
                }
                assert images == {f"registry.k8s.io/kube-apiserver:v{new}"}
        assert counts and min(counts) >= 2, f"the budget was violated: {counts}"


def test_a_budget_that_cannot_be_met_stops_the_rollout_with_the_way_back(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        start_workload(lab, api, min_available=3)
        ctx = respec(spec, OLD, NEW)
        try:
            with pytest.raises(UpgradeFailed) as failed:
                apply(lab, ctx, drain_timeout=60.0)
            message, hint = failed.value.message, failed.value.hint or ""
            assert message.startswith(
                "the upgrade to 1.30.14 stopped: cannot drain node k8s-worker-"
            )
            assert "pre-k8s-1-30-14" in hint and "k8s-master-1@pre-k8s-1-30-14" in hint
            assert ".db.sealed" in hint and "homelab restore cluster SPEC --etcd" in hint
            ready, _ = api.readyz()
            assert ready, "the cluster still serves"
            assert api.version()["gitVersion"] == "v1.30.14"
            assert not any(n["spec"].get("unschedulable") for n in api.nodes()), "uncordoned"
            versions = NodeVersions(ctx.store, ctx.lab).current()
            assert versions["k8s-master-1"] == "1.30.14"
            assert versions["k8s-worker-2"] == versions["k8s-worker-3"] == "1.29.15"
            plan, _ = make_plan(lab.conn, ctx)
            assert [(s.vm, s.step) for s in plan.upgrades] == [
                ("k8s-worker-2", "node"),
                ("k8s-worker-3", "node"),
            ]
        finally:
            ctx.close()


def test_a_lab_without_version_records_reads_them_from_the_cluster(tmp_path: Path) -> None:
    """A lab made before the store recorded versions: the kubelets say what runs, and the
    seeds of the nodes are rendered at that version (no replace)."""
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        lab.ctx.store.secrets(lab.ctx.lab).delete(RECORD)
        ctx = respec(spec, OLD, NEW)
        try:
            plan, _ = make_plan(lab.conn, ctx)
            assert plan.changes == () and len(plan.upgrades) == 3, format_plan(plan)
            assert NodeVersions(ctx.store, ctx.lab).born()["k8s-worker-3"] == "1.29.15"
            rt = new_runtime(lab.conn, ctx, Silent(), Limits())
            rollout = Rollout(
                rt,
                GuestChannel(lab.conn.client, lab.conn.clock),
                api,
                NodeVersions(ctx.store, ctx.lab),
                gate_timeout=5.0,
            )
            first = plan.upgrades[0]
            with pytest.raises(
                UpgradeFailed,
                match=r"in 5 s: node k8s-master-1 reports kubelet v1\.29\.15, not v1\.30\.14",
            ):
                rollout.gate(first)
            with pytest.raises(
                UpgradeFailed, match=r"vm k8s-master-1: bogus failed \(exit 1\): .*unknown command"
            ):
                rollout.sh(first, ["kubeadm", "upgrade", "bogus"], "bogus")
            gone = dataclasses.replace(first, vm="k8s-worker-9")
            assert rollout.health(gone) == "node k8s-worker-9 is not registered"
        finally:
            ctx.close()


def test_workers_go_max_unavailable_at_a_time(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab:
        ctx = respec(spec, OLD, NEW)
        drained: set[str] = set()
        widest: list[int] = []

        def progress(event: ProgressEvent) -> None:
            if event.phase == "drain" and event.status == "running":
                drained.add(event.vm)
                widest.append(len(drained))
            if event.phase == "ready" and event.status == "done":
                drained.discard(event.vm)

        try:
            outcome = apply_lab(
                lab.conn,
                ctx,
                confirm=lambda _plan: True,
                progress=progress,
                limits=Limits(max_unavailable=2),
            )
            assert outcome.report is not None and outcome.report.ok
        finally:
            ctx.close()
        assert max(widest) == 2, "both workers were drained at once (the control plane alone)"


def test_workers_are_prepared_ahead_of_their_drains_which_keep_the_plan_order(
    tmp_path: Path,
) -> None:
    """kubeadm and ``upgrade node`` (which do not disturb a node) run ahead: the first worker's
    kubeadm while the control plane's kubelet phase runs, the next worker's ``upgrade node``
    while the one before is drained. (The progress callback holds a node's thread at a point
    until the other node got there: without the overlap it would wait in vain.) A failure
    there stops the drains not yet begun; the rerun finishes from the phases journaled."""
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        events: list[tuple[str, str, str]] = []
        seen = threading.Condition()
        holds = {
            # (node, phase, status) held until (other node, phase) is done
            ("k8s-master-1", "upgrade kubelet", "done"): ("k8s-worker-2", "upgrade kubeadm"),
            # both prepared at once: the drains must still go in the plan's order
            ("k8s-worker-2", "upgrade control-plane", "done"): (
                "k8s-worker-3",
                "upgrade control-plane",
            ),
        }
        missed: list[str] = []

        def progress(event: ProgressEvent) -> None:
            key = (event.vm, event.phase, event.status)
            with seen:
                events.append(key)
                seen.notify_all()
                wanted = holds.get(key)
                if wanted is not None and not seen.wait_for(
                    lambda: (*wanted, "done") in events, timeout=60
                ):
                    missed.append(f"{wanted} was not done while {key} waited for it")

        ctx = respec(spec, OLD, NEW)
        try:
            outcome = apply_lab(lab.conn, ctx, confirm=lambda _plan: True, progress=progress)
            assert outcome.report is not None and outcome.report.ok
        finally:
            ctx.close()
        assert not missed, missed
        assert events.index(("k8s-worker-2", "drain", "running")) < events.index(
            ("k8s-worker-3", "drain", "running")
        ), "drains keep the plan's order"

        ctx = respec(spec, "version: 1.30.14", "version: 1.31.14")
        try:
            plan, _ = make_plan(lab.conn, ctx)
            second = next(s for s in plan.upgrades if s.vm == "k8s-worker-2")
            channel = GuestChannel(lab.conn.client, lab.conn.clock)
            conf, aside = "/etc/kubernetes/kubelet.conf", "/root/kubelet.conf"
            assert channel.run(second.node, second.vmid, ["mv", conf, aside]).ok
            events.clear()
            holds.clear()
            with pytest.raises(UpgradeFailed) as failed:
                apply_lab(lab.conn, ctx, confirm=lambda _plan: True, progress=progress)
            assert "vm k8s-worker-2: kubeadm upgrade node failed (exit 1)" in failed.value.message
            assert ("k8s-worker-2", "drain", "running") not in events
            assert ("k8s-worker-3", "upgrade control-plane", "done") in events, "prepared"
            assert ("k8s-worker-3", "drain", "running") not in events, (
                "worker-3 comes after worker-2, which failed: it is not drained"
            )
            assert not any(n["spec"].get("unschedulable") for n in api.nodes())
            failed_run = guest_history(ctx, vm="k8s-worker-2")[-1].data
            assert failed_run["argv"] == ["kubeadm", "upgrade", "node"], "kept in the history"
            assert failed_run["exitcode"] == 1 and "kubelet.conf" in failed_run["stderr"]
            journal = ctx.store.intents(ctx.lab).all()
            assert journal["upgrade/k8s-worker-2"]["phase"] == "kubeadm"
            assert journal["upgrade/k8s-worker-3"]["phase"] == "control-plane"

            assert channel.run(second.node, second.vmid, ["mv", aside, conf]).ok
            events.clear()
            outcome = apply_lab(lab.conn, ctx, confirm=lambda _plan: True, progress=progress)
            assert outcome.report is not None and outcome.report.ok
            assert ("k8s-worker-2", "upgrade kubeadm", "running") not in events, "not repeated"
            assert ("k8s-worker-3", "upgrade control-plane", "running") not in events
            for found in api.nodes():
                assert found["status"]["nodeInfo"]["kubeletVersion"] == "v1.31.14"
                assert not found["spec"].get("unschedulable")
            assert ctx.store.intents(ctx.lab).all() == {}
        finally:
            ctx.close()


WORKER4 = (
    "  k8s-worker-4: {role: worker, cores: 2, memory: 4GiB, disk: 32GiB, network: apps, "
    "ip: 10.0.20.23}\n"
)


def test_a_node_added_with_a_version_bump_waits_for_the_upgrade_then_joins(
    tmp_path: Path,
) -> None:
    """A node born at the new version cannot join the cluster before its control plane moved
    (kubeadm join's KubeletVersion preflight): the plan says to take the steps apart; added
    after the upgrade, it joins the upgraded cluster."""
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        text = spec.read_text()
        anchor = text.index("  k8s-worker-3:")
        line_end = text.index("\n", anchor) + 1
        spec.write_text(text[:line_end] + WORKER4 + text[line_end:])
        ctx = respec(spec, OLD, NEW)
        try:
            plan, _ = make_plan(lab.conn, ctx)
            assert any(
                e.startswith("vm k8s-worker-4: it would join at 1.30.14 a cluster still at 1.29.15")
                for e in plan.errors
            ), plan.errors
        finally:
            ctx.close()
        spec.write_text(spec.read_text().replace(WORKER4, ""))
        ctx = prepare_lab(spec)
        try:
            outcome = apply(lab, ctx)
            assert outcome.report is not None and outcome.report.ok
        finally:
            ctx.close()
        text = spec.read_text()
        line_end = text.index("\n", text.index("  k8s-worker-3:")) + 1
        spec.write_text(text[:line_end] + WORKER4 + text[line_end:])
        ctx = prepare_lab(spec)
        try:
            plan, _ = make_plan(lab.conn, ctx)
            assert not plan.errors and not plan.upgrades, plan.errors
            outcome = apply(lab, ctx)
            assert outcome.report is not None and outcome.report.ok
        finally:
            ctx.close()
        site = lab.conn.site
        assert isinstance(site, SimulatedSite)
        for _ in range(120):  # cloud-init's join, in virtual time
            if "k8s-worker-4" in ready_nodes(lab):
                break
            site.advance_clock(5)
        assert "k8s-worker-4" in ready_nodes(lab), "it joined the upgraded cluster"
        assert node(api, "k8s-worker-4")["status"]["nodeInfo"]["kubeletVersion"] == "v1.30.14"


def test_a_lost_version_record_after_an_upgrade_is_rebuilt_without_a_replace(
    tmp_path: Path,
) -> None:
    """The kubelets say what runs now, cloud-init's copy of each seed what it was born with:
    the seeds are rendered at 1.29 again and the plan is a no-op, not a replace."""
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab:
        ctx = respec(spec, OLD, NEW)
        try:
            outcome = apply(lab, ctx)
            assert outcome.report is not None and outcome.report.ok
            before = NodeVersions(ctx.store, ctx.lab).all()
            ctx.store.secrets(ctx.lab).delete(RECORD)
        finally:
            ctx.close()
        ctx = prepare_lab(spec)
        try:
            plan, _ = make_plan(lab.conn, ctx)
            assert not plan.has_changes and not plan.errors, format_plan(plan)
            assert NodeVersions(ctx.store, ctx.lab).all() == before
            assert {v.born for v in before.values()} == {"1.29.15"}
            assert {v.version for v in before.values()} == {"1.30.14"}
        finally:
            ctx.close()
