"""The simulated API server's HTTP handler: one ``KubeRequest`` in, one ``KubeResponse`` out.

Serves health (/version, /healthz, /livez, /readyz), legacy discovery (/api, /api/v1, /apis,
/apis/<g>, /apis/<g>/<v>; a client asking for aggregated discovery gets the legacy shape, as
from an older server, and falls back) and resources: GET/LIST with labelSelector and
fieldSelector, POST, PUT, PATCH (server-side apply, merge, strategic merge as JSON merge, JSON
patch), DELETE (item and collection), the ``status`` and ``scale`` subresources and pod
evictions (``evictions.py``). Errors are ``Status`` objects (``status.py``). Authentication is
done by the transport (``server.py``: the client certificate); this module authorises it:
``system:masters`` may do anything, any user or group a ClusterRoleBinding binds to
``cluster-admin`` too (``kubeadm:cluster-admins`` once kubeadm created its binding), any
authenticated user may read discovery, anyone may read health and version, everything else is 403.
The caller holds the cluster lock.
"""

from __future__ import annotations

from typing import Any

from homelab_sim.kube import handlers, openapi
from homelab_sim.kube.state import ClusterState
from homelab_sim.kube.status import (
    ApiError,
    forbidden,
    forbidden_path,
    path_not_found,
    unauthorized,
)
from homelab_sim.kube.wire import ANONYMOUS, KubeRequest, KubeResponse, Target, User, respond

Obj = dict[str, Any]
HEALTH = ("healthz", "livez", "readyz", "version")
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def handle(state: ClusterState, request: KubeRequest, *, ready: bool) -> KubeResponse:
    """Answer one request (the caller holds the cluster lock and has ticked controllers)."""
    try:
        return _route(state, request, ready)
    except ApiError as exc:
        return respond(exc.status, exc.code)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # a body of the wrong shape deep in an object: answered, never a dropped connection
        message = f"Internal error occurred: {type(exc).__name__}: {exc}"[:300]
        return respond(ApiError(500, "InternalError", message).status, 500)


def _route(state: ClusterState, request: KubeRequest, ready: bool) -> KubeResponse:
    if request.headers.get("authorization"):
        raise unauthorized()  # the simulator knows no tokens: only client certificates
    user = request.user or ANONYMOUS
    parts = [p for p in request.path.split("?")[0].split("/") if p]
    if parts and parts[0] in HEALTH:
        return _health(state, parts, ready)
    target = _target(state, parts)
    if target is None:
        if user is ANONYMOUS:
            raise forbidden_path(user.name, "/" + "/".join(parts))
        found = _discovery(state, parts)
        if found is None:
            raise path_not_found()
        return found
    _authorize(state, user, request, target)
    return handlers.serve(state, request, target)


def _health(state: ClusterState, parts: list[str], ready: bool) -> KubeResponse:
    if parts[0] == "version":
        return respond(version_info(state.config.version))
    if not ready and parts[0] != "livez":
        return KubeResponse(
            500,
            f"[-]etcd failed: reason withheld\n{parts[0]} check failed\n".encode(),
            "text/plain; charset=utf-8",
        )
    return KubeResponse(200, b"ok", "text/plain; charset=utf-8")


def version_info(version: str) -> Obj:
    major, minor, *_ = version.lstrip("v").split(".")
    return {
        "major": major,
        "minor": minor,
        "gitVersion": version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-01-01T00:00:00Z",
        "goVersion": "go1.22.12",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def _discovery(state: ClusterState, parts: list[str]) -> KubeResponse | None:
    catalog = state.catalog
    if parts == ["api"]:
        return respond(catalog.api_versions(f"{state.config.endpoint}:6443"))
    if parts == ["apis"]:
        return respond(catalog.api_group_list())
    found: Obj | None = None
    if parts[:1] == ["openapi"]:
        found = openapi.openapi_v3(catalog, parts[1:])
    elif len(parts) == 2 and parts[0] == "api":
        found = catalog.resource_list("", parts[1])
    elif len(parts) == 2 and parts[0] == "apis":
        found = catalog.api_group(parts[1])
    elif len(parts) == 3 and parts[0] == "apis":
        found = catalog.resource_list(parts[1], parts[2])
    return None if found is None else respond(found)


def _target(state: ClusterState, parts: list[str]) -> Target | None:
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    rt = state.catalog.by_path(group, version, rest[0])
    if rt is None or (namespace and not rt.namespaced):
        return None
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub and sub not in rt.subresources:
        return None
    return Target(rt, namespace, name, sub)


def _verb(request: KubeRequest, target: Target) -> str:
    if request.method == "GET":
        return "get" if target.name else "list"
    if request.method == "DELETE" and not target.name:
        return "deletecollection"
    return _VERBS.get(request.method, request.method.lower())


def _authorize(state: ClusterState, user: User, request: KubeRequest, target: Target) -> None:
    if not user.is_admin and not _bound_cluster_admin(state, user):
        verb = _verb(request, target)
        raise forbidden(user.name, verb, target.rt, target.name, target.namespace)


def _bound_cluster_admin(state: ClusterState, user: User) -> bool:
    """A ClusterRoleBinding to ``cluster-admin`` names the user or one of its groups (RBAC: a
    group such as ``kubeadm:cluster-admins`` has no rights until its binding exists)."""
    for binding in state.objects("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"):
        if (binding.get("roleRef") or {}).get("name") != "cluster-admin":
            continue
        for subject in binding.get("subjects") or []:
            kind, name = subject.get("kind"), subject.get("name")
            if (kind == "Group" and name in user.groups) or (kind == "User" and name == user.name):
                return True
    return False
