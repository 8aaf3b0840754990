"""`homelab patch --reboot always` on the simulated HA lab (three control planes behind the
kube-vip address, three workers), over the wire, with a Deployment of 3 replicas and a
PodDisruptionBudget ``minAvailable: 2`` running throughout.

Watched from outside the engine: ``/readyz`` polled through the VIP for the whole run, the
workload's Running pods after every watch event, and, when each control plane's drain starts,
etcd's own word on the cluster (``etcdctl endpoint health --cluster`` and ``member list`` on
that node): a control plane goes down only once every member, the previous rebooted one
included, commits proposals again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from homelab.engine.apply.progress import ProgressEvent
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.etcd import ETCDCTL
from homelab_sim.kube.cluster import CATCH_UP_ENV
from tests.day2.patch.support import NEW_KERNEL, patch, run
from tests.up.simlab import Upped, copy_example, upped
from tests.up.workload import node, start_workload, watched

PLANES = ("k8s-master-1", "k8s-master-2", "k8s-master-3")
WORKERS = ("k8s-worker-1", "k8s-worker-2", "k8s-worker-3")


@contextmanager
def polled_readyz(lab: Upped) -> Iterator[list[tuple[bool, str]]]:
    """``/readyz`` through the admin kubeconfig's server (the kube-vip address), every 50 ms
    of wall time while the block runs; a refused connection counts as not ready."""
    answers: list[tuple[bool, str]] = []
    stop = threading.Event()

    def poll() -> None:
        with lab.api() as api:
            while not stop.is_set():
                try:
                    answers.append(api.readyz())
                except Exception as exc:
                    answers.append((False, str(exc)))
                time.sleep(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield answers
    finally:
        stop.set()
        thread.join(timeout=30)


def etcd_word(lab: Upped, name: str) -> tuple[int, str, int]:
    """(exit status of ``endpoint health --cluster``, its output, members listed) on ``name``."""
    vm = next(v for v in lab.conn.client.cluster_vms() if v.name == name)
    channel = GuestChannel(lab.conn.client, lab.conn.clock)
    ids = channel.run(vm.node, vm.vmid, ["crictl", "ps", "--name", "etcd", "-q"]).stdout.split()
    assert ids, f"no etcd container runs on {name}"
    exec_etcdctl = ["crictl", "exec", ids[0], *ETCDCTL]
    health = channel.run(vm.node, vm.vmid, [*exec_etcdctl, "endpoint", "health", "--cluster"])
    members = channel.run(vm.node, vm.vmid, [*exec_etcdctl, "member", "list", "-w", "json"])
    assert members.ok, members.stderr
    listed = members.stdout.count('"name"')
    return health.exitcode, health.stdout + health.stderr, listed


def test_the_ha_lab_is_patched_one_control_plane_at_a_time_etcd_healthy_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a rebooted member takes 2 minutes to catch up (the leader sends it a snapshot): longer
    # than its node takes to be Ready and its pods Running
    monkeypatch.setenv(CATCH_UP_ENV, "120")
    spec = copy_example("ha-lab.yaml", tmp_path)
    with upped(spec) as lab, lab.api() as api:
        start_workload(lab, api, min_available=2)
        events: list[ProgressEvent] = []
        at_drain: dict[str, tuple[int, str, int]] = {}

        def progress(event: ProgressEvent) -> None:
            events.append(event)
            if event.vm in PLANES and (event.phase, event.status) == ("drain", "running"):
                at_drain[event.vm] = etcd_word(lab, event.vm)

        with polled_readyz(lab) as answers, watched(api) as counts:
            outcome = patch(lab, reboot="always", progress=progress)

        assert [r.vm for r in outcome.nodes] == [*PLANES, *WORKERS]
        assert all(r.rebooted and r.kernel_after == NEW_KERNEL for r in outcome.nodes)
        # one control plane at a time: each one's drain .. uncordon holds no other's step
        steps = [(e.vm, e.phase) for e in events if e.status == "done" and e.vm in PLANES]
        for name in PLANES:
            mine = [i for i, (vm, phase) in enumerate(steps) if vm == name]
            drain = next(i for i in mine if steps[i][1] == "drain")
            assert all(vm == name for vm, _ in steps[drain : mine[-1] + 1]), steps
        # etcd: three members, every one committing proposals, before each control plane goes
        for name in PLANES:
            status, text, listed = at_drain[name]
            assert listed == 3, (name, text)
            assert status == 0 and text.count("is healthy: successfully committed") == 3, (
                name,
                text,
            )
        status, _, listed = etcd_word(lab, "k8s-master-3")
        assert (status, listed) == (0, 3), "three healthy members after the last one too"
        etcd = [e.vm for e in events if (e.phase, e.status) == ("etcd", "done")]
        assert etcd == list(PLANES), "each control plane waited for etcd after its reboot"
        # the API answered through the VIP the whole time
        assert len(answers) > 20, answers
        assert [a for a in answers if not a[0]] == [], "the API stopped answering"
        assert counts and min(counts) >= 2, f"the budget was violated: {counts}"
        for name in (*PLANES, *WORKERS):
            assert not node(api, name)["spec"].get("unschedulable"), name
            assert run(lab, name, "uname", "-r").strip() == NEW_KERNEL
        assert lab.ctx.store.intents(lab.ctx.lab).all() == {}
