"""Access: /access/ticket (login), /access/permissions, /access/domains."""

from __future__ import annotations

from typing import Any

from homelab_sim.pve import schema_formats
from homelab_sim.pve.auth import ROOT, AuthFailure
from homelab_sim.pve.context import Ctx

# Every privilege PVE 8 knows, in a stable order (the set lives with the format checks).
PRIVILEGES = tuple(sorted(schema_formats.PRIVILEGES))
_CAP_PATHS = {
    "vms": "/vms",
    "storage": "/storage",
    "nodes": "/nodes",
    "dc": "/",
    "access": "/access",
}


def create_ticket(ctx: Ctx, p: dict[str, Any]) -> Any:
    username = str(p["username"])
    if "realm" in p and "@" not in username:
        username = f"{username}@{p['realm']}"
    userid = ctx.auth.login(username, str(p["password"]))
    if userid is None:
        raise AuthFailure("authentication failure")
    ticket, csrf = ctx.auth.create_ticket(userid)
    out: dict[str, Any] = {
        "username": userid,
        "ticket": ticket,
        "CSRFPreventionToken": csrf,
        "cap": {name: {priv: 1 for priv in PRIVILEGES} for name in _CAP_PATHS},
    }
    if len(ctx.state.nodes) > 1:
        out["clustername"] = ctx.state.clustername
    return out


def get_ticket(ctx: Ctx, p: dict[str, Any]) -> Any:
    return None


def permissions(ctx: Ctx, p: dict[str, Any]) -> Any:
    ident = ctx.ident
    if ident.tokenid is None and ident.userid == ROOT:
        paths = ["/", "/access", "/nodes", "/pool", "/sdn", "/storage", "/vms"]
    else:
        token = ctx.state.tokens.get(ident.tokenid or "")
        paths = (
            sorted(token.acl) if token and token.privsep else ["/", "/nodes", "/storage", "/vms"]
        )
    if "path" in p:
        paths = [str(p["path"])]
    out = {}
    for path in paths:
        privs = ctx.perms.privileges(ident, path, PRIVILEGES)
        if privs:
            out[path] = privs
    return out


def domains(ctx: Ctx, p: dict[str, Any]) -> Any:
    return [
        {"realm": "pam", "type": "pam", "comment": "Linux PAM standard authentication"},
        {"realm": "pve", "type": "pve", "comment": "Proxmox VE authentication server"},
    ]


ROUTES = {
    ("POST", "/access/ticket"): create_ticket,
    ("GET", "/access/ticket"): get_ticket,
    ("GET", "/access/permissions"): permissions,
    ("GET", "/access/domains"): domains,
}
