"""Pod evictions honour PodDisruptionBudgets; evicted ReplicaSet pods come back elsewhere."""

from __future__ import annotations

from typing import Any

from tests.sim.kube.support import Kube, install_calico


def coredns_pods(kube: Kube) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = kube.get(
        "/api/v1/namespaces/kube-system/pods", query="labelSelector=k8s-app%3Dkube-dns"
    )["items"]
    return pods


def evict(kube: Kube, name: str) -> Any:
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": "kube-system"},
    }
    return kube.call("POST", f"/api/v1/namespaces/kube-system/pods/{name}/eviction", body)


def test_eviction_deletes_the_pod_and_the_replicaset_replaces_it(kube: Kube) -> None:
    install_calico(kube)
    before = {p["metadata"]["name"] for p in coredns_pods(kube)}
    victim = sorted(before)[0]
    response = evict(kube, victim)
    assert response.status == 201
    assert response.json()["status"] == "Success"
    kube.settle(5)
    after = coredns_pods(kube)
    assert victim not in {p["metadata"]["name"] for p in after}
    assert len(after) == 2 and all(p["status"]["phase"] == "Running" for p in after)


def test_a_disruption_budget_blocks_the_eviction_with_429(kube: Kube) -> None:
    install_calico(kube)
    pdb: dict[str, Any] = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "coredns", "namespace": "kube-system"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}}},
    }
    kube.apply(pdb)
    response = evict(kube, coredns_pods(kube)[0]["metadata"]["name"])
    assert response.status == 429
    status = response.json()
    assert status["reason"] == "TooManyRequests"
    assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert status["details"]["causes"] == [
        {
            "reason": "DisruptionBudget",
            "message": "The disruption budget coredns needs 2 healthy pods and has 2 currently",
        }
    ]
    kube.apply({**pdb, "spec": {**pdb["spec"], "minAvailable": 1}})
    assert evict(kube, coredns_pods(kube)[0]["metadata"]["name"]).status == 201


def test_evicting_a_missing_pod_is_404(kube: Kube) -> None:
    response = evict(kube, "ghost")
    assert (response.status, response.json()["message"]) == (404, 'pods "ghost" not found')


def test_drain_moves_pods_off_a_cordoned_node(kube: Kube) -> None:
    install_calico(kube)
    node = coredns_pods(kube)[0]["spec"]["nodeName"]
    kube.ok(
        "PATCH",
        f"/api/v1/nodes/{node}",
        {"spec": {"unschedulable": True}},
        content_type="application/strategic-merge-patch+json",
    )
    for pod in coredns_pods(kube):
        if pod["spec"]["nodeName"] == node:
            assert evict(kube, pod["metadata"]["name"]).status == 201
    kube.settle(5)
    assert all(p["spec"]["nodeName"] != node for p in coredns_pods(kube))
