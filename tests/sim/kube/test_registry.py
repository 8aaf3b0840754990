"""The registry's interface: persistence, cluster lookup, replacement and the manifest mirror."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml

from homelab.core.cluster import ClusterSecrets
from homelab_sim.catalogue import CALICO, FLUX, METALLB, calico_for_operator
from homelab_sim.clock import VirtualClock
from homelab_sim.kube import KubeRegistry, manifest
from homelab_sim.kube.manifests import known
from tests.sim.kube.support import Kube, install_calico, install_metallb, new_cluster


def test_a_registry_survives_a_round_trip_through_json(
    registry: KubeRegistry, clock: VirtualClock, cluster_secrets: ClusterSecrets
) -> None:
    kube = Kube(new_cluster(registry, cluster_secrets), clock)
    install_calico(kube)
    install_metallb(kube, ["10.0.20.200-10.0.20.201"])
    saved = json.loads(json.dumps(registry.to_dict()))
    restored = KubeRegistry.from_dict(saved, clock)
    try:
        cluster = restored.cluster("home")
        assert cluster is not None
        assert cluster.node_names() == ["k8s-master-1", "k8s-worker-2", "k8s-worker-3"]
        again = Kube(cluster, clock)
        assert again.get("/api/v1/nodes") == kube.get("/api/v1/nodes")
        pools = again.get("/apis/crd.projectcalico.org/v1/ippools")["items"]
        assert [p["spec"]["cidr"] for p in pools] == ["192.168.0.0/16"]
        assert all(again.ready_nodes().values())
        revision = cluster.state.store.revision
        again.settle(10)
        assert cluster.state.store.revision == revision  # restored stable: nothing to redo
        created = again.ok(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "after"}},
        )
        assert int(created["metadata"]["resourceVersion"]) == revision + 1
    finally:
        restored.close()


def test_create_cluster_replaces_a_cluster_of_the_same_name(
    registry: KubeRegistry, clock: VirtualClock, cluster_secrets: ClusterSecrets
) -> None:
    first = new_cluster(registry, cluster_secrets)
    second = new_cluster(registry, cluster_secrets, nodes=())
    assert registry.cluster("home") is second and first is not second
    assert registry.clusters() == [second]
    assert second.node_names() == [] and not second.api_ready()


def test_add_node_rejects_an_unknown_role(
    registry: KubeRegistry, cluster_secrets: ClusterSecrets
) -> None:
    cluster = new_cluster(registry, cluster_secrets, nodes=())
    with pytest.raises(ValueError, match="unknown node role"):
        cluster.add_node("x", ip="10.0.20.50", role="boss", kubelet_version="v1.29.15")


def test_a_kubelet_upgrade_updates_the_node_version(kube: Kube) -> None:
    install_calico(kube)
    kube.cluster.add_node(
        "k8s-worker-2", ip="10.0.20.11", role="worker", kubelet_version="v1.30.10"
    )
    node = kube.get("/api/v1/nodes/k8s-worker-2")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.30.10"
    assert kube.ready_nodes()["k8s-worker-2"] is True


def test_remove_node_deletes_the_node_and_its_pods(kube: Kube) -> None:
    install_calico(kube)
    kube.cluster.remove_node("k8s-worker-3")
    assert "k8s-worker-3" not in kube.names("/api/v1/nodes")
    pods = kube.get("/api/v1/pods", query="fieldSelector=spec.nodeName%3Dk8s-worker-3")["items"]
    assert pods == []
    kube.settle(5)
    coredns = kube.get(
        "/api/v1/namespaces/kube-system/pods", query="labelSelector=k8s-app%3Dkube-dns"
    )
    assert len(coredns["items"]) == 2


def test_the_mirror_serves_exactly_the_releases_of_the_catalogue() -> None:
    expected = {("calico", r.version, "tigera-operator.yaml") for r in CALICO.values()}
    expected |= {("tigera-operator", r.operator, "tigera-operator.yaml") for r in CALICO.values()}
    separate = [r for r in CALICO.values() if r.separate_crds]  # Calico >= 3.30
    expected |= {("calico", r.version, "operator-crds.yaml") for r in separate}
    expected |= {("tigera-operator", r.operator, "operator-crds.yaml") for r in separate}
    expected |= {("metallb", v, "metallb-native.yaml") for v in METALLB}
    expected |= {("flux", v, "install.yaml") for v in FLUX}
    assert set(known()) == expected
    assert all(manifest(*key) is not None for key in expected)


@pytest.mark.parametrize(
    "key",
    [
        ("metallb", "v0.0.1", "metallb-native.yaml"),
        ("calico", "v3.28.99", "tigera-operator.yaml"),
        ("tigera-operator", "v1.34.99", "tigera-operator.yaml"),
        ("calico", "v3.28.5", "custom-resources.yaml"),
        ("cilium", "v1.15.0", "cilium.yaml"),
    ],
)
def test_the_mirror_has_no_release_the_catalogue_does_not_know(key: tuple[str, str, str]) -> None:
    assert manifest(*key) is None


def test_the_mirrored_manifests_are_valid_kubernetes_objects() -> None:
    unique: dict[str, dict[str, object]] = {}
    for key in known():
        text = manifest(*key)
        assert text is not None
        docs = [d for d in yaml.safe_load_all(text) if d]
        kinds = [d["kind"] for d in docs]
        if key[2] == "operator-crds.yaml":
            assert set(kinds) == {"CustomResourceDefinition"}
        else:
            release = CALICO.get(key[1]) or calico_for_operator(key[1])
            assert kinds[0] == "Namespace"
            with_crds = release is None or not release.separate_crds
            assert ("CustomResourceDefinition" in kinds) == with_crds, key
        unique.update((json.dumps(d, sort_keys=True), d) for d in docs)
    for doc in unique.values():
        kubernetes_validate.validate(doc, "1.29.0", strict=True)


def test_the_mirrored_images_are_the_upstream_ones() -> None:
    operator = manifest("tigera-operator", "v1.34.13", "tigera-operator.yaml")
    metallb = manifest("metallb", "v0.14.9", "metallb-native.yaml")
    assert operator is not None and metallb is not None
    assert b"image: quay.io/tigera/operator:v1.34.13" in operator
    assert b"image: quay.io/metallb/controller:v0.14.9" in metallb
    assert b"image: quay.io/metallb/speaker:v0.14.9" in metallb
    crds = [
        d["metadata"]["name"]
        for d in yaml.safe_load_all(operator)
        if d["kind"] == "CustomResourceDefinition"
    ]
    assert {
        "installations.operator.tigera.io",
        "ippools.crd.projectcalico.org",
        "tigerastatuses.operator.tigera.io",
    } <= set(crds)


def test_an_api_server_keeps_its_port_across_a_restart(
    registry: KubeRegistry, clock: VirtualClock, cluster_secrets: ClusterSecrets
) -> None:
    """A kubeconfig written before a restart still points at the cluster's API server."""
    install_calico(Kube(new_cluster(registry, cluster_secrets), clock))
    registry.serve()
    before = registry.endpoints()
    assert before and len(set(before.values())) == 1
    saved = json.loads(json.dumps(registry.to_dict()))
    registry.close()
    restored = KubeRegistry.from_dict(saved, clock)
    try:
        restored.serve()
        assert restored.endpoints() == before
    finally:
        restored.close()


def test_a_stopped_control_plane_and_the_etcd_members_survive_a_round_trip(
    registry: KubeRegistry, clock: VirtualClock, cluster_secrets: ClusterSecrets
) -> None:
    cluster = new_cluster(registry, cluster_secrets)
    kube = Kube(cluster, clock)
    cluster.etcd_members = {"k8s-master-1"}
    cluster.control_plane_stopped("k8s-master-1", True)
    assert kube.call("GET", "/api/v1/nodes").status == 503  # its only API server is down
    restored = KubeRegistry.from_dict(json.loads(json.dumps(registry.to_dict())), clock)
    try:
        again = restored.cluster("home")
        assert again is not None
        assert (again.stopped_planes, again.etcd_members) == ({"k8s-master-1"}, {"k8s-master-1"})
        assert not again.serving()
        again.control_plane_stopped("k8s-master-1", False)
        assert Kube(again, clock).call("GET", "/api/v1/nodes").status == 200
    finally:
        restored.close()
