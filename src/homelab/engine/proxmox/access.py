"""Proxmox VE access management as typed calls: the version, a token's effective privileges,
and setting up a least-privileged token (what the README's ``pveum`` commands do).

The simulated lab uses ``provision_token`` to give the tool exactly the documented grants
(``privileges.grants``) through the same API a real cluster serves; ``homelab doctor`` reads
``effective_privileges`` to check them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homelab.core.pve_reply import MalformedReply
from homelab.core.secret import Secret
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import ApiError
from homelab.engine.proxmox.privileges import Grant
from homelab.engine.proxmox.wire import path_segment

__all__ = ["effective_privileges", "provision_token", "pve_major"]


def pve_major(client: PveClient) -> int:
    """The Proxmox VE major version (``/version``'s ``release``, e.g. ``8.4`` -> 8)."""
    data = client.session.get("/version")
    release = data.get("release") if isinstance(data, dict) else None
    head = str(release or "").split(".", 1)[0]
    if not head.isdigit():
        raise MalformedReply(f"/version: release {release!r} is not a version number")
    return int(head)


def effective_privileges(client: PveClient, path: str, authid: str | None = None) -> set[str]:
    """The privileges the client's token (or ``authid``) holds on ``path``."""
    params = {"path": path} if authid is None else {"path": path, "userid": authid}
    data = client.session.request("GET", "/access/permissions", params)["data"]
    if not isinstance(data, dict):
        raise MalformedReply(f"/access/permissions: expected an object, got {type(data).__name__}")
    privs = data.get(path) or {}
    if not isinstance(privs, dict):
        raise MalformedReply(f"/access/permissions: {path} is not an object")
    return set(privs)


def provision_token(
    client: PveClient, tokenid: str, grants: Iterable[Grant], *, privsep: bool = True
) -> Secret:
    """Create (or re-create) API token ``user@realm!name`` holding exactly ``grants``; the
    roles and the user are made if missing (a role's privileges are brought up to date).
    ``client`` must be allowed to manage users, roles and ACLs. Returns ``tokenid=secret``."""
    userid, _, name = tokenid.partition("!")
    wanted = tuple(grants)
    for grant in wanted:
        _ensure_role(client, grant)
    _ignore_exists(lambda: client.session.post("/access/users", userid=userid), "already exists")
    token_path = f"/access/users/{path_segment(userid)}/token/{path_segment(name)}"
    _ignore_exists(lambda: client.session.delete(token_path), "no such token")
    created = client.session.post(token_path, privsep=privsep)
    value = created.get("value") if isinstance(created, dict) else None
    if not isinstance(value, str) or not value:
        raise MalformedReply(f"{token_path}: the reply holds no token value")
    for grant in wanted:
        acl = {"path": grant.path, "roles": grant.role, "users": userid}
        if not grant.propagate:
            acl["propagate"] = "0"
        if privsep:
            acl["tokens"] = tokenid
        client.session.request("PUT", "/access/acl", acl)
    return Secret(f"{tokenid}={value}")


def _ensure_role(client: PveClient, grant: Grant) -> None:
    privs = ",".join(sorted(grant.privileges))
    try:
        client.session.post("/access/roles", roleid=grant.role, privs=privs)
    except ApiError as exc:
        if "already exists" not in exc.detail:
            raise
        client.session.put(f"/access/roles/{path_segment(grant.role)}", privs=privs)


def _ignore_exists(call: Callable[[], object], marker: str) -> None:
    try:
        call()
    except ApiError as exc:
        if marker not in exc.detail:
            raise
