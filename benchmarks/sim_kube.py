"""The simulated Kubernetes API: bring-up cost and request cost, for 2 and 20 workers.

For each size: a fresh cluster (1 control plane + N workers registered), the tigera-operator
manifest and Installation applied server-side, MetalLB and a pool applied, controllers run until
every node is Ready and every pod Running, all in process on a frozen virtual clock (so the
figure is the simulator's own CPU cost, not modelled latency). Then, over HTTPS on loopback with
the tool's admin client certificate and verification on, a keep-alive httpx client times
``GET /api/v1/nodes`` and a no-op server-side apply of a ConfigMap.

    .venv/bin/python benchmarks/sim_kube.py [--workers 2 20] [--requests 300]
"""

from __future__ import annotations

import argparse
import base64
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from homelab.core.cluster import ClusterSecrets
from homelab.engine.pki import generate_cluster_secrets, mint_admin_kubeconfig
from homelab_sim.clock import VirtualClock
from homelab_sim.kube import KubeRegistry, SimCluster, manifest
from homelab_sim.kube.store import to_yaml
from homelab_sim.kube.wire import KubeRequest, User

ADMIN = User("kubernetes-admin", ("kubeadm:cluster-admins", "system:authenticated"))
VERSION = "v1.29.15"


def apply(cluster: SimCluster, doc: dict[str, Any]) -> None:
    rt = cluster.state.rt(doc["apiVersion"], doc["kind"])
    base = f"/api/{rt.version}" if not rt.group else f"/apis/{rt.group}/{rt.version}"
    name, ns = doc["metadata"]["name"], doc["metadata"].get("namespace", "default")
    path = (
        f"{base}/namespaces/{ns}/{rt.name}/{name}" if rt.namespaced else f"{base}/{rt.name}/{name}"
    )
    headers = {"content-type": "application/apply-patch+yaml"}
    request = KubeRequest(
        "PATCH", path, "fieldManager=bench&force=true", headers, to_yaml(doc).encode(), ADMIN
    )
    response = cluster.handle(request)
    assert response.status < 300, response.body[:300]


def settle(cluster: SimCluster, clock: VirtualClock, seconds: int) -> None:
    for _ in range(seconds):
        clock.advance(1)
        cluster.tick(clock.now())


def bring_up(
    registry: KubeRegistry, clock: VirtualClock, secrets: ClusterSecrets, workers: int
) -> SimCluster:
    cluster = registry.create_cluster(
        name=f"lab{workers}",
        version=VERSION,
        ca_cert_pem=secrets.ca_cert,
        ca_key_pem=secrets.ca_key.reveal(),
        endpoint="10.0.20.10",
        sans=[],
        pod_cidr="192.168.0.0/16",
        service_cidr="10.96.0.0/12",
    )
    cluster.add_node("master-1", ip="10.0.20.10", role="control-plane", kubelet_version=VERSION)
    for i in range(workers):
        cluster.add_node(
            f"worker-{i + 1}", ip=f"10.0.21.{i + 1}", role="worker", kubelet_version=VERSION
        )
    for text in (manifest("tigera-operator", "v1.34.13", "tigera-operator.yaml"),):
        for doc in yaml.safe_load_all(text or b""):
            apply(cluster, doc)
    settle(cluster, clock, 5)
    apply(
        cluster,
        {
            "apiVersion": "operator.tigera.io/v1",
            "kind": "Installation",
            "metadata": {"name": "default"},
            "spec": {
                "calicoNetwork": {
                    "ipPools": [{"name": "default-ipv4-ippool", "cidr": "192.168.0.0/16"}]
                }
            },
        },
    )
    settle(cluster, clock, 10)
    for doc in yaml.safe_load_all(manifest("metallb", "v0.14.9", "metallb-native.yaml") or b""):
        apply(cluster, doc)
    settle(cluster, clock, 10)
    apply(
        cluster,
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "pool", "namespace": "metallb-system"},
            "spec": {"addresses": ["10.0.20.200-10.0.20.220"]},
        },
    )
    settle(cluster, clock, 5)
    return cluster


def check_ready(cluster: SimCluster) -> tuple[int, int]:
    state = cluster.state
    nodes = state.objects("v1", "Node")
    ready = [
        n
        for n in nodes
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
    ]
    pods = state.objects("v1", "Pod")
    assert len(ready) == len(nodes), "not every node is Ready"
    assert all(p["status"]["phase"] == "Running" for p in pods), "a pod is not Running"
    return len(nodes), len(pods)


def client(secrets: ClusterSecrets, url: str, workdir: Path) -> httpx.Client:
    doc = yaml.safe_load(mint_admin_kubeconfig(secrets, cluster="bench", server=url))
    (workdir / "ca").write_text(secrets.ca_cert)
    (workdir / "crt").write_bytes(
        base64.b64decode(doc["users"][0]["user"]["client-certificate-data"])
    )
    (workdir / "key").write_bytes(base64.b64decode(doc["users"][0]["user"]["client-key-data"]))
    context = ssl.create_default_context(cafile=str(workdir / "ca"))
    context.load_cert_chain(str(workdir / "crt"), str(workdir / "key"))
    return httpx.Client(verify=context, base_url=url)


def measure(workers: int, requests: int, secrets: ClusterSecrets) -> None:
    clock = VirtualClock(base=1_780_000_000.0, time_scale=0)
    registry = KubeRegistry(clock)
    started = time.perf_counter()
    cluster = bring_up(registry, clock, secrets, workers)
    elapsed = time.perf_counter() - started
    nodes, pods = check_ready(cluster)
    print(
        f"{workers:>3} workers: bring-up to all Ready {elapsed:6.2f} s CPU-bound "
        f"({nodes} nodes, {pods} pods, {len(list(cluster.state.store.keys()))} objects)"
    )
    registry.serve()
    url = registry.endpoints()["10.0.20.10:6443"]
    body = to_yaml(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"k": "v"}}
    )
    with tempfile.TemporaryDirectory() as tmp, client(secrets, url, Path(tmp)) as http:

        def get_nodes() -> httpx.Response:
            return http.get("/api/v1/nodes")

        def noop_apply() -> httpx.Response:
            return http.patch(
                "/api/v1/namespaces/default/configmaps/b?fieldManager=bench",
                content=body,
                headers={"content-type": "application/apply-patch+yaml"},
            )

        for label, call in (("GET /api/v1/nodes", get_nodes), ("no-op apply", noop_apply)):
            call()
            started = time.perf_counter()
            for _ in range(requests):
                assert call().status_code < 300
            per = (time.perf_counter() - started) / requests
            print(f"{'':>13}{label:<20} {per * 1000:6.2f} ms/request ({1 / per:6.0f} req/s)")
    registry.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 20])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    secrets = generate_cluster_secrets("bench")
    for workers in args.workers:
        measure(workers, args.requests, secrets)


if __name__ == "__main__":
    main()
