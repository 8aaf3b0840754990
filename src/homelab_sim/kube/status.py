"""The API server's ``Status`` error objects, worded as kube-apiserver words them.

``ApiError`` is raised anywhere inside the simulated API server and turned into the HTTP answer
by ``api.py``. Constructors exist for the statuses clients act on: 400 BadRequest, 401
Unauthorized, 403 Forbidden, 404 NotFound, 405 MethodNotAllowed, 409 AlreadyExists / Conflict,
415 UnsupportedMediaType, 422 Invalid, 429 TooManyRequests (evictions blocked by a PDB).
"""

from __future__ import annotations

from typing import Any

from homelab_sim.kube.resources import ResourceType


class ApiError(Exception):
    """A failed request; ``status`` is the metav1.Status body."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
        if details is not None:
            self.status["details"] = details


def _details(rt: ResourceType, name: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.name
    details.update(extra)
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', _details(rt, name))


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(rt: ResourceType, name: str) -> ApiError:
    message = f'{rt.qualified} "{name}" already exists'
    return ApiError(409, "AlreadyExists", message, _details(rt, name))


def conflict(rt: ResourceType, name: str) -> ApiError:
    message = (
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", message, _details(rt, name))


def apply_conflict(rt: ResourceType, name: str, conflicts: list[tuple[str, str, str]]) -> ApiError:
    """Server-side apply conflicts: (manager, apiVersion, field path) triples."""
    causes = [
        {
            "type": "FieldManagerConflict",
            "message": f'conflict with "{manager}" using {api_version}',
            "field": path,
        }
        for manager, api_version, path in conflicts
    ]
    noun = "conflict" if len(conflicts) == 1 else "conflicts"
    lines = [f"{c['message']}: {c['field']}" for c in causes]
    body = lines[0] if len(lines) == 1 else "\n".join(f"- {line}" for line in lines)
    message = f"Apply failed with {len(conflicts)} {noun}: {body}"
    return ApiError(409, "Conflict", message, _details(rt, name, causes=causes))


def invalid(kind: str, name: str, causes: list[tuple[str, str, str]], group: str = "") -> ApiError:
    """422: ``causes`` are (field, reason type, message) triples, e.g. ("metadata.name",
    "FieldValueRequired", "Required value: name or generateName is required")."""
    text = ", ".join(f"{f}: {m}" for f, _, m in causes)
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for f, r, m in causes]
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden_path(user: str, path: str) -> ApiError:
    return ApiError(403, "Forbidden", f'forbidden: User "{user}" cannot get path "{path}"', {})


def forbidden(user: str, verb: str, rt: ResourceType, name: str, namespace: str) -> ApiError:
    what = f'{rt.qualified} "{name}"' if name else rt.qualified
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (
        f'{what} is forbidden: User "{user}" cannot {verb} resource "{rt.name}" '
        f'in API group "{rt.group}" {scope}'
    )
    return ApiError(403, "Forbidden", message, _details(rt, name))


def method_not_allowed() -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        {},
    )


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown "
        f"format - accepted media types include: application/json, application/yaml, "
        f'application/vnd.kubernetes.protobuf (got "{content_type}")',
    )


def too_many_requests(message: str, causes: list[dict[str, str]]) -> ApiError:
    return ApiError(429, "TooManyRequests", message, {"causes": causes})
