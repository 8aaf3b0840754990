"""The resource verbs of the simulated API server: get, list, create, replace, patch, delete.

``serve`` dispatches an authorised request on a resolved ``Target``. Writes go through
``ClusterState`` (admission, field ownership, bookkeeping). PATCH understands server-side
apply (``application/apply-patch+yaml``: ``fieldManager`` required, ``force`` to take fields
over, creates missing objects), JSON merge, strategic merge (as JSON merge) and JSON patch.
``?dryRun=All`` validates and answers without storing. ``?watch=1`` on a list streams
watch events (``watch.py``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import yaml

from homelab_sim.kube import admission, evictions, managed, patches, tables, watch, webhooks
from homelab_sim.kube.selectors import parse_field_selector, parse_label_selector
from homelab_sim.kube.state import ClusterState
from homelab_sim.kube.status import (
    already_exists,
    bad_request,
    conflict,
    invalid,
    method_not_allowed,
    not_found,
    unsupported_media_type,
)
from homelab_sim.kube.store import YAML_LOADER, clone
from homelab_sim.kube.wire import KubeRequest, KubeResponse, Target, respond

Obj = dict[str, Any]
Query = dict[str, str]
_SYSTEM = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


def serve(state: ClusterState, request: KubeRequest, target: Target) -> KubeResponse:
    query = {k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
    if query.get("watch") in ("true", "1"):
        if request.method != "GET" or target.name or target.subresource:
            raise method_not_allowed()
        return watch.watch(state, target, query)
    sub, method = target.subresource, request.method
    if sub == "eviction":
        if method != "POST":
            raise method_not_allowed()
        return evictions.evict(state, target.namespace, target.name, read_body(request))
    if sub == "scale":
        return _scale(state, request, target, query)
    if sub == "log":
        return _log(state, target)
    if sub not in ("", "status"):
        raise method_not_allowed()
    if method == "GET":
        found = get_object(state, target) if target.name else _list(state, target, query)
        if not sub and tables.wants_table(request.headers.get("accept", "")):
            return respond(_table(state, target, found, query))
        return respond(found)
    if method == "POST" and not target.name:
        return _create(state, request, target, query)
    if method == "PUT" and target.name:
        return _replace(state, request, target, query)
    if method == "PATCH" and target.name:
        return _patch(state, request, target, query)
    if method == "DELETE":
        return _delete(state, target, query) if target.name else _delete_all(state, target, query)
    raise method_not_allowed()


def _table(state: ClusterState, target: Target, found: Obj, query: Query) -> Obj:
    rt = target.rt
    crd_type = state.rt("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    crd = state.get(crd_type, "", f"{rt.name}.{rt.group}") if rt.group else None
    return tables.to_table(
        rt,
        [found] if target.name else found["items"],
        now=state.now(),
        crd=crd,
        include=query.get("includeObject", "Metadata"),
        resource_version=str(state.store.revision),
    )


def read_body(request: KubeRequest) -> Obj:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    try:
        if content_type in ("application/yaml", patches.APPLY_YAML):
            data = yaml.load(request.body or b"", Loader=YAML_LOADER)  # noqa: S506  (a safe loader)
        elif content_type.endswith("json") or not content_type:
            data = json.loads(request.body or b"null")
        else:
            raise unsupported_media_type(content_type)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"the body of the request could not be decoded: {exc}") from exc
    if not isinstance(data, dict | list):
        raise bad_request("the body of the request must be a JSON object")
    return data  # type: ignore[return-value]  # a list only for JSON patch


def get_object(state: ClusterState, target: Target) -> Obj:
    obj = state.get(target.rt, target.namespace, target.name)
    if obj is None:
        raise not_found(target.rt, target.name)
    return obj


def _list(state: ClusterState, target: Target, query: Query) -> Obj:
    items = state.items(target.rt, target.namespace or None)
    if query.get("labelSelector"):
        match_labels = parse_label_selector(query["labelSelector"])
        items = [o for o in items if match_labels(o)]
    if query.get("fieldSelector"):
        match_fields = parse_field_selector(query["fieldSelector"])
        items = [o for o in items if match_fields(o)]
    return {
        "kind": f"{target.rt.kind}List",
        "apiVersion": target.rt.group_version,
        "metadata": {"resourceVersion": str(state.store.revision)},
        "items": items,
    }


def _manager(request: KubeRequest, query: Query) -> str:
    agent = request.headers.get("user-agent", "unknown").split("/")[0]
    return query.get("fieldManager") or agent


def _identify(state: ClusterState, target: Target, obj: Obj, *, name: str = "") -> Obj:
    """Check the body's apiVersion/kind/namespace/name against the URL; fill them in."""
    rt = target.rt
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version and api_version != rt.group_version:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the "
            f"expected API version ({rt.group_version})"
        )
    if kind and kind != rt.kind:
        raise bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
        )
    meta = obj.setdefault("metadata", {})
    _check_meta_types(meta)
    if rt.namespaced:
        given = meta.get("namespace")
        if given and target.namespace and given != target.namespace:
            raise bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        meta["namespace"] = target.namespace or given or "default"
        namespace_type = state.rt("v1", "Namespace")
        if state.get(namespace_type, "", meta["namespace"]) is None:
            raise not_found(namespace_type, meta["namespace"])
    if name and meta.get("name") and meta["name"] != name:
        raise bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )
    if name:
        meta["name"] = name
    return obj


