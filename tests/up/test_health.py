"""Health: nodes Ready, system pods Running per node; a structured report with problems."""

from __future__ import annotations

import json
from typing import Any

import httpx

from homelab.core.secret import Secret
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.health import ExpectedNode, check_health
from homelab.engine.kube.kubeconfig import KubeCredentials

NODES = ["m1", "w1", "w2"]
EXPECTED = [
    ExpectedNode("m1", "control-plane", "10.0.20.10"),
    ExpectedNode("w1", "worker", "10.0.20.21"),
    ExpectedNode("w2", "worker", "10.0.20.22"),
]


def node(name: str, ready: bool) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "KubeletReady" if ready else "KubeletNotReady",
                    "message": "" if ready else "container runtime network not ready",
                }
            ],
            "addresses": [{"type": "InternalIP", "address": f"10.0.20.{NODES.index(name) + 10}"}],
            "nodeInfo": {"kubeletVersion": "v1.29.15"},
        },
    }


def pod(ns: str, name: str, on: str, labels: dict[str, str], phase: str = "Running") -> Any:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": on, "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True"}]},
    }


def healthy_pods() -> list[dict[str, Any]]:
    pods = [
        pod("kube-system", "coredns-76f75df574-abcde", "m1", {"k8s-app": "kube-dns"}),
        pod("calico-system", "calico-kube-controllers-1", "w1", {}),
        pod("metallb-system", "controller-1", "w1", {"app": "metallb", "component": "controller"}),
    ]
    for n in NODES:
        pods.append(pod("kube-system", f"kube-proxy-{n}", n, {"k8s-app": "kube-proxy"}))
        pods.append(pod("calico-system", f"calico-node-{n}", n, {"k8s-app": "calico-node"}))
        pods.append(
            pod("metallb-system", f"speaker-{n}", n, {"app": "metallb", "component": "speaker"})
        )
    return pods


def api_serving(nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> KubeApi:
    def handle(request: httpx.Request) -> httpx.Response:
        kind, items = {
            "/api/v1/nodes": ("NodeList", nodes),
            "/api/v1/pods": ("PodList", pods),
        }[request.url.path]
        body = {"apiVersion": "v1", "kind": kind, "metadata": {}, "items": items}
        return httpx.Response(200, content=json.dumps(body).encode())

    creds = KubeCredentials("https://10.0.20.10:6443", "", "", Secret(""))
    return KubeApi(creds, transport=httpx.MockTransport(handle))


def test_a_healthy_cluster_is_ok_and_says_so_in_json() -> None:
    api = api_serving([node(n, True) for n in NODES], healthy_pods())
    report = check_health(api, EXPECTED, load_balancer=True)
    assert report.ok, report.problems()
    doc = report.to_dict()
    assert [n["name"] for n in doc["nodes"]] == NODES
    assert doc["nodes"][0] == {
        "name": "m1",
        "role": "control-plane",
        "ip": "10.0.20.10",
        "version": "v1.29.15",
        "ready": True,
        "registered": True,
        "reason": "",
    }
    components = {p["component"]: (p["running"], p["needed"]) for p in doc["system_pods"]}
    assert components == {
        "coredns": (1, 1),
        "kube-proxy": (3, 3),
        "calico-node": (3, 3),
        "calico-kube-controllers": (1, 1),
        "metallb-controller": (1, 1),
        "metallb-speaker": (3, 3),
    }


def test_a_missing_node_and_a_missing_calico_node_are_problems() -> None:
    pods = [p for p in healthy_pods() if p["metadata"]["name"] != "calico-node-w1"]
    api = api_serving([node("m1", True), node("w1", False)], pods)
    report = check_health(api, EXPECTED, load_balancer=True)
    assert not report.ok
    assert report.problems() == [
        "node w1: container runtime network not ready",
        "node w2: not registered",
        "calico-system/calico-node: 2 of 3 running (none on w1)",
    ]


def test_pending_pods_do_not_count_and_metallb_is_only_needed_with_a_pool() -> None:
    pods = [
        p
        if p["metadata"]["name"] != "coredns-76f75df574-abcde"
        else {**p, "status": {"phase": "Pending"}}
        for p in healthy_pods()
        if p["metadata"]["namespace"] != "metallb-system"
    ]
    api = api_serving([node(n, True) for n in NODES], pods)
    report = check_health(api, EXPECTED, load_balancer=False)
    assert [p.component for p in report.pods if not p.ok] == ["coredns"]
