"""Server-side printing (what ``kubectl get`` shows) and admission webhooks."""

from __future__ import annotations

from typing import Any

import pytest

from homelab_sim.kube.tables import human_duration
from homelab_sim.kube.tokencleaner import ADMINS_BINDING_DELAY
from tests.sim.kube.support import Kube, install_calico, install_metallb

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def table(kube: Kube, path: str, query: str = "") -> dict[str, Any]:
    result: dict[str, Any] = kube.ok("GET", path, headers={"accept": TABLE}, query=query)
    assert result["kind"] == "Table"
    return result


def cells(result: dict[str, Any], *, wide: bool = False) -> list[dict[str, Any]]:
    names = [c["name"] for c in result["columnDefinitions"] if wide or c["priority"] == 0]
    keep = [i for i, c in enumerate(result["columnDefinitions"]) if c["name"] in names]
    return [{names[j]: row["cells"][i] for j, i in enumerate(keep)} for row in result["rows"]]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (0, "0s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 3600, "3d1h"),
        (40 * 86400, "40d"),
        (3 * 365 * 86400, "3y"),
    ],
)
def test_ages_read_as_kubectl_shows_them(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_nodes_table(kube: Kube) -> None:
    kube.clock.advance(300 - ADMINS_BINDING_DELAY)  # nodes registered before the binding
    rows = cells(table(kube, "/api/v1/nodes"))
    assert rows[0] == {
        "Name": "k8s-master-1",
        "Status": "NotReady",
        "Roles": "control-plane",
        "Age": "5m",
        "Version": "v1.29.15",
    }
    assert rows[1]["Roles"] == "<none>"
    install_calico(kube)
    wide = cells(table(kube, "/api/v1/nodes/k8s-worker-2"), wide=True)
    assert wide[0]["Status"] == "Ready" and wide[0]["Internal-IP"] == "10.0.20.11"
    assert wide[0]["Container-Runtime"].startswith("containerd://")


def test_pods_and_services_tables(kube: Kube) -> None:
    install_calico(kube)
    install_metallb(kube, ["10.0.20.200-10.0.20.201"])
    pods = cells(
        table(kube, "/api/v1/namespaces/kube-system/pods", "labelSelector=k8s-app%3Dkube-dns"),
        wide=True,
    )
    assert [(p["Ready"], p["Status"], p["Restarts"]) for p in pods] == [("1/1", "Running", "0")] * 2
    assert all(p["IP"].startswith("192.168.") for p in pods)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30080}]},
    }
    kube.apply(service)
    kube.settle(1)
    rows = {r["Name"]: r for r in cells(table(kube, "/api/v1/namespaces/default/services"))}
    assert rows["web"]["Type"] == "LoadBalancer" and rows["web"]["External-IP"] == "10.0.20.200"
    assert rows["web"]["Port(s)"] == "80:30080/TCP"
    assert (
        rows["kubernetes"]["External-IP"] == "<none>"
        and rows["kubernetes"]["Cluster-IP"] == "10.96.0.1"
    )
    deploy = cells(table(kube, "/apis/apps/v1/namespaces/kube-system/deployments"))
    assert deploy[0]["Name"] == "coredns" and deploy[0]["Ready"] == "2/2"


def test_table_rows_carry_object_metadata(kube: Kube) -> None:
    result = table(kube, "/api/v1/namespaces")
    assert result["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    full = table(kube, "/api/v1/namespaces", "includeObject=Object")
    assert full["rows"][0]["object"]["kind"] == "Namespace"


def test_crd_printer_columns(kube: Kube) -> None:
    install_calico(kube)
    rows = cells(table(kube, "/apis/operator.tigera.io/v1/tigerastatuses"))
    assert rows[0]["Name"] == "calico"
    assert (rows[0]["Available"], rows[0]["Progressing"], rows[0]["Degraded"]) == (
        "True",
        "False",
        "False",
    )


POOL = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {"name": "early", "namespace": "metallb-system"},
    "spec": {"addresses": ["10.0.20.200-10.0.20.210"]},
}


def test_metallb_webhook_fails_until_its_controller_runs(kube: Kube) -> None:
    from homelab_sim.kube import manifest

    text = manifest("metallb", "v0.14.9", "metallb-native.yaml")
    assert text is not None
    kube.apply_all(text)
    path = "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools"
    early = kube.call("POST", path, POOL)
    assert early.status == 500
    status = early.json()
    assert status["reason"] == "InternalError"
    assert status["message"] == (
        "Internal error occurred: failed calling webhook "
        '"ipaddresspoolvalidationwebhook.metallb.io": failed to call webhook: Post '
        '"https://metallb-webhook-service.metallb-system.svc:443/'
        'validate-metallb-io-v1beta1-ipaddresspool?timeout=10s": no endpoints available for '
        'service "metallb-webhook-service"'
    )
    install_calico(kube)  # nodes Ready: the controller pod runs, the webhook answers
    kube.settle(5)
    assert kube.call("POST", path, POOL).status == 201


def test_metallb_webhook_rejects_overlapping_pools(kube: Kube) -> None:
    install_calico(kube)
    install_metallb(kube, ["10.0.20.200-10.0.20.210"])
    path = "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools"
    overlapping = {**POOL, "spec": {"addresses": ["10.0.20.208/29"]}}
    response = kube.call("POST", path, overlapping)
    assert response.status == 403
    assert response.json()["message"] == (
        'admission webhook "ipaddresspoolvalidationwebhook.metallb.io" denied the request: CIDR '
        "'10.0.20.208/29' in pool 'early' overlaps with already defined CIDR "
        "'10.0.20.200-10.0.20.210'"
    )
    reversed_range = {**POOL, "spec": {"addresses": ["10.0.20.250-10.0.20.240"]}}
    assert kube.call("POST", path, reversed_range).status == 403