def _check_meta_types(meta: Any) -> None:
    """The decoding errors the API server gives for ObjectMeta fields of the wrong type."""
    go_types = {
        "name": str,
        "namespace": str,
        "generateName": str,
        "labels": dict,
        "annotations": dict,
        "resourceVersion": str,
    }
    if not isinstance(meta, dict):
        raise bad_request(
            f"json: cannot unmarshal {type(meta).__name__} into Go struct field "
            ".metadata of type v1.ObjectMeta"
        )
    for key, kind in go_types.items():
        value = meta.get(key)
        bad_map = (
            kind is dict
            and isinstance(value, dict)
            and not all(isinstance(v, str) for v in value.values())
        )
        if (value is not None and not isinstance(value, kind)) or bad_map:
            go = "string" if kind is str else "map[string]string"
            raise bad_request(
                f"json: cannot unmarshal {type(value).__name__} into Go struct "
                f"field ObjectMeta.metadata.{key} of type {go}"
            )


def _dry_run(query: Query) -> bool:
    return query.get("dryRun") == "All"


def _dry_admit(state: ClusterState, target: Target, obj: Obj, old: Obj | None) -> Obj:
    obj = clone(obj)
    admission.admit(state, target.rt, obj, old)
    return obj


def _create(state: ClusterState, request: KubeRequest, target: Target, q: Query) -> KubeResponse:
    obj = _identify(state, target, read_body(request))
    meta = obj["metadata"]
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = _generate_name(state, target, str(meta["generateName"]))
    if state.get(target.rt, meta.get("namespace", ""), str(meta.get("name", ""))) is not None:
        raise already_exists(target.rt, meta["name"])
    for system in _SYSTEM:
        meta.pop(system, None)
    webhooks.call_webhooks(state, target.rt, "CREATE", obj)
    if _dry_run(q):
        return respond(_dry_admit(state, target, obj, None), 201)
    return respond(state.create(target.rt, obj, manager=_manager(request, q)), 201)


