"""The controllers on the virtual clock: nodes, Calico, CoreDNS, kube-proxy, MetalLB."""

from __future__ import annotations

from typing import Any

from homelab.core.cluster import ClusterSecrets
from homelab_sim.clock import VirtualClock
from homelab_sim.kube import KubeRegistry
from tests.sim.kube.support import INSTALLATION, Kube, install_calico, install_metallb, new_cluster


def pods(kube: Kube, namespace: str, selector: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = kube.get(
        f"/api/v1/namespaces/{namespace}/pods", query=f"labelSelector={selector}"
    )["items"]
    return found


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


def test_nodes_are_not_ready_until_calico_runs(kube: Kube) -> None:
    kube.settle(60)
    assert kube.ready_nodes() == {
        "k8s-master-1": False,
        "k8s-worker-2": False,
        "k8s-worker-3": False,
    }
    ready = condition(kube.get("/api/v1/nodes/k8s-worker-2"), "Ready")
    assert ready["reason"] == "KubeletNotReady"
    assert "cni plugin not initialized" in ready["message"]
    install_calico(kube)
    assert kube.ready_nodes() == {"k8s-master-1": True, "k8s-worker-2": True, "k8s-worker-3": True}
    taints = kube.get("/api/v1/nodes/k8s-worker-2")["spec"]["taints"]
    assert taints == []
    master_taints = kube.get("/api/v1/nodes/k8s-master-1")["spec"]["taints"]
    assert master_taints == [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    ]


def test_calico_system_comes_up_with_the_installation(kube: Kube) -> None:
    install_calico(kube)
    nodes = pods(kube, "calico-system", "k8s-app%3Dcalico-node")
    assert sorted(p["spec"]["nodeName"] for p in nodes) == [
        "k8s-master-1",
        "k8s-worker-2",
        "k8s-worker-3",
    ]
    assert all(p["status"]["phase"] == "Running" for p in nodes)
    assert nodes[0]["spec"]["containers"][0]["image"] == "docker.io/calico/node:v3.28.5"
    for name in ("calico-kube-controllers", "calico-typha"):
        deploy = kube.get(f"/apis/apps/v1/namespaces/calico-system/deployments/{name}")
        assert deploy["status"]["readyReplicas"] >= 1
    installation = kube.get("/apis/operator.tigera.io/v1/installations/default")
    assert installation["status"]["calicoVersion"] == "v3.28.5"
    assert condition(installation, "Ready")["status"] == "True"
    tigera = kube.get("/apis/operator.tigera.io/v1/tigerastatuses/calico")
    assert condition(tigera, "Available")["status"] == "True"
    assert condition(tigera, "Degraded")["status"] == "False"


def test_the_ip_pool_equals_the_installation_cidr(kube: Kube) -> None:
    install_calico(kube)
    pools = kube.get("/apis/crd.projectcalico.org/v1/ippools")["items"]
    assert [(p["metadata"]["name"], p["spec"]["cidr"]) for p in pools] == [
        ("default-ipv4-ippool", "192.168.0.0/16")
    ]
    assert (
        pools[0]["spec"]["vxlanMode"] == "CrossSubnet" and pools[0]["spec"]["ipipMode"] == "Never"
    )
    coredns = pods(kube, "kube-system", "k8s-app%3Dkube-dns")
    assert all(p["status"]["podIP"].startswith("192.168.") for p in coredns)


def test_without_ip_pools_the_operator_uses_the_kubeadm_pod_subnet(
    registry: KubeRegistry, clock: VirtualClock, cluster_secrets: ClusterSecrets
) -> None:
    kube = Kube(new_cluster(registry, cluster_secrets, pod_cidr="10.244.0.0/16"), clock)
    install_calico(kube, {**INSTALLATION, "spec": {}})
    pools = kube.get("/apis/crd.projectcalico.org/v1/ippools")["items"]
    assert [p["spec"]["cidr"] for p in pools] == ["10.244.0.0/16"]
    assert all(kube.ready_nodes().values())


def test_a_pool_outside_the_pod_subnet_degrades_calico_and_nodes_stay_not_ready(
    registry: KubeRegistry, clock: VirtualClock, cluster_secrets: ClusterSecrets
) -> None:
    kube = Kube(new_cluster(registry, cluster_secrets, pod_cidr="10.244.0.0/16"), clock)
    install_calico(kube)  # the Installation's pool is 192.168.0.0/16
    kube.settle(30)
    message = (
        "IPPool default-ipv4-ippool is not within the platform's configured pod network CIDR(s)"
    )
    installation = kube.get("/apis/operator.tigera.io/v1/installations/default")
    assert condition(installation, "Degraded") | {"lastTransitionTime": None} == {
        "type": "Degraded",
        "status": "True",
        "reason": "ResourceValidationError",
        "message": message,
        "lastTransitionTime": None,
    }
    tigera = kube.get("/apis/operator.tigera.io/v1/tigerastatuses/calico")
    assert condition(tigera, "Degraded")["message"] == message
    assert not any(kube.ready_nodes().values())
    assert kube.call("GET", "/api/v1/namespaces/calico-system").status == 404


def test_coredns_is_pending_until_a_node_is_ready(kube: Kube) -> None:
    kube.settle(30)
    coredns = pods(kube, "kube-system", "k8s-app%3Dkube-dns")
    assert len(coredns) == 2 and all(p["status"]["phase"] == "Pending" for p in coredns)
    scheduled = condition(coredns[0], "PodScheduled")
    assert scheduled["status"] == "False" and scheduled["reason"] == "Unschedulable"
    assert scheduled["message"].startswith("0/3 nodes are available:")
    assert "node.kubernetes.io/not-ready" in scheduled["message"]
    events = kube.get("/api/v1/namespaces/kube-system/events")["items"]
    failed = [e for e in events if e["involvedObject"]["name"] == coredns[0]["metadata"]["name"]]
    assert [(e["reason"], e["type"], e["message"]) for e in failed] == [
        ("FailedScheduling", "Warning", scheduled["message"])
    ]
    install_calico(kube)
    coredns = pods(kube, "kube-system", "k8s-app%3Dkube-dns")
    assert all(p["status"]["phase"] == "Running" for p in coredns)
    assert all(p["spec"]["nodeName"] != "k8s-master-1" for p in coredns)
    deploy = kube.get("/apis/apps/v1/namespaces/kube-system/deployments/coredns")
    assert deploy["status"]["readyReplicas"] == 2
    endpoints = kube.get("/api/v1/namespaces/kube-system/endpoints/kube-dns")
    assert len(endpoints["subsets"][0]["addresses"]) == 2


def test_kube_proxy_and_static_pods_run_without_a_cni(kube: Kube) -> None:
    kube.settle(5)
    proxies = pods(kube, "kube-system", "k8s-app%3Dkube-proxy")
    assert sorted(p["spec"]["nodeName"] for p in proxies) == [
        "k8s-master-1",
        "k8s-worker-2",
        "k8s-worker-3",
    ]
    assert all(p["status"]["phase"] == "Running" for p in proxies)
    assert proxies[0]["spec"]["containers"][0]["image"] == "registry.k8s.io/kube-proxy:v1.29.15"
    control = pods(kube, "kube-system", "tier%3Dcontrol-plane")
    assert sorted(p["metadata"]["name"] for p in control) == [
        "etcd-k8s-master-1",
        "kube-apiserver-k8s-master-1",
        "kube-controller-manager-k8s-master-1",
        "kube-scheduler-k8s-master-1",
    ]


def test_a_joining_node_gets_kube_proxy_and_calico(kube: Kube) -> None:
    install_calico(kube)
    kube.cluster.add_node(
        "k8s-worker-4", ip="10.0.20.13", role="worker", kubelet_version="v1.29.15"
    )
    assert kube.ready_nodes()["k8s-worker-4"] is False
    kube.settle(5)
    assert kube.ready_nodes()["k8s-worker-4"] is True
    node = kube.get("/api/v1/nodes/k8s-worker-4")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.29.15"
    assert node["status"]["addresses"][0] == {"type": "InternalIP", "address": "10.0.20.13"}
    assert node["spec"]["podCIDR"] == "192.168.3.0/24"


def test_load_balancer_services_get_addresses_from_the_pool(kube: Kube) -> None:
    install_calico(kube)
    install_metallb(kube, ["10.0.20.200-10.0.20.202"])
    speakers = pods(kube, "metallb-system", "component%3Dspeaker")
    assert len(speakers) == 3 and all(p["status"]["phase"] == "Running" for p in speakers)
    ips = []
    for name in ("a", "b", "c", "d"):
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "selector": {"app": name}},
        }
        kube.apply(service)
        kube.settle(1)
        status = kube.get(f"/api/v1/namespaces/default/services/{name}")["status"]
        ips.append([i["ip"] for i in status["loadBalancer"].get("ingress", [])])
    assert ips == [["10.0.20.200"], ["10.0.20.201"], ["10.0.20.202"], []]
    events = kube.get("/api/v1/namespaces/default/events")["items"]
    assert [e["message"] for e in events if e["involvedObject"]["name"] == "d"] == [
        'Failed to allocate IP for "default/d": no available IPs'
    ]
    annotations = kube.get("/api/v1/namespaces/default/services/a")["metadata"]["annotations"]
    assert annotations["metallb.io/ip-allocated-from-pool"] == "home-pool"


