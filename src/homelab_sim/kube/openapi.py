"""The OpenAPI v3 documents of a simulated API server, as much as clients read of them.

``kubectl create/apply`` ask ``/openapi/v3`` whether the server validates fields itself: for
each group/version it reads ``/openapi/v3/<api|apis/g>/<v>`` and looks for a PATCH operation
tagged with the kind (``x-kubernetes-group-version-kind``) that takes the ``fieldValidation``
query parameter; if found it leaves validation to the server. The documents here carry those
operations for every served kind (built-in and CRD) with their parameters, and empty schemas:
the simulator does not publish the full OpenAPI models (so ``kubectl explain`` has nothing to
show).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from homelab_sim.kube.resources import Catalog, ResourceType

Obj = dict[str, Any]
_QUERY = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def group_versions(catalog: Catalog) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for rt in catalog.all():
        if (rt.group, rt.version) not in seen:
            seen.append((rt.group, rt.version))
    return seen


def _document(catalog: Catalog, group: str, version: str) -> Obj:
    paths: Obj = {}
    for rt in catalog.all():
        if (rt.group, rt.version) == (group, version):
            paths[_item_path(rt)] = {"patch": _patch_operation(rt), "parameters": []}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _item_path(rt: ResourceType) -> str:
    base = "/" + _gv_path(rt.group, rt.version)
    if rt.namespaced:
        return f"{base}/namespaces/{{namespace}}/{rt.name}/{{name}}"
    return f"{base}/{rt.name}/{{name}}"


def _patch_operation(rt: ResourceType) -> Obj:
    return {
        "tags": [rt.group_version.replace("/", "_").replace(".", "")],
        "description": f"partially update the specified {rt.kind}",
        "operationId": f"patch{rt.kind}",
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for name in _QUERY
        ],
        "responses": {"200": {"description": "OK"}, "201": {"description": "Created"}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {
            "group": rt.group,
            "version": rt.version,
            "kind": rt.kind,
        },
    }


def _hash(doc: Obj) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()


def openapi_v3(catalog: Catalog, parts: list[str]) -> Obj | None:
    """The document at ``/openapi/v3[/...]`` (``parts`` after ``openapi``), or None (404)."""
    if parts == ["v3"]:
        index = {}
        for group, version in group_versions(catalog):
            path = _gv_path(group, version)
            doc_hash = _hash(_document(catalog, group, version))
            index[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={doc_hash}"}
        return {"paths": index}
    if parts[:1] != ["v3"]:
        return None
    rest = parts[1:]
    if len(rest) == 2 and rest[0] == "api":
        group, version = "", rest[1]
    elif len(rest) == 3 and rest[0] == "apis":
        group, version = rest[1], rest[2]
    else:
        return None
    if (group, version) not in group_versions(catalog):
        return None
    return _document(catalog, group, version)
