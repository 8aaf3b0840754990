"""The non-apply PATCH flavours: JSON merge patch (RFC 7386), strategic merge patch (applied
as a JSON merge patch; ``$patch``/``$retainKeys``-style directives are dropped), and JSON patch
(RFC 6902: add, remove, replace, move, copy, test)."""

from __future__ import annotations

import json
from typing import Any

from homelab_sim.kube.status import ApiError, bad_request
from homelab_sim.kube.store import clone

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_YAML = "application/apply-patch+yaml"
APPLY_JSON = "application/apply-patch+json"
PATCH_TYPES = (MERGE, STRATEGIC, JSON_PATCH, APPLY_YAML, APPLY_JSON)


def merge_patch(target: Any, patch: Any, *, strategic: bool = False) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if strategic and key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value, strategic=strategic)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(
            f"the server rejected our request due to an error in our request: "
            f'invalid JSON pointer "{path}"'
        )
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        index = len(parent) if parts[-1] == "-" else int(parts[-1])
        parent.insert(index, value)
    else:
        parent[parts[-1]] = value
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        del parent[int(parts[-1])]
    else:
        del parent[parts[-1]]
    return doc


def _operation(doc: Any, op: dict[str, Any]) -> Any:
    kind, parts = op.get("op"), _pointer(str(op.get("path", "")))
    if kind == "add":
        return _add(doc, parts, clone(op.get("value")))
    if kind == "remove":
        return _remove(doc, parts)
    if kind == "replace":
        _get(doc, parts)
        return _add(_remove(doc, parts), parts, clone(op.get("value")))
    if kind in ("move", "copy"):
        source = _pointer(str(op.get("from", "")))
        value = clone(_get(doc, source))
        if kind == "move":
            doc = _remove(doc, source)
        return _add(doc, parts, value)
    if kind == "test":
        if _get(doc, parts) != op.get("value"):
            raise ApiError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in "
                f"our request: testing value {op.get('path')} failed",
            )
        return doc
    raise bad_request(f"Unexpected kind: {kind}")


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 on a copy of ``target``."""
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = clone(target)
    for op in ops:
        try:
            doc = _operation(doc, op)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            path = op.get("path") if isinstance(op, dict) else op
            raise ApiError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in "
                f'our request: doc is missing path: "{path}"',
            ) from exc
    return doc


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise bad_request(f"the body of the request could not be decoded: {exc}") from exc
