"""Discovery, health and authorisation of the simulated API server, in process."""

from __future__ import annotations

from homelab.core.cluster import ClusterSecrets
from homelab_sim.clock import VirtualClock
from homelab_sim.kube import KubeRegistry
from homelab_sim.kube.wire import User
from tests.sim.kube.support import Kube, new_cluster


def test_version_reports_the_cluster_version(kube: Kube) -> None:
    info = kube.get("/version")
    assert (info["major"], info["minor"], info["gitVersion"]) == ("1", "29", "v1.29.15")


def test_health_endpoints_answer_ok_once_a_control_plane_runs(
    registry: KubeRegistry, clock: VirtualClock, cluster_secrets: ClusterSecrets
) -> None:
    cluster = new_cluster(registry, cluster_secrets, nodes=())
    kube = Kube(cluster, clock)
    assert not cluster.api_ready()
    assert kube.call("GET", "/readyz").status == 500
    cluster.add_node("k8s-master-1", ip="10.0.20.10", role="control-plane", kubelet_version="v1")
    assert cluster.api_ready()
    for path in ("/readyz", "/livez", "/healthz", "/readyz/etcd"):
        response = kube.call("GET", path)
        assert (response.status, response.body) == (200, b"ok")


def test_core_discovery_has_the_shapes_kubectl_reads(kube: Kube) -> None:
    versions = kube.get("/api")
    assert versions["kind"] == "APIVersions" and versions["versions"] == ["v1"]
    core = kube.get("/api/v1")
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["nodes"]["namespaced"] is False and by_name["pods"]["namespaced"] is True
    assert by_name["pods"]["shortNames"] == ["po"]
    assert by_name["pods/eviction"]["kind"] == "Eviction"
    assert by_name["pods/eviction"]["verbs"] == ["create"]
    assert {"namespaces", "services", "endpoints", "configmaps", "secrets"} <= set(by_name)
    assert {"serviceaccounts", "events", "nodes/status"} <= set(by_name)


def test_group_discovery_lists_the_builtin_groups(kube: Kube) -> None:
    groups = kube.get("/apis")
    assert groups["kind"] == "APIGroupList"
    names = {g["name"] for g in groups["groups"]}
    assert {
        "apps",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "admissionregistration.k8s.io",
        "policy",
        "coordination.k8s.io",
    } <= names
    apps = kube.get("/apis/apps")
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    resources = {r["name"] for r in kube.get("/apis/apps/v1")["resources"]}
    assert {"deployments", "daemonsets", "replicasets", "deployments/scale"} <= resources
    pdbs = kube.get("/apis/policy/v1")["resources"]
    assert [r["kind"] for r in pdbs if r["name"] == "poddisruptionbudgets"] == [
        "PodDisruptionBudget"
    ]


def test_aggregated_discovery_request_gets_the_legacy_shape(kube: Kube) -> None:
    accept = (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
        "application/json"
    )
    response = kube.call("GET", "/apis", headers={"accept": accept})
    assert response.status == 200 and response.content_type == "application/json"
    assert response.json()["kind"] == "APIGroupList"


def test_a_crd_adds_its_group_to_discovery_once_established(kube: Kube) -> None:
    assert kube.call("GET", "/apis/example.com/v1").status == 404
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    created = kube.ok("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    conditions = {c["type"]: c["status"] for c in created["status"]["conditions"]}
    assert conditions == {"Established": "True", "NamesAccepted": "True"}
    resources = kube.get("/apis/example.com/v1")["resources"]
    assert [(r["name"], r["kind"], r["shortNames"]) for r in resources] == [
        ("widgets", "Widget", ["wd"])
    ]
    assert "example.com" in {g["name"] for g in kube.get("/apis")["groups"]}
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    kube.ok("POST", "/apis/example.com/v1/namespaces/default/widgets", widget)
    kube.ok("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert kube.call("GET", "/apis/example.com/v1").status == 404


def test_unknown_paths_are_404_status(kube: Kube) -> None:
    response = kube.call("GET", "/apis/nope.example.com/v1/things")
    assert response.status == 404
    assert response.json()["reason"] == "NotFound"


def test_anonymous_reads_version_but_not_resources(kube: Kube) -> None:
    anonymous = Kube(kube.cluster, kube.clock, user=None)
    assert anonymous.call("GET", "/version").status == 200
    assert anonymous.call("GET", "/healthz").status == 200
    response = anonymous.call("GET", "/api/v1/nodes")
    assert response.status == 403
    assert response.json()["message"] == (
        'nodes is forbidden: User "system:anonymous" cannot list resource "nodes" in API group '
        '"" at the cluster scope'
    )
    assert anonymous.call("GET", "/apis").json()["message"] == (
        'forbidden: User "system:anonymous" cannot get path "/apis"'
    )


def test_a_user_outside_the_admin_groups_is_forbidden(kube: Kube) -> None:
    viewer = Kube(kube.cluster, kube.clock, user=User("jane", ("developers",)))
    assert viewer.call("GET", "/apis").status == 200  # discovery: any authenticated user
    response = viewer.call("DELETE", "/apis/apps/v1/namespaces/kube-system/deployments/coredns")
    assert response.status == 403
    assert response.json()["message"] == (
        'deployments.apps "coredns" is forbidden: User "jane" cannot delete resource '
        '"deployments" in API group "apps" in the namespace "kube-system"'
    )


def test_system_masters_is_an_admin_group(kube: Kube) -> None:
    root = Kube(kube.cluster, kube.clock, user=User("root", ("system:masters",)))
    assert root.call("GET", "/api/v1/nodes").status == 200


def test_an_unknown_bearer_token_is_401(kube: Kube) -> None:
    response = kube.call("GET", "/api/v1/nodes", headers={"authorization": "Bearer abc.def"})
    assert response.status == 401
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
