"""``restore cluster --etcd``: the lab's cluster rebuilt from an etcd snapshot on fresh VMs.

Every VM of the lab is destroyed (no VM backup is used); the control plane is built anew with the
tool's PKI, the snapshot the tool took before is restored into its etcd, and the workers join
again: objects made before the snapshot exist, those made after do not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.simulated.site import SimulatedSite
from homelab.verbs.etcd import backup_etcd, open_snapshot
from homelab.verbs.etcd_restore import RestoreRefused, restore_cluster
from tests.up.simlab import (
    Upped,
    config_map,
    copy_example,
    destroy_everything,
    ready_nodes,
    upped,
)


def _snapshot(lab: Upped) -> bytes:
    taken = backup_etcd(lab.conn, lab.ctx)
    return open_snapshot(lab.ctx, taken.path)


def _snapshot_between_two_config_maps(lab: Upped) -> bytes:
    """A ConfigMap ``before-snapshot``, the snapshot, then a ConfigMap ``after-snapshot``."""
    with lab.api() as api:
        api.apply(config_map("before-snapshot"))
    snapshot = _snapshot(lab)
    with lab.api() as api:
        api.apply(config_map("after-snapshot"))
    return snapshot


def _assert_back_at_the_snapshot(lab: Upped) -> None:
    with lab.api() as api:
        assert api.find("v1", "ConfigMap", "before-snapshot", "default") is not None
        assert api.find("v1", "ConfigMap", "after-snapshot", "default") is None


def test_the_cluster_comes_back_from_an_etcd_snapshot(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab:
        snapshot = _snapshot_between_two_config_maps(lab)

        with pytest.raises(RestoreRefused, match="rolls the cluster back") as refused:
            restore_cluster(lab.conn, lab.ctx, snapshot, confirm=lambda _plan: True)
        assert "--force" in (refused.value.hint or "")

        destroy_everything(lab)
        outcome = restore_cluster(lab.conn, lab.ctx, snapshot, confirm=lambda _plan: True)

        assert outcome.node == lab.ctx.spec.control_planes[0]
        assert set(outcome.nodes_ready) == set(lab.ctx.spec.vms)
        assert ready_nodes(lab) == set(lab.ctx.spec.vms)
        _assert_back_at_the_snapshot(lab)
        events = lab.ctx.store.history(lab.ctx.lab).recent(50)
        recorded = [e.data for e in events if e.event == "restore-cluster"]
        assert recorded == [outcome.to_dict()]
        assert outcome.keys > 0 and outcome.revision > 0


def test_an_ha_cluster_restored_a_day_later_has_its_control_planes_join_again(
    tmp_path: Path,
) -> None:
    spec = copy_example("ha-lab.yaml", tmp_path)
    with upped(spec) as lab:
        snapshot = _snapshot_between_two_config_maps(lab)
        planes = lab.ctx.spec.control_planes
        assert len(planes) == 3
        # a day later the snapshot's join token has expired: the rejoins need a renewed one
        site = lab.conn.site
        assert isinstance(site, SimulatedSite)
        site.advance_clock(25 * 3600)

        outcome = restore_cluster(
            lab.conn, lab.ctx, snapshot, force=True, confirm=lambda _plan: True
        )

        assert outcome.node == planes[0] and outcome.rejoined == tuple(planes[1:])
        assert set(outcome.nodes_ready) == set(lab.ctx.spec.vms)
        _assert_back_at_the_snapshot(lab)


def test_a_node_the_snapshot_does_not_know_registers_again(tmp_path: Path) -> None:
    """A Node object missing from the snapshot comes back only because the restore restarts
    every kubelet (a running kubelet does not register its Node again by itself)."""
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab:
        with lab.api() as api:
            api.delete("v1", "Node", "k8s-worker-3")
        snapshot = _snapshot(lab)
        with lab.api() as api:
            assert api.find("v1", "Node", "k8s-worker-3") is None

        outcome = restore_cluster(
            lab.conn, lab.ctx, snapshot, force=True, confirm=lambda _plan: True
        )

        assert set(outcome.nodes_ready) == set(lab.ctx.spec.vms)
        assert ready_nodes(lab) == set(lab.ctx.spec.vms)
