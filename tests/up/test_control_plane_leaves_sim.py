"""A control plane removed from the HA lab: drained, its etcd member removed, its VM destroyed.

On the simulator over the wire: the plan refuses removing two control planes at once and says
which to remove first; removing one drains it, removes its etcd member on a control plane that
stays (``etcdctl member remove``, etcd's own strict reconfiguration check included), destroys the
VM and deletes its Node; etcd keeps two members, the API keeps serving, the next plan is a no-op.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from homelab.core.plan.actions import DestroyVm, EtcdPeer
from homelab.core.plan.text import format_plan
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.etcd import EtcdHost
from homelab.simulated.site import SimulatedSite
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.provision import apply_lab
from tests.support.paths import EXAMPLES
from tests.up.firstboot import without
from tests.up.simlab import Upped, config_map, copy_example, ready_nodes, upped


@pytest.fixture(scope="module")
def ha_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upped]:
    spec = copy_example("ha-lab.yaml", tmp_path_factory.mktemp("leave"))
    with upped(spec) as lab:
        yield lab


def members(lab: Upped, on: str) -> set[str]:
    (vm,) = [v for v in lab.conn.client.cluster_vms() if v.name == on]
    host = EtcdHost(GuestChannel(lab.conn.client, lab.conn.clock), on, vm.node, vm.vmid)
    return {m.name for m in host.members()}


def test_two_control_planes_at_once_are_refused(ha_lab: Upped) -> None:
    spec = ha_lab.ctx.spec_path
    original = without(spec, "k8s-master-2", "k8s-master-3")
    try:
        ctx = prepare_lab(spec)
        try:
            plan, _ = make_plan(ha_lab.conn, ctx)
        finally:
            ctx.close()
        assert any(
            "vm k8s-master-3: removing 2 control planes at once" in e
            and "remove k8s-master-2 first" in e
            for e in plan.errors
        ), plan.errors
        assert not any(e.startswith("vm k8s-master-2:") for e in plan.errors), plan.errors
    finally:
        spec.write_text(original)


def test_a_control_plane_leaves_with_its_etcd_member(ha_lab: Upped) -> None:
    spec = ha_lab.ctx.spec_path
    assert members(ha_lab, "k8s-master-1") == {"k8s-master-1", "k8s-master-2", "k8s-master-3"}
    without(spec, "k8s-master-3")
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(ha_lab.conn, ctx)
        assert not plan.errors, plan.errors
        (leaving,) = [a for a in plan.actions if isinstance(a, DestroyVm)]
        assert leaving.vm == "k8s-master-3" and leaving.drain
        assert isinstance(leaving.etcd_peer, EtcdPeer)
        assert leaving.etcd_peer.vm == "k8s-master-1"
        text = format_plan(plan)
        assert re.search(r"k8s-master-3 .*its etcd member removed \(on k8s-master-1\)", text), text
        applied = apply_lab(ha_lab.conn, ctx, confirm=lambda _p: True)
        assert applied.report is not None
        assert [(o.vm, o.kind, o.ok, o.error) for o in applied.report.outcomes] == [
            ("k8s-master-3", "destroy", True, None)
        ]
        assert members(ha_lab, "k8s-master-1") == {"k8s-master-1", "k8s-master-2"}
        assert members(ha_lab, "k8s-master-2") == {"k8s-master-1", "k8s-master-2"}
        nodes = ready_nodes(ha_lab)
        assert "k8s-master-3" not in nodes and {"k8s-master-1", "k8s-master-2"} <= nodes
        again, _ = make_plan(ha_lab.conn, ctx)
        assert not again.has_changes, again.actions
    finally:
        ctx.close()


def test_a_control_plane_added_back_joins_the_running_cluster(ha_lab: Upped) -> None:
    """Remove then add: the way to rebuild a control plane of an HA lab. The new VM joins
    (etcd member added by kubeadm join), no other VM changes."""
    spec = ha_lab.ctx.spec_path
    text = spec.read_text()
    if "k8s-master-3:" in text:  # run alone: take it out first
        test_a_control_plane_leaves_with_its_etcd_member(ha_lab)
    spec.write_text((EXAMPLES / "ha-lab.yaml").read_text())
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(ha_lab.conn, ctx)
        assert not plan.errors, plan.errors
        assert [(a.vm, type(a).__name__) for a in plan.changes] == [("k8s-master-3", "CreateVm")]
        applied = apply_lab(ha_lab.conn, ctx, confirm=lambda _p: True)
        assert applied.report is not None and all(o.ok for o in applied.report.outcomes)
        wait_ready(ha_lab, {"k8s-master-3"})
        assert members(ha_lab, "k8s-master-1") == {"k8s-master-1", "k8s-master-2", "k8s-master-3"}
        again, _ = make_plan(ha_lab.conn, ctx)
        assert not again.has_changes, again.actions
    finally:
        ctx.close()


def wait_ready(lab: Upped, names: set[str]) -> None:
    site = lab.conn.site
    assert isinstance(site, SimulatedSite)
    for _ in range(240):
        if names <= ready_nodes(lab):
            return
        site.advance_clock(5)
    assert names <= ready_nodes(lab)


def test_the_first_control_plane_rebuilt_joins_the_running_cluster(ha_lab: Upped) -> None:
    """Remove then add the *first* control plane (the one whose seed runs `kubeadm init`):
    the others keep the seeds they were born with (no replace), and while they run it comes
    back with a join seed, into the same cluster (what was in it is still there)."""
    spec = ha_lab.ctx.spec_path
    spec.write_text((EXAMPLES / "ha-lab.yaml").read_text())
    with ha_lab.api() as api:
        api.apply(config_map("made-before"))
    without(spec, "k8s-master-1")
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(ha_lab.conn, ctx)
        assert [(a.vm, type(a).__name__) for a in plan.changes] == [
            ("k8s-master-1", "DestroyVm")
        ], format_plan(plan)
        applied = apply_lab(ha_lab.conn, ctx, confirm=lambda _p: True)
        assert applied.report is not None and all(o.ok for o in applied.report.outcomes)
    finally:
        ctx.close()
    assert members(ha_lab, "k8s-master-2") == {"k8s-master-2", "k8s-master-3"}
    spec.write_text((EXAMPLES / "ha-lab.yaml").read_text())
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(ha_lab.conn, ctx)
        assert [(a.vm, type(a).__name__) for a in plan.changes] == [("k8s-master-1", "CreateVm")]
        assert ctx.born_first == {"k8s-master-1": ("k8s-master-2", "10.0.20.12")}
        seed = ctx.artifacts.seeds["k8s-master-1"].user_data.decode()
        assert "kind: JoinConfiguration" in seed and "kind: InitConfiguration" not in seed
        applied = apply_lab(ha_lab.conn, ctx, confirm=lambda _p: True)
        assert applied.report is not None and all(o.ok for o in applied.report.outcomes)
        wait_ready(ha_lab, {"k8s-master-1"})
    finally:
        ctx.close()
    assert members(ha_lab, "k8s-master-2") == {"k8s-master-1", "k8s-master-2", "k8s-master-3"}
    with ha_lab.api() as api:
        assert api.find("v1", "ConfigMap", "made-before", "default") is not None
    ctx = prepare_lab(spec)  # a new command: the store remembers what each node was born with
    try:
        again, _ = make_plan(ha_lab.conn, ctx)
        assert not again.has_changes, format_plan(again)
    finally:
        ctx.close()