def test_a_service_without_a_pool_stays_pending(kube: Kube) -> None:
    install_calico(kube)
    install_metallb(kube)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }
    kube.apply(service)
    kube.settle(5)
    assert kube.get("/api/v1/namespaces/default/services/web")["status"] == {"loadBalancer": {}}


def test_a_stable_cluster_is_not_rewritten(kube: Kube) -> None:
    install_calico(kube)
    install_metallb(kube, ["10.0.20.200-10.0.20.210"])
    kube.settle(10)
    revision = kube.cluster.state.store.revision
    kube.settle(30)
    assert kube.cluster.state.store.revision == revision


def test_deleting_a_deployment_collects_its_replicasets_and_pods(kube: Kube) -> None:
    install_calico(kube)
    kube.ok("DELETE", "/apis/apps/v1/namespaces/kube-system/deployments/coredns")
    kube.settle(2)
    assert kube.get("/apis/apps/v1/namespaces/kube-system/replicasets")["items"] == []
    assert pods(kube, "kube-system", "k8s-app%3Dkube-dns") == []


def test_ha_control_planes_each_run_static_pods(
    registry: KubeRegistry, clock: VirtualClock, cluster_secrets: ClusterSecrets
) -> None:
    nodes = tuple((f"k8s-master-{i}", f"10.0.20.{10 + i}", "control-plane") for i in (1, 2, 3))
    cluster = new_cluster(registry, cluster_secrets, endpoint="10.0.20.5", nodes=nodes)
    kube = Kube(cluster, clock)
    apiservers = pods(kube, "kube-system", "component%3Dkube-apiserver")
    assert len(apiservers) == 3
    endpoints = kube.get("/api/v1/namespaces/default/endpoints/kubernetes")
    assert [a["ip"] for a in endpoints["subsets"][0]["addresses"]] == [
        "10.0.20.11",
        "10.0.20.12",
        "10.0.20.13",
    ]
    assert registry.cluster_at("10.0.20.5") is cluster
    assert registry.cluster_at("10.0.20.12") is cluster
    assert registry.cluster_at("10.0.20.99") is None
    cluster.add_static_pod(
        "k8s-master-1",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "kube-vip", "namespace": "kube-system"},
            "spec": {
                "hostNetwork": True,
                "containers": [{"name": "kube-vip", "image": "ghcr.io/kube-vip/kube-vip:v0.8.9"}],
            },
        },
    )
    cluster.add_static_pod(
        "k8s-master-2",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "kube-vip", "namespace": "kube-system"},
            "spec": {
                "hostNetwork": True,
                "containers": [{"name": "kube-vip", "image": "ghcr.io/kube-vip/kube-vip:v0.8.9"}],
            },
        },
    )
    lease = kube.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/plndr-cp-lock")
    assert lease["spec"]["holderIdentity"] == "k8s-master-1"
    vip = kube.get("/api/v1/namespaces/kube-system/pods/kube-vip-k8s-master-1")
    assert vip["status"]["phase"] == "Running" and vip["spec"]["nodeName"] == "k8s-master-1"


