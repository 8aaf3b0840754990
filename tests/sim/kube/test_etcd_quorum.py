"""The simulated API server's etcd check: ``/readyz`` fails while fewer than a majority of
the etcd members serve (a member down, or restarted and not yet caught up with the leader)."""

from __future__ import annotations

import pytest

from homelab.core.cluster import ClusterSecrets
from homelab_sim.clock import VirtualClock
from homelab_sim.kube import KubeRegistry
from homelab_sim.kube.cluster import CATCH_UP_ENV, ETCD_CATCH_UP
from homelab_sim.kube.nodes import KUBELET_START
from tests.sim.kube.support import Kube, new_cluster

PLANES = (
    ("cp1", "10.0.20.11", "control-plane"),
    ("cp2", "10.0.20.12", "control-plane"),
    ("cp3", "10.0.20.13", "control-plane"),
)
NOT_READY = b"[-]etcd failed: reason withheld\nreadyz check failed\n"


def test_readyz_fails_without_a_quorum_until_the_restarted_members_caught_up(
    registry: KubeRegistry,
    clock: VirtualClock,
    cluster_secrets: ClusterSecrets,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(CATCH_UP_ENV, raising=False)
    cluster = new_cluster(registry, cluster_secrets, nodes=PLANES)
    cluster.etcd_members = {"cp1", "cp2", "cp3"}
    kube = Kube(cluster, clock)
    assert kube.call("GET", "/readyz").status == 200
    cluster.kubelet_stopped("cp1")  # one of three down: a quorum still
    assert kube.call("GET", "/readyz").status == 200
    cluster.kubelet_booted("cp1")
    assert not cluster.etcd_member_serving("cp1")
    cluster.kubelet_stopped("cp2")  # cp1 still behind: one of three serves
    answer = kube.call("GET", "/readyz")
    assert (answer.status, answer.body) == (500, NOT_READY)
    clock.advance(KUBELET_START + ETCD_CATCH_UP)
    assert cluster.etcd_member_serving("cp1") and not cluster.etcd_member_serving("cp2")
    assert kube.call("GET", "/readyz").status == 200
    assert kube.call("GET", "/livez").status == 200
