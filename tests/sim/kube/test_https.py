"""The API over HTTPS on loopback: the real kubectl and httpx, verification on, client
certificates minted by the engine's PKI."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from homelab.core.cluster import ClusterSecrets
from homelab.engine.pki import generate_cluster_secrets, mint_admin_kubeconfig
from homelab_sim.kube import KubeRegistry, manifest
from tests.sim.kube.support import (
    INSTALLATION,
    Kube,
    client_files,
    kubectl,
    needs_kubectl,
    new_cluster,
)


def test_endpoints_map_the_lab_address_to_loopback(registry: KubeRegistry, served: str) -> None:
    assert served.startswith("https://127.0.0.1:")
    assert registry.endpoints() == {"10.0.20.10:6443": served}


def test_httpx_verifies_the_serving_certificate_against_the_cluster_ca(
    kubeconfig: Path, served: str, tmp_path: Path
) -> None:
    ca, crt, key = client_files(kubeconfig, tmp_path)
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(crt, key)
    with httpx.Client(verify=context) as http:
        for name in ("10.0.20.10", "kubernetes.default.svc", "k8s.home.arpa", "k8s-master-1"):
            response = http.get(f"{served}/api/v1/nodes", extensions={"sni_hostname": name})
            assert response.status_code == 200, name
    with httpx.Client(verify=context) as fresh, pytest.raises(httpx.ConnectError):
        fresh.get(f"{served}/version", extensions={"sni_hostname": "10.0.20.99"})
    nodes = response.json()["items"]
    assert [n["metadata"]["name"] for n in nodes] == [
        "k8s-master-1",
        "k8s-worker-2",
        "k8s-worker-3",
    ]


def test_no_client_certificate_is_anonymous(kubeconfig: Path, served: str, tmp_path: Path) -> None:
    ca, _, _ = client_files(kubeconfig, tmp_path)
    with httpx.Client(verify=ssl.create_default_context(cafile=ca)) as http:
        ext = {"sni_hostname": "10.0.20.10"}
        assert http.get(f"{served}/version", extensions=ext).status_code == 200
        denied = http.get(f"{served}/api/v1/nodes", extensions=ext)
        assert denied.status_code == 403
        assert 'User "system:anonymous" cannot list resource "nodes"' in denied.json()["message"]
        token = http.get(
            f"{served}/api/v1/nodes", extensions=ext, headers={"Authorization": "Bearer x"}
        )
        assert token.status_code == 401


def test_a_client_certificate_from_another_ca_is_refused(
    kubeconfig: Path, served: str, tmp_path: Path
) -> None:
    stranger = generate_cluster_secrets("other")
    text = mint_admin_kubeconfig(
        stranger, cluster="home", server=served, tls_server_name="10.0.20.10"
    )
    doc = yaml.safe_load(text)
    good = yaml.safe_load(kubeconfig.read_text())
    doc["clusters"] = good["clusters"]  # trust the right server, present the wrong client cert
    ca, _, _ = client_files(kubeconfig, tmp_path)
    crt, key = tmp_path / "f.crt", tmp_path / "f.key"
    import base64

    crt.write_bytes(base64.b64decode(doc["users"][0]["user"]["client-certificate-data"]))
    key.write_bytes(base64.b64decode(doc["users"][0]["user"]["client-key-data"]))
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(str(crt), str(key))
    with httpx.Client(verify=context) as http, pytest.raises(httpx.TransportError):
        http.get(f"{served}/api/v1/nodes", extensions={"sni_hostname": "10.0.20.10"})
    # kube-apiserver would answer 401 after the handshake; Python's ssl refuses in it (see
    # homelab_sim.kube.server), so the client sees the connection fail instead.


@needs_kubectl
def test_kubectl_get_nodes_json(kubeconfig: Path) -> None:
    result = kubectl(kubeconfig, "get", "nodes", "-o", "json")
    assert result.returncode == 0, result.stderr
    nodes = json.loads(result.stdout)["items"]
    assert [n["metadata"]["name"] for n in nodes] == [
        "k8s-master-1",
        "k8s-worker-2",
        "k8s-worker-3",
    ]
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {"v1.29.15"}


@needs_kubectl
def test_kubectl_get_namespaces_and_api_resources(kubeconfig: Path) -> None:
    namespaces = kubectl(kubeconfig, "get", "ns")
    assert namespaces.returncode == 0, namespaces.stderr
    names = {line.split()[0] for line in namespaces.stdout.splitlines()[1:]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    resources = kubectl(kubeconfig, "api-resources", "-o", "name")
    assert resources.returncode == 0, resources.stderr
    listed = set(resources.stdout.split())
    assert {
        "pods",
        "nodes",
        "deployments.apps",
        "customresourcedefinitions.apiextensions.k8s.io",
        "poddisruptionbudgets.policy",
    } <= listed


@needs_kubectl
def test_kubectl_server_side_apply_of_the_calico_manifest(
    kubeconfig: Path, kube: Kube, tmp_path: Path
) -> None:
    operator = manifest("tigera-operator", "v1.34.13", "tigera-operator.yaml")
    assert operator is not None
    path = tmp_path / "tigera-operator.yaml"
    path.write_bytes(operator)
    applied = kubectl(kubeconfig, "apply", "--server-side", "-f", str(path))
    assert applied.returncode == 0, applied.stderr
    assert "deployment.apps/tigera-operator serverside-applied" in applied.stdout
    again = kubectl(kubeconfig, "apply", "--server-side", "-f", str(path))
    assert again.returncode == 0, again.stderr
    kube.settle(5)
    installation = tmp_path / "installation.yaml"
    installation.write_text(yaml.safe_dump(INSTALLATION))
    assert kubectl(kubeconfig, "create", "-f", str(installation)).returncode == 0
    kube.settle(10)
    result = kubectl(kubeconfig, "get", "nodes", "-o", "json")
    ready = {
        n["metadata"]["name"]: [
            c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"
        ]
        for n in json.loads(result.stdout)["items"]
    }
    assert ready == {"k8s-master-1": ["True"], "k8s-worker-2": ["True"], "k8s-worker-3": ["True"]}
    crds = kubectl(kubeconfig, "get", "ippools.crd.projectcalico.org", "-o", "json")
    assert crds.returncode == 0, crds.stderr
    assert [p["spec"]["cidr"] for p in json.loads(crds.stdout)["items"]] == ["192.168.0.0/16"]


@needs_kubectl
def test_kubectl_sees_conflicts_and_errors(kubeconfig: Path) -> None:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"},
        "data": {"k": "1"},
    }
    assert (
        kubectl(
            kubeconfig,
            "apply",
            "--server-side",
            "--field-manager=one",
            "-f",
            "-",
            stdin=yaml.safe_dump(doc),
        ).returncode
        == 0
    )
    doc["data"]["k"] = "2"
    clash = kubectl(
        kubeconfig,
        "apply",
        "--server-side",
        "--field-manager=two",
        "-f",
        "-",
        stdin=yaml.safe_dump(doc),
    )
    assert clash.returncode != 0
    assert 'conflict with "one"' in clash.stderr
    forced = kubectl(
        kubeconfig,
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=two",
        "-f",
        "-",
        stdin=yaml.safe_dump(doc),
    )
    assert forced.returncode == 0, forced.stderr
    missing = kubectl(kubeconfig, "get", "deployment", "nope", "-n", "default")
    assert missing.returncode != 0
    assert 'deployments.apps "nope" not found' in missing.stderr


def test_a_second_cluster_gets_its_own_server(
    registry: KubeRegistry, kube: Kube, cluster_secrets: ClusterSecrets, served: str
) -> None:
    other = registry.create_cluster(
        name="lab2",
        version="v1.30.10",
        ca_cert_pem=cluster_secrets.ca_cert,
        ca_key_pem=cluster_secrets.ca_key.reveal(),
        endpoint="10.0.30.10",
        sans=[],
        pod_cidr="10.244.0.0/16",
        service_cidr="10.96.0.0/12",
    )
    assert "10.0.30.10:6443" not in registry.endpoints()  # no control plane yet: nothing listens
    other.add_node("m", ip="10.0.30.10", role="control-plane", kubelet_version="v1.30.10")
    endpoints = registry.endpoints()
    assert endpoints["10.0.30.10:6443"] != served and endpoints["10.0.20.10:6443"] == served


def test_the_serving_certificate_follows_control_planes_joining(
    registry: KubeRegistry, clock: Any, cluster_secrets: ClusterSecrets, tmp_path: Path
) -> None:
    first = (("k8s-master-1", "10.0.20.11", "control-plane"),)
    cluster = new_cluster(registry, cluster_secrets, endpoint="10.0.20.5", nodes=first)
    registry.serve()
    url = registry.endpoints()["10.0.20.5:6443"]
    cluster.add_node("k8s-master-2", ip="10.0.20.12", role="control-plane", kubelet_version="v1")
    endpoints = registry.endpoints()
    assert endpoints == {"10.0.20.5:6443": url, "10.0.20.11:6443": url, "10.0.20.12:6443": url}
    ca = tmp_path / "ca.crt"
    ca.write_text(cluster_secrets.ca_cert)
    for name in ("10.0.20.5", "10.0.20.12", "k8s-master-2"):
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca))) as http:
            assert http.get(f"{url}/version", extensions={"sni_hostname": name}).status_code == 200


@needs_kubectl
def test_kubectl_drain_evicts_and_get_prints_the_servers_columns(
    kubeconfig: Path, kube: Kube
) -> None:
    from tests.sim.kube.support import install_calico

    install_calico(kube)
    drained = kubectl(kubeconfig, "drain", "k8s-worker-2", "--ignore-daemonsets", "--timeout=20s")
    assert drained.returncode == 0, drained.stderr
    assert "node/k8s-worker-2 drained" in drained.stdout
    kube.settle(5)
    pods = kubectl(
        kubeconfig,
        "get",
        "pods",
        "-A",
        "-o",
        "wide",
        "--field-selector",
        "spec.nodeName=k8s-worker-2",
    )
    assert pods.returncode == 0, pods.stderr
    names = [line.split()[1] for line in pods.stdout.splitlines()[1:]]
    assert not any(n.startswith("coredns-") for n in names)  # evicted, rescheduled elsewhere
    # DaemonSet pods stay (the tigera operator may too: it tolerates every NoSchedule taint)
    assert any(n.startswith("calico-node-") for n in names)
    assert any(n.startswith("kube-proxy-") for n in names)
    nodes = kubectl(kubeconfig, "get", "nodes")
    assert nodes.stdout.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    row = next(
        line.split() for line in nodes.stdout.splitlines() if line.startswith("k8s-worker-2")
    )
    assert row[1] == "Ready,SchedulingDisabled" and row[4] == "v1.29.15"