def test_reapplying_every_addon_changes_nothing(kube: Kube) -> None:
    from homelab_sim.kube import manifest

    install_calico(kube)
    install_metallb(kube, ["10.0.20.200-10.0.20.210"])
    kube.settle(10)
    revision = kube.cluster.state.store.revision
    kube.clock.advance(600)
    for key in (
        ("tigera-operator", "v1.34.13", "tigera-operator.yaml"),
        ("metallb", "v0.14.9", "metallb-native.yaml"),
    ):
        text = manifest(*key)
        assert text is not None
        kube.apply_all(text)
    install_calico(kube)
    install_metallb(kube, ["10.0.20.200-10.0.20.210"])
    assert kube.cluster.state.store.revision == revision


def test_an_operator_image_no_registry_has_never_starts_and_calico_never_comes(
    kube: Kube,
) -> None:
    from homelab_sim.kube import manifest

    text = manifest("tigera-operator", "v1.34.13", "tigera-operator.yaml")
    assert text is not None
    image = "quay.io/tigera/operator:v1.34.99"
    kube.apply_all(text.replace(b"quay.io/tigera/operator:v1.34.13", image.encode()))
    kube.apply(INSTALLATION)
    kube.settle(60)
    pods = kube.get("/api/v1/namespaces/tigera-operator/pods")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Pending"]
    waiting = pods[0]["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImagePull"
    assert f'failed to pull and unpack image "{image}"' in waiting["message"]
    assert "calico-system" not in kube.names("/api/v1/namespaces")
    assert not any(kube.ready_nodes().values())


def test_a_silent_kubelet_is_given_up_on_after_the_grace_period_and_comes_back(
    kube: Kube,
) -> None:
    install_calico(kube)
    kube.cluster.kubelet_stopped("k8s-worker-3")
    kube.settle(39)  # the node controller still waits: the last status stands
    assert kube.ready_nodes()["k8s-worker-3"] is True
    kube.settle(2)
    node = kube.get("/api/v1/nodes/k8s-worker-3")
    assert {c["status"] for c in node["status"]["conditions"]} == {"Unknown"}
    assert condition(node, "Ready")["message"] == "Kubelet stopped posting node status."
    assert node["spec"]["taints"] == [
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
    ]
    assert kube.ready_nodes()["k8s-worker-2"] is True
    kube.cluster.kubelet_booted("k8s-worker-3")
    kube.settle(14)
    assert kube.ready_nodes()["k8s-worker-3"] is False
    kube.settle(2)
    node = kube.get("/api/v1/nodes/k8s-worker-3")
    assert condition(node, "Ready")["status"] == "True" and node["spec"]["taints"] == []


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]},
            },
        },
    }


def test_a_deployments_replicas_are_spread_over_the_workers(kube: Kube) -> None:
    """kube-scheduler's default topology spreading: a ReplicaSet's pods go to the node with
    the fewest of them first, however many other pods a node runs (worker-2 runs 6 more)."""
    install_calico(kube)
    filler = deployment("filler", 6)
    filler["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/hostname": "k8s-worker-2"}
    kube.apply(filler)
    kube.settle(10)
    placed = [p["spec"]["nodeName"] for p in pods(kube, "default", "app%3Dfiller")]
    assert placed == ["k8s-worker-2"] * 6, placed
    kube.apply(deployment("web", 3))
    kube.settle(10)
    web = sorted(p["spec"]["nodeName"] for p in pods(kube, "default", "app%3Dweb"))
    assert web == ["k8s-worker-2", "k8s-worker-3", "k8s-worker-3"], web