def _generate_name(state: ClusterState, target: Target, prefix: str) -> str:
    n = state.store.revision * 7919
    while True:
        suffix = "".join("bcdfghjklmnpqrstvwxz2456789"[(n // 27**i) % 27] for i in range(5))
        if state.get(target.rt, target.namespace, f"{prefix}{suffix}") is None:
            return f"{prefix}{suffix}"
        n += 1


def _replace(state: ClusterState, request: KubeRequest, target: Target, q: Query) -> KubeResponse:
    live = get_object(state, target)
    obj = _identify(state, target, read_body(request), name=target.name)
    wanted = obj["metadata"].get("resourceVersion")
    if wanted and wanted != live["metadata"]["resourceVersion"]:
        raise conflict(target.rt, target.name)
    return _write(state, request, target, q, live, _scoped(target, live, obj))


def _scoped(target: Target, live: Obj, new: Obj) -> Obj:
    """On ``/status`` only the status changes; on the main resource status is kept."""
    if target.subresource == "status":
        result = clone(live)
        result["status"] = new.get("status", {})
        return result
    if target.rt.has_status:
        new = dict(new)
        if "status" in live:
            new["status"] = live["status"]
        else:
            new.pop("status", None)
    return new


def _write(
    state: ClusterState, request: KubeRequest, target: Target, q: Query, live: Obj, new: Obj
) -> KubeResponse:
    meta = new.setdefault("metadata", {})
    for system in ("uid", "creationTimestamp"):
        meta[system] = live["metadata"][system]
    if not target.subresource:
        webhooks.call_webhooks(state, target.rt, "UPDATE", new)
    if _dry_run(q):
        return respond(_dry_admit(state, target, new, live))
    stored = state.update(
        target.rt, new, manager=_manager(request, q), subresource=target.subresource
    )
    return respond(stored)


def _patch(state: ClusterState, request: KubeRequest, target: Target, q: Query) -> KubeResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type not in patches.PATCH_TYPES:
        raise unsupported_media_type(content_type)
    if content_type in (patches.APPLY_YAML, patches.APPLY_JSON):
        return _apply(state, request, target, q)
    live = get_object(state, target)
    body: Any = read_body(request)
    if content_type == patches.JSON_PATCH:
        new = patches.json_patch(live, body)
    else:
        new = patches.merge_patch(live, body, strategic=content_type == patches.STRATEGIC)
    if not isinstance(new, dict):
        raise bad_request("the patch did not produce an object")
    wanted = new.get("metadata", {}).get("resourceVersion")
    if wanted and wanted != live["metadata"]["resourceVersion"]:
        raise conflict(target.rt, target.name)
    new = _identify(state, target, new, name=target.name)
    return _write(state, request, target, q, live, _scoped(target, live, new))


def _apply(state: ClusterState, request: KubeRequest, target: Target, q: Query) -> KubeResponse:
    manager = q.get("fieldManager", "")
    if not manager:
        raise bad_request(
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
            "value: is required for apply patch"
        )
    applied = _identify(state, target, read_body(request), name=target.name)
    if not applied.get("apiVersion") or not applied.get("kind"):
        raise invalid(
            target.rt.kind,
            target.name,
            [("apiVersion", "FieldValueRequired", "Required value")],
            target.rt.group,
        )
    live = state.get(target.rt, target.namespace, target.name)
    force = q.get("force") in ("true", "1")
    result = managed.apply_object(
        target.rt, live, applied, manager=manager, force=force, now=state.timestamp()
    )
    if not target.subresource:
        webhooks.call_webhooks(state, target.rt, "UPDATE" if live else "CREATE", result)
    if _dry_run(q):
        return respond(_dry_admit(state, target, result, live), 200 if live else 201)
    if live is None:
        for system in _SYSTEM[:3]:
            result["metadata"].pop(system, None)
        return respond(state.create(target.rt, result, manager=manager, record=False), 201)
    result = _scoped(target, live, result) if target.subresource != "status" else result
    return respond(state.update(target.rt, result, manager=manager, record=False))


def _delete(state: ClusterState, target: Target, q: Query) -> KubeResponse:
    live = get_object(state, target)
    webhooks.call_webhooks(state, target.rt, "DELETE", None)
    if _dry_run(q):
        return respond(live)
    state.delete(target.rt, target.namespace, target.name)
    state.collect_garbage()
    if target.rt.kind == "Namespace" and target.rt.group == "":
        gone = clone(live)
        gone["metadata"]["deletionTimestamp"] = state.timestamp()
        gone["status"] = {"phase": "Terminating"}
        return respond(gone)
    return respond(live)


def _delete_all(state: ClusterState, target: Target, q: Query) -> KubeResponse:
    listed = _list(state, target, q)
    if not _dry_run(q):
        for obj in listed["items"]:
            meta = obj["metadata"]
            state.delete(target.rt, meta.get("namespace", ""), meta["name"])
        state.collect_garbage()
    return respond(listed)


def _scale(state: ClusterState, request: KubeRequest, target: Target, q: Query) -> KubeResponse:
    live = get_object(state, target)
    if request.method in ("PUT", "PATCH"):
        body = read_body(request)
        if request.method == "PATCH":
            body = patches.merge_patch(_scale_of(live), body)
        replicas = (body.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise invalid(
                "Scale",
                target.name,
                [
                    (
                        "spec.replicas",
                        "FieldValueInvalid",
                        f"Invalid value: {replicas}: must be greater than or equal to 0",
                    )
                ],
                "autoscaling",
            )
        new = clone(live)
        new["spec"]["replicas"] = replicas
        if not _dry_run(q):
            live = state.update(target.rt, new, manager=_manager(request, q), subresource="scale")
    elif request.method != "GET":
        raise method_not_allowed()
    return respond(_scale_of(live))


def _scale_of(obj: Obj) -> Obj:
    meta = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector") or {}
    labels = ",".join(f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
        "status": {"replicas": obj.get("status", {}).get("replicas", 0), "selector": labels},
    }


def _log(state: ClusterState, target: Target) -> KubeResponse:
    pod = get_object(state, target)
    lines = [
        f"{pod['metadata'].get('creationTimestamp', '')} container started on "
        f"{pod.get('spec', {}).get('nodeName', '<unscheduled>')} (simulated)"
    ]
    return KubeResponse(200, ("\n".join(lines) + "\n").encode(), "text/plain")
