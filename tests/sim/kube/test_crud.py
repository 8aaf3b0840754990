"""CRUD, selectors, patches and Status errors of the simulated API server."""

from __future__ import annotations

from typing import Any

from tests.sim.kube.support import Kube

CM = "/api/v1/namespaces/default/configmaps"


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_create_get_replace_delete(kube: Kube) -> None:
    created = kube.call("POST", CM, config_map("app", mode="a"))
    assert created.status == 201
    obj = created.json()
    meta = obj["metadata"]
    assert meta["namespace"] == "default" and meta["uid"] and meta["resourceVersion"]
    assert meta["creationTimestamp"] == "2026-05-28T20:26:44Z"  # base + the init binding delay
    assert kube.get(f"{CM}/app")["data"] == {"mode": "a"}
    obj["data"] = {"mode": "b"}
    replaced = kube.ok("PUT", f"{CM}/app", obj)
    assert replaced["data"] == {"mode": "b"}
    assert int(replaced["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert replaced["metadata"]["uid"] == meta["uid"]
    deleted = kube.ok("DELETE", f"{CM}/app")
    assert deleted["metadata"]["name"] == "app"
    assert kube.call("GET", f"{CM}/app").status == 404


def test_not_found_is_worded_as_the_api_server_words_it(kube: Kube) -> None:
    response = kube.call("GET", "/apis/apps/v1/namespaces/default/deployments/web")
    assert response.status == 404
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "web" not found',
        "reason": "NotFound",
        "details": {"name": "web", "group": "apps", "kind": "deployments"},
        "code": 404,
    }
    core = kube.call("GET", "/api/v1/nodes/nope").json()
    assert core["message"] == 'nodes "nope" not found'
    assert core["details"] == {"name": "nope", "kind": "nodes"}


def test_create_twice_is_409_already_exists(kube: Kube) -> None:
    kube.ok("POST", CM, config_map("dup"))
    response = kube.call("POST", CM, config_map("dup"))
    assert response.status == 409
    status = response.json()
    assert (status["reason"], status["message"]) == (
        "AlreadyExists",
        'configmaps "dup" already exists',
    )


def test_stale_resource_version_is_409_conflict(kube: Kube) -> None:
    obj = kube.ok("POST", CM, config_map("cfg", a="1"))
    kube.ok("PUT", f"{CM}/cfg", {**obj, "data": {"a": "2"}})
    response = kube.call("PUT", f"{CM}/cfg", {**obj, "data": {"a": "3"}})
    assert response.status == 409
    assert response.json()["message"] == (
        'Operation cannot be fulfilled on configmaps "cfg": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_invalid_objects_are_422(kube: Kube) -> None:
    bad_name = kube.call("POST", CM, config_map("Not_Valid"))
    assert bad_name.status == 422
    status = bad_name.json()
    assert status["reason"] == "Invalid"
    assert status["message"].startswith('ConfigMap "Not_Valid" is invalid: metadata.name: ')
    assert status["details"]["causes"][0]["field"] == "metadata.name"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    no_containers = kube.call("POST", "/api/v1/namespaces/default/pods", pod).json()
    assert no_containers["message"] == 'Pod "p" is invalid: spec.containers: Required value'
    nameless = kube.call("POST", CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    assert nameless.json()["message"] == (
        'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    )


def test_a_missing_namespace_is_404(kube: Kube) -> None:
    response = kube.call("POST", "/api/v1/namespaces/ghost/configmaps", config_map("x"))
    assert (response.status, response.json()["message"]) == (404, 'namespaces "ghost" not found')


def test_body_and_url_must_agree(kube: Kube) -> None:
    wrong_ns = {**config_map("x"), "metadata": {"name": "x", "namespace": "kube-system"}}
    assert kube.call("POST", CM, wrong_ns).json()["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )
    wrong_kind = {**config_map("x"), "kind": "Secret"}
    assert kube.call("POST", CM, wrong_kind).status == 400


def test_generate_name_makes_a_unique_name(kube: Kube) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "job-"}}
    first = kube.ok("POST", CM, body)["metadata"]["name"]
    second = kube.ok("POST", CM, body)["metadata"]["name"]
    assert first.startswith("job-") and second.startswith("job-") and first != second


def test_label_selectors(kube: Kube) -> None:
    for name, labels in (("a", {"tier": "web", "env": "prod"}), ("b", {"tier": "db"}), ("c", {})):
        kube.ok("POST", CM, {**config_map(name), "metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        return [n for n in kube.names(CM, query=f"labelSelector={selector}") if len(n) == 1]

    assert names("tier%3Dweb") == ["a"]
    assert names("tier%21%3Dweb") == ["b", "c"]
    assert names("tier%20in%20(web,db)") == ["a", "b"]
    assert names("tier%20notin%20(web)") == ["b", "c"]
    assert names("env") == ["a"]
    assert names("!env") == ["b", "c"]
    assert names("tier%3Dweb,env%3Dprod") == ["a"]
    bad = kube.call("GET", CM, query="labelSelector=tier%20in%20web")
    assert bad.status == 400


def test_field_selectors(kube: Kube) -> None:
    pods = kube.get("/api/v1/pods", query="fieldSelector=spec.nodeName%3Dk8s-master-1")["items"]
    names = {p["metadata"]["name"] for p in pods}
    assert "etcd-k8s-master-1" in names
    assert all(p["spec"]["nodeName"] == "k8s-master-1" for p in pods)
    one = kube.names("/api/v1/namespaces", query="fieldSelector=metadata.name%3Dkube-system")
    assert one == ["kube-system"]
    others = kube.names("/api/v1/namespaces", query="fieldSelector=metadata.name%21%3Ddefault")
    assert "default" not in others and "kube-system" in others


def test_list_shape(kube: Kube) -> None:
    listed = kube.get("/api/v1/namespaces")
    assert listed["kind"] == "NamespaceList" and listed["apiVersion"] == "v1"
    assert listed["metadata"]["resourceVersion"].isdigit()
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= {
        n["metadata"]["name"] for n in listed["items"]
    }


def test_merge_strategic_and_json_patches(kube: Kube) -> None:
    kube.ok("POST", CM, config_map("p", a="1", b="2"))
    merged = kube.ok(
        "PATCH",
        f"{CM}/p",
        {"data": {"a": None, "c": "3"}},
        content_type="application/merge-patch+json",
    )
    assert merged["data"] == {"b": "2", "c": "3"}
    strategic = kube.ok(
        "PATCH",
        "/api/v1/nodes/k8s-worker-2",
        {"spec": {"unschedulable": True}},
        content_type="application/strategic-merge-patch+json",
    )
    assert strategic["spec"]["unschedulable"] is True
    ops = [
        {"op": "replace", "path": "/data/b", "value": "20"},
        {"op": "add", "path": "/data/d", "value": "4"},
    ]
    patched = kube.ok("PATCH", f"{CM}/p", ops, content_type="application/json-patch+json")
    assert patched["data"] == {"b": "20", "c": "3", "d": "4"}
    failed = kube.call(
        "PATCH",
        f"{CM}/p",
        [{"op": "test", "path": "/data/b", "value": "x"}],
        content_type="application/json-patch+json",
    )
    assert failed.status == 422
    assert kube.call("PATCH", f"{CM}/p", {}, content_type="text/plain").status == 415


def test_cordon_taints_the_node(kube: Kube) -> None:
    kube.ok(
        "PATCH",
        "/api/v1/nodes/k8s-worker-3",
        {"spec": {"unschedulable": True}},
        content_type="application/strategic-merge-patch+json",
    )
    taints = kube.get("/api/v1/nodes/k8s-worker-3")["spec"]["taints"]
    assert {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"} in taints


def test_status_subresource_changes_only_status(kube: Kube) -> None:
    node = kube.get("/api/v1/nodes/k8s-worker-2")
    node["metadata"]["labels"]["extra"] = "ignored"
    node["status"]["phase"] = "Running"
    updated = kube.ok("PUT", "/api/v1/nodes/k8s-worker-2/status", node)
    assert updated["status"]["phase"] == "Running"
    assert "extra" not in updated["metadata"]["labels"]


def test_scale_subresource(kube: Kube) -> None:
    path = "/apis/apps/v1/namespaces/kube-system/deployments/coredns/scale"
    scale = kube.get(path)
    assert (scale["kind"], scale["spec"]["replicas"]) == ("Scale", 2)
    kube.ok("PATCH", path, {"spec": {"replicas": 3}}, content_type="application/merge-patch+json")
    deploy = kube.get("/apis/apps/v1/namespaces/kube-system/deployments/coredns")
    assert deploy["spec"]["replicas"] == 3


def test_delete_collection_and_namespace_cascade(kube: Kube) -> None:
    kube.ok(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
    )
    for name in ("x", "y"):
        kube.ok("POST", "/api/v1/namespaces/team/configmaps", config_map(name))
    gone = kube.ok("DELETE", "/api/v1/namespaces/team")
    assert gone["status"]["phase"] == "Terminating"
    assert kube.call("GET", "/api/v1/namespaces/team/configmaps/x").status == 404
    kube.ok("POST", CM, config_map("z1"))
    kube.ok("POST", CM, config_map("z2"))
    kube.ok("DELETE", CM, query="fieldSelector=metadata.name%3Dz1")
    remaining = kube.names(CM)
    assert "z1" not in remaining and "z2" in remaining


def test_dry_run_stores_nothing(kube: Kube) -> None:
    response = kube.call("POST", CM, config_map("dry"), query="dryRun=All")
    assert response.status == 201
    assert kube.call("GET", f"{CM}/dry").status == 404


def test_watch_streams_on_lists_only(kube: Kube) -> None:
    from homelab_sim.kube.watch import WatchResponse

    assert isinstance(kube.call("GET", CM, query="watch=true&timeoutSeconds=0"), WatchResponse)
    assert kube.call("POST", CM, query="watch=true").status == 405


def test_services_get_cluster_ips_and_node_ports(kube: Kube) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}], "selector": {"app": "web"}},
    }
    created = kube.ok("POST", "/api/v1/namespaces/default/services", svc)["spec"]
    assert created["clusterIP"].startswith("10.96.") and created["clusterIPs"] == [
        created["clusterIP"]
    ]
    assert 30000 <= created["ports"][0]["nodePort"] <= 32767
    assert created["ports"][0]["targetPort"] == 80 and created["ports"][0]["protocol"] == "TCP"
    assert (
        kube.get("/api/v1/namespaces/default/services/kubernetes")["spec"]["clusterIP"]
        == "10.96.0.1"
    )
    assert (
        kube.get("/api/v1/namespaces/kube-system/services/kube-dns")["spec"]["clusterIP"]
        == "10.96.0.10"
    )


def test_a_body_of_the_wrong_shape_gets_a_status_not_a_dropped_connection(kube: Kube) -> None:
    for body in ([1, 2], "text", {"metadata": ["x"]}, {"metadata": {"name": 5}}):
        response = kube.call("POST", CM, body)
        assert 400 <= response.status < 600
        assert response.json()["kind"] == "Status"
    weird = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": 7}}
    assert (
        kube.call("POST", "/api/v1/namespaces/default/services", weird).json()["kind"] == "Status"
    )
