"""`homelab patch` on the simulated reference lab, over the wire: a Deployment of 3 replicas
with a PodDisruptionBudget ``minAvailable: 2`` runs throughout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homelab.engine.apply.progress import ProgressEvent, Recorder
from homelab.engine.apply.runtime import Limits
from homelab.errors import LabError
from homelab.simulated.site import SimulatedSite
from homelab.verbs.guest_log import guest_history
from homelab.verbs.patch import outcome_json, outcome_text, patch_lab
from homelab_sim.kube.cluster import CATCH_UP_ENV
from tests.day2.patch.support import NEW_KERNEL, NODES, OLD_KERNEL, patch, run
from tests.up.simlab import copy_example, upped
from tests.up.workload import node, start_workload, watched


def test_auto_reboots_into_the_new_kernel_within_the_budget_holds_kept(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        start_workload(lab, api, min_available=2)
        events: list[ProgressEvent] = []
        with watched(api) as counts:
            outcome = patch(lab, progress=events.append)
        steps = [(e.vm, e.phase) for e in events if e.status == "done"]
        for name in NODES:  # one node at a time: drained, upgraded, rebooted, Ready, uncordoned
            mine = [(vm, phase) for vm, phase in steps if vm == name]
            phases = ["patch plan", "drain", "upgrade", "reboot", "ready"]
            etcd = ["etcd"] if name == "k8s-master-1" else []  # its only member caught up
            assert [p for _, p in mine] == [*phases, *etcd]
            first, last = steps.index(mine[1]), steps.index(mine[-1])
            assert all(vm == name for vm, _ in steps[first : last + 1]), steps
        assert counts and min(counts) >= 2, f"the budget was violated: {counts}"
        assert [r.vm for r in outcome.nodes] == list(NODES)
        for report in outcome.nodes:
            names = {p["name"]: (p["from"], p["to"]) for p in report.packages}
            assert names["linux-image-generic"] == ("6.8.0-45.45", "6.8.0-51.52")
            assert names["linux-image-6.8.0-51-generic"] == ("", "6.8.0-51.52")
            assert names["openssl"] == ("3.0.13-0ubuntu3.1", "3.0.13-0ubuntu3.4")
            assert not {"kubelet", "kubeadm", "kubectl"} & set(names)
            assert report.rebooted and not report.reboot_pending and report.drained
            assert (report.kernel_before, report.kernel_after) == (OLD_KERNEL, NEW_KERNEL)
            found = node(api, report.vm)
            assert not found["spec"].get("unschedulable"), report.vm
            assert found["status"]["nodeInfo"]["kubeletVersion"] == "v1.29.15"
            assert run(lab, report.vm, "uname", "-r").strip() == NEW_KERNEL
            assert "kubelet" in run(lab, report.vm, "apt-mark", "showhold").split()
        assert lab.ctx.store.intents(lab.ctx.lab).all() == {}
        kept = guest_history(lab.ctx, vm="k8s-worker-2", last=200)
        ran = [r.data.get("argv", []) for r in kept]
        assert any("dist-upgrade" in argv for argv in ran), ran
        (rebooted,) = [r.data for r in kept if r.data.get("argv") == ["reboot"]]
        assert rebooted["exitcode"] is None and "not waited for" in rebooted["error"]
        doc = json.loads(json.dumps(outcome_json(outcome)))
        assert doc["reboot"] == "auto" and doc["notes"] == []
        first = doc["nodes"][0]
        assert set(first) == {
            "vm",
            "packages",
            "held",
            "kernel",
            "drained",
            "rebooted",
            "reboot_pending",
        }
        assert first["kernel"] == {"before": OLD_KERNEL, "after": NEW_KERNEL}
        assert {"name": "openssl", "from": "3.0.13-0ubuntu3.1", "to": "3.0.13-0ubuntu3.4"} in (
            first["packages"]
        )
        assert "kubelet" in first["held"] and "containerd" in first["held"]
        text = outcome_text(outcome)
        assert f"k8s-master-1: 4 package(s) upgraded; rebooted, kernel {OLD_KERNEL} -> " in text
        assert "  linux-image-6.8.0-51-generic (new) -> 6.8.0-51.52" in text
        again = patch(lab)
        assert all(not r.packages and not r.rebooted and not r.drained for r in again.nodes)


class Killed(BaseException):
    """The process dies here (not an error patch could handle)."""


def test_never_and_only_then_a_kill_mid_run_and_a_rerun_finish_it(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        # an older kubeadm, left unheld: the patch run holds it, so it does not move
        assert run(lab, "k8s-worker-3", "apt-mark", "unhold", "kubeadm")
        run(lab, "k8s-worker-3", "apt-get", "install", "-y", "kubeadm=1.29.14-1.1")
        only = patch(lab, only=["k8s-worker-3"], reboot="never")
        assert [r.vm for r in only.nodes] == ["k8s-worker-3"]
        (report,) = only.nodes
        assert "kubeadm" not in {p["name"] for p in report.packages}
        assert run(lab, "k8s-worker-3", "kubeadm", "version").strip() == "v1.29.14"
        text = outcome_text(only)
        assert "1 node(s) need a reboot (k8s-worker-3)" in text
        assert report.reboot_pending and not report.rebooted
        assert report.kernel_before == report.kernel_after == OLD_KERNEL
        assert run(lab, "k8s-worker-3", "uname", "-r").strip() == OLD_KERNEL
        assert "linux-image-6.8.0-51-generic" in run(
            lab, "k8s-worker-3", "cat", "/var/run/reboot-required.pkgs"
        )
        assert not node(api, "k8s-worker-3")["spec"].get("unschedulable")

        def killer(event: ProgressEvent) -> None:
            if (event.vm, event.phase, event.status) == ("k8s-worker-2", "reboot", "running"):
                raise Killed

        with pytest.raises(Killed):
            patch(lab, progress=killer)
        assert node(api, "k8s-worker-2")["spec"].get("unschedulable"), "killed while drained"
        events: list[ProgressEvent] = []
        outcome = patch(lab, only=["k8s-master-1"], progress=events.append)
        assert outcome.notes == ["resumed the interrupted patch run (k8s-master-1 already patched)"]
        assert [r.vm for r in outcome.nodes] == list(NODES)
        assert not [e for e in events if e.vm == "k8s-master-1"], "a finished node repeated"
        worker2 = outcome.nodes[1]
        assert worker2.rebooted and worker2.kernel_after == NEW_KERNEL
        assert any(p["name"] == "openssl" for p in worker2.packages)
        worker3 = outcome.nodes[2]
        assert worker3.rebooted and not worker3.packages, "the pending reboot is done (auto)"
        for name in NODES:
            assert not node(api, name)["spec"].get("unschedulable"), name
            assert run(lab, name, "uname", "-r").strip() == NEW_KERNEL
        assert lab.ctx.store.intents(lab.ctx.lab).all() == {}


def test_a_budget_that_blocks_the_drain_stops_the_run_and_leaves_the_node_schedulable(
    tmp_path: Path,
) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        start_workload(lab, api, min_available=3)
        with pytest.raises(LabError) as failed:
            patch_lab(
                lab.conn,
                lab.ctx,
                only=["k8s-worker-2", "k8s-worker-3"],
                reboot="auto",
                confirm=lambda _t: True,
                limits=Limits(poll=0.5, drain_timeout=30),
            )
        text = failed.value.message
        assert text.startswith("patching stopped at vm k8s-worker-2: cannot drain node"), text
        assert text.endswith("; it is not cordoned")
        assert "finished nodes are not repeated" in (failed.value.hint or "")
        for name in NODES:
            assert not node(api, name)["spec"].get("unschedulable"), name
        assert run(lab, "k8s-worker-3", "uname", "-r").strip() == OLD_KERNEL, "not touched"
        pending = run(lab, "k8s-worker-2", "apt-get", "-s", "dist-upgrade")
        assert "Inst openssl [3.0.13-0ubuntu3.1]" in pending, "nothing was upgraded"
        journal = lab.ctx.store.intents(lab.ctx.lab).all()
        assert set(journal) == {"patch/run", "patch/k8s-worker-2"}, "the rerun resumes"


def test_max_unavailable_two_patches_both_workers_at_once(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        recorder = Recorder()
        events: list[ProgressEvent] = recorder.events
        patch_lab(
            lab.conn,
            lab.ctx,
            only=["k8s-worker-2", "k8s-worker-3"],
            reboot="always",
            confirm=lambda _t: True,
            progress=recorder,
            limits=Limits(poll=0.5, max_unavailable=2),
        )
        drains = [e.vm for e in events if e.phase == "drain" and e.status == "done"]
        readies = [i for i, e in enumerate(events) if e.phase == "ready" and e.status == "done"]
        first_ready = readies[0]
        assert sorted(drains) == ["k8s-worker-2", "k8s-worker-3"]
        drained_before = {
            e.vm for e in events[:first_ready] if e.phase == "drain" and e.status == "done"
        }
        assert drained_before == {"k8s-worker-2", "k8s-worker-3"}, "both drained at once"
        for name in NODES:
            assert not node(api, name)["spec"].get("unschedulable"), name


def test_a_kill_after_the_reboot_does_not_reboot_the_node_again(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:

        def killer(event: ProgressEvent) -> None:
            if (event.vm, event.phase, event.status) == ("k8s-master-1", "reboot", "done"):
                raise Killed

        with pytest.raises(Killed):
            patch(lab, only=["k8s-master-1"], progress=killer)
        boot = run(lab, "k8s-master-1", "cat", "/proc/sys/kernel/random/boot_id")
        # the only etcd member catches up with itself (its WAL) before the API is ready again
        site = lab.conn.site
        assert isinstance(site, SimulatedSite)
        for _ in range(60):  # a user runs it again a little later
            if api.readyz()[0]:
                break
            site.advance_clock(5)
        outcome = patch(lab, only=["k8s-master-1"])
        (report,) = outcome.nodes
        assert report.rebooted and report.kernel_after == NEW_KERNEL
        assert report.kernel_before == OLD_KERNEL
        assert run(lab, "k8s-master-1", "cat", "/proc/sys/kernel/random/boot_id") == boot
        assert not node(api, "k8s-master-1")["spec"].get("unschedulable")
        assert lab.ctx.store.intents(lab.ctx.lab).all() == {}


def test_a_node_that_does_not_come_back_stops_the_run_uncordoned_once_ready(
    tmp_path: Path,
) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        run(lab, "k8s-worker-2", "systemctl", "disable", "qemu-guest-agent")
        with pytest.raises(LabError) as failed:
            patch(lab, only=["k8s-worker-2", "k8s-worker-3"], agent_timeout=60, ready_timeout=60)
        text = failed.value.message
        assert text.startswith("patching stopped at vm k8s-worker-2: "), text
        assert text.endswith("; it is Ready and was uncordoned"), text
        assert "the guest agent did not answer" in text, text
        for name in NODES:
            assert not node(api, name)["spec"].get("unschedulable"), name
        journal = lab.ctx.store.intents(lab.ctx.lab).all()
        assert set(journal) == {"patch/run", "patch/k8s-worker-2"}
        assert journal["patch/k8s-worker-2"]["phase"] == "rebooting"


def test_a_control_plane_whose_etcd_does_not_catch_up_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CATCH_UP_ENV, "100000")  # the member never catches up in this test
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        with pytest.raises(LabError) as failed:
            patch(lab, reboot="always", agent_timeout=60, ready_timeout=60)
        text = failed.value.message
        assert text == (
            "patching stopped at vm k8s-master-1: vm k8s-master-1: etcd not healthy after 120 s "
            "(a member down or behind the leader): https://10.0.20.10:2379 unhealthy; "
            "it is not cordoned"
        ), text
        assert not node(api, "k8s-master-1")["spec"].get("unschedulable")
        assert run(lab, "k8s-worker-2", "uname", "-r").strip() == OLD_KERNEL, "not touched"
        journal = lab.ctx.store.intents(lab.ctx.lab).all()
        assert journal["patch/k8s-master-1"]["phase"] == "rebooted", "the rerun waits again"
