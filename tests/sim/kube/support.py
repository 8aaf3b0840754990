"""Helpers of the simulated Kubernetes API tests: the test's client, a cluster, the add-ons."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from homelab.core.cluster import ClusterSecrets
from homelab_sim.clock import VirtualClock
from homelab_sim.kube import KubeRegistry, SimCluster
from homelab_sim.kube.store import YAML_LOADER, to_yaml
from homelab_sim.kube.tokencleaner import ADMINS_BINDING_DELAY
from homelab_sim.kube.wire import KubeRequest, KubeResponse, User
from tests.support.tools import find, needs, require

VERSION = "v1.29.15"
ADMIN = User("kubernetes-admin", ("kubeadm:cluster-admins", "system:authenticated"))
NODES = (
    ("k8s-master-1", "10.0.20.10", "control-plane"),
    ("k8s-worker-2", "10.0.20.11", "worker"),
    ("k8s-worker-3", "10.0.20.12", "worker"),
)


class Kube:
    """The test's view of one cluster's API (in process, as the admin by default)."""

    def __init__(self, cluster: SimCluster, clock: VirtualClock, user: User | None = ADMIN):
        self.cluster, self.clock, self.user = cluster, clock, user

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: str = "",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> KubeResponse:
        if isinstance(body, bytes | str):
            raw = body.encode() if isinstance(body, str) else body
        else:
            raw = b"" if body is None else json.dumps(body).encode()
        head = {"content-type": content_type, "user-agent": "pytest/1.0", **(headers or {})}
        return self.cluster.handle(KubeRequest(method, path, query, head, raw, self.user))

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.call(method, path, body, **kwargs)
        assert response.status < 300, (response.status, response.body[:400])
        return response.json()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.ok("GET", path, **kwargs)

    def apply(self, doc: dict[str, Any], *, manager: str = "homelab", force: bool = False) -> Any:
        return self.ok(
            "PATCH",
            path_of(self.cluster, doc),
            to_yaml(doc),
            content_type="application/apply-patch+yaml",
            query=f"fieldManager={manager}" + ("&force=true" if force else ""),
        )

    def apply_all(self, text: bytes | str, *, manager: str = "homelab") -> None:
        for doc in yaml.load_all(text, Loader=YAML_LOADER):
            if doc:
                self.apply(doc, manager=manager, force=True)

    def settle(self, seconds: float = 30.0, step: float = 1.0) -> None:
        """Let the controllers run for ``seconds`` virtual seconds."""
        for _ in range(int(seconds / step)):
            self.clock.advance(step)
            self.cluster.tick(self.clock.now())

    def names(self, path: str, **kwargs: Any) -> list[str]:
        return [item["metadata"]["name"] for item in self.get(path, **kwargs)["items"]]

    def ready_nodes(self) -> dict[str, bool]:
        return {
            node["metadata"]["name"]: any(
                c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"]
            )
            for node in self.get("/api/v1/nodes")["items"]
        }


def path_of(cluster: SimCluster, doc: dict[str, Any], *, collection: bool = False) -> str:
    """The REST path of ``doc`` (or of its collection)."""
    rt = cluster.state.rt(doc["apiVersion"], doc["kind"])
    base = f"/api/{rt.version}" if not rt.group else f"/apis/{rt.group}/{rt.version}"
    namespace = doc["metadata"].get("namespace", "default")
    prefix = f"{base}/namespaces/{namespace}/{rt.name}" if rt.namespaced else f"{base}/{rt.name}"
    return prefix if collection else f"{prefix}/{doc['metadata']['name']}"


def new_cluster(
    registry: KubeRegistry,
    secrets: ClusterSecrets,
    *,
    pod_cidr: str = "192.168.0.0/16",
    endpoint: str = "10.0.20.10",
    nodes: tuple[tuple[str, str, str], ...] = NODES,
    admins_bound: bool = True,
) -> SimCluster:
    cluster = registry.create_cluster(
        name="home",
        version=VERSION,
        ca_cert_pem=secrets.ca_cert,
        ca_key_pem=secrets.ca_key.reveal(),
        endpoint=endpoint,
        sans=["k8s.home.arpa"],
        pod_cidr=pod_cidr,
        service_cidr="10.96.0.0/12",
    )
    for name, ip, role in nodes:
        cluster.add_node(name, ip=ip, role=role, kubelet_version=VERSION)
    if admins_bound:  # kubeadm init went on to bind its admins' group
        cluster.clock.advance(ADMINS_BINDING_DELAY)
        cluster.tick(cluster.clock.now())
    return cluster


INSTALLATION = {
    "apiVersion": "operator.tigera.io/v1",
    "kind": "Installation",
    "metadata": {"name": "default"},
    "spec": {
        "calicoNetwork": {
            "ipPools": [
                {
                    "name": "default-ipv4-ippool",
                    "blockSize": 26,
                    "cidr": "192.168.0.0/16",
                    "encapsulation": "VXLANCrossSubnet",
                    "natOutgoing": "Enabled",
                    "nodeSelector": "all()",
                }
            ],
            "nodeAddressAutodetectionV4": {"kubernetes": "NodeInternalIP"},
        }
    },
}


def install_calico(kube: Kube, installation: dict[str, Any] | None = None) -> None:
    from homelab_sim.kube import manifest

    text = manifest("tigera-operator", "v1.34.13", "tigera-operator.yaml")
    assert text is not None
    kube.apply_all(text)
    kube.settle(5)
    kube.apply(installation or INSTALLATION)
    kube.settle(10)


def install_metallb(kube: Kube, addresses: list[str] | None = None) -> None:
    from homelab_sim.kube import manifest

    text = manifest("metallb", "v0.14.9", "metallb-native.yaml")
    assert text is not None
    kube.apply_all(text)
    kube.settle(10)
    if addresses is not None:
        kube.apply(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "home-pool", "namespace": "metallb-system"},
                "spec": {"addresses": addresses, "autoAssign": True},
            }
        )


def client_files(kubeconfig: Path, tmp: Path) -> tuple[str, str, str]:
    doc = yaml.safe_load(kubeconfig.read_text())
    user, cluster = doc["users"][0]["user"], doc["clusters"][0]["cluster"]
    files = []
    for name, data in (
        ("ca", cluster["certificate-authority-data"]),
        ("crt", user["client-certificate-data"]),
        ("key", user["client-key-data"]),
    ):
        path = tmp / name
        path.write_bytes(base64.b64decode(data))
        files.append(str(path))
    return files[0], files[1], files[2]


KUBECTL = find("kubectl")
needs_kubectl = needs("kubectl")


def kubectl(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require("kubectl"), "--kubeconfig", str(config), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )
