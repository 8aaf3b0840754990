"""Server-side apply: create, merge, field ownership, conflicts and force."""

from __future__ import annotations

from typing import Any

from homelab_sim.kube.store import to_yaml
from tests.sim.kube.support import Kube

PATH = "/api/v1/namespaces/default/configmaps/settings"


def doc(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"},
        "data": data,
    }


def apply(kube: Kube, body: dict[str, Any], manager: str, force: bool = False) -> Any:
    query = f"fieldManager={manager}" + ("&force=true" if force else "")
    return kube.call(
        "PATCH",
        PATH,
        to_yaml(body),
        query=query,
        content_type="application/apply-patch+yaml",
    )


def owners(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["manager"]: e for e in obj["metadata"]["managedFields"]}


def test_apply_creates_with_managed_fields(kube: Kube) -> None:
    response = apply(kube, doc(a="1"), "homelab")
    assert response.status == 201
    obj = response.json()
    entry = owners(obj)["homelab"]
    assert entry["operation"] == "Apply" and entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_reapplying_the_same_config_changes_nothing(kube: Kube) -> None:
    first = apply(kube, doc(a="1"), "homelab").json()
    kube.clock.advance(60)
    again = apply(kube, doc(a="1"), "homelab")
    assert again.status == 200
    assert again.json()["metadata"] == first["metadata"]


def test_two_managers_merge_their_fields(kube: Kube) -> None:
    apply(kube, doc(a="1"), "homelab")
    merged = apply(kube, doc(b="2"), "other").json()
    assert merged["data"] == {"a": "1", "b": "2"}
    assert owners(merged)["other"]["fieldsV1"] == {"f:data": {"f:b": {}}}
    assert owners(merged)["homelab"]["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_a_field_dropped_from_the_config_is_removed(kube: Kube) -> None:
    apply(kube, doc(a="1", b="2"), "homelab")
    after = apply(kube, doc(a="1"), "homelab").json()
    assert after["data"] == {"a": "1"}


def test_a_field_another_manager_also_owns_survives(kube: Kube) -> None:
    apply(kube, doc(a="1", b="2"), "homelab")
    apply(kube, doc(b="2"), "other")  # same value: shared ownership, no conflict
    after = apply(kube, doc(a="1"), "homelab").json()
    assert after["data"] == {"a": "1", "b": "2"}


def test_changing_a_field_someone_else_owns_is_a_conflict(kube: Kube) -> None:
    apply(kube, doc(a="1"), "homelab")
    response = apply(kube, doc(a="2"), "kubectl")
    assert response.status == 409
    status = response.json()
    assert status["reason"] == "Conflict"
    assert (
        status["message"]
        == 'Apply failed with 1 conflict: conflict with "homelab" using v1: .data.a'
    )
    assert status["details"]["causes"] == [
        {
            "type": "FieldManagerConflict",
            "message": 'conflict with "homelab" using v1',
            "field": ".data.a",
        }
    ]
    assert kube.get(PATH)["data"] == {"a": "1"}


def test_force_takes_the_field_over(kube: Kube) -> None:
    apply(kube, doc(a="1"), "homelab")
    forced = apply(kube, doc(a="2"), "kubectl", force=True).json()
    assert forced["data"] == {"a": "2"}
    assert "homelab" not in owners(forced)
    assert owners(forced)["kubectl"]["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_an_update_takes_fields_without_conflict_then_apply_conflicts(kube: Kube) -> None:
    apply(kube, doc(a="1"), "homelab")
    kube.ok(
        "PATCH",
        PATH,
        {"data": {"a": "edited"}},
        content_type="application/merge-patch+json",
        query="fieldManager=kubectl-edit",
    )
    obj = kube.get(PATH)
    assert owners(obj)["kubectl-edit"]["operation"] == "Update"
    conflict = apply(kube, doc(a="1"), "homelab")
    assert conflict.status == 409
    assert 'conflict with "kubectl-edit"' in conflict.json()["message"]


def test_apply_requires_a_field_manager(kube: Kube) -> None:
    response = kube.call(
        "PATCH",
        PATH,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n",
        content_type="application/apply-patch+yaml",
    )
    assert response.status == 400
    assert "fieldManager" in response.json()["message"]


def test_apply_of_a_deployment_keeps_the_controllers_status(kube: Kube) -> None:
    deploy: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }
    kube.apply(deploy)
    kube.settle(5)
    status = kube.get("/apis/apps/v1/namespaces/default/deployments/web")["status"]
    assert status["replicas"] == 1
    again = kube.apply({**deploy, "status": {"replicas": 99}})
    assert again["status"]["replicas"] == 1
    assert again["metadata"]["generation"] == 1
    bumped = kube.apply({**deploy, "spec": {**deploy["spec"], "replicas": 2}})
    assert bumped["metadata"]["generation"] == 2
