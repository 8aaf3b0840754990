"""The request and response shapes of the simulated API server, shared by its modules.

``User`` is who the transport authenticated (from the client certificate: CN is the user, O the
groups), ``KubeRequest``/``KubeResponse`` what crosses the handler, ``Target`` a resolved
resource path (kind, namespace, name, subresource).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from homelab_sim.kube.resources import ResourceType

ADMIN_GROUPS = frozenset({"system:masters"})  # others get rights from ClusterRoleBindings


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return bool(ADMIN_GROUPS.intersection(self.groups))


ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


@dataclass
class KubeRequest:
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    user: User | None = None  # None: no client certificate (anonymous)


@dataclass
class KubeResponse:
    status: int
    body: bytes
    content_type: str = "application/json"

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Target:
    rt: ResourceType
    namespace: str
    name: str
    subresource: str


def respond(obj: Any, status: int = 200) -> KubeResponse:
    return KubeResponse(status, json.dumps(obj, separators=(",", ":")).encode())
