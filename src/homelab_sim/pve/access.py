"""Access: /access/ticket (login), /access/permissions, /access/domains, /access/roles and
/access/acl (pve-access-control ``API2/{AccessControl,Role,ACL}.pm``).

Users and API tokens are in access_users.py. Who holds what is resolved in permissions.py.
"""

from __future__ import annotations

import re
from typing import Any

from homelab_sim.pve import privs
from homelab_sim.pve.auth import AuthFailure
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail, param_fail
from homelab_sim.pve.permissions import normalize_path
from homelab_sim.pve.schema_formats import split_list
from homelab_sim.pve.state import AclEntry

_CAP_PATHS = {
    "vms": "/vms",
    "storage": "/storage",
    "nodes": "/nodes",
    "dc": "/",
    "access": "/access",
}
# AccessControl::check_path: the ACL paths PVE accepts.
_ACL_PATH = (
    r"/|/access|/access/groups|/access/groups/[A-Za-z0-9.\-_]+|/access/realm"
    r"|/access/realm/[A-Za-z0-9.\-_]+|/nodes|/nodes/[A-Za-z0-9.\-_]+|/pool"
    r"|/pool/[A-Za-z0-9.\-_]+(?:/[A-Za-z0-9.\-_]+){0,2}|/sdn|/sdn/controllers"
    r"|/sdn/controllers/[A-Za-z0-9_\-]+|/sdn/dns|/sdn/dns/[A-Za-z0-9]+|/sdn/ipams"
    r"|/sdn/ipams/[A-Za-z0-9]+|/sdn/zones|/sdn/zones/[A-Za-z0-9.\-_]+"
    r"|/sdn/zones/[A-Za-z0-9.\-_]+/[A-Za-z0-9.\-_]+"
    r"|/sdn/zones/[A-Za-z0-9.\-_]+/[A-Za-z0-9.\-_]+/[1-9][0-9]{0,3}"
    r"|/storage|/storage/[A-Za-z0-9.\-_]+|/vms|/vms/[1-9][0-9]{2,}"
    r"|/mapping|/mapping/[A-Za-z0-9.\-_]+|/mapping/[A-Za-z0-9.\-_]+/[A-Za-z0-9.\-_]+"
)


def create_ticket(ctx: Ctx, p: dict[str, Any]) -> Any:
    username = str(p["username"])
    if "realm" in p and "@" not in username:
        username = f"{username}@{p['realm']}"
    userid = ctx.auth.login(username, str(p["password"]))
    if userid is None:
        raise AuthFailure("authentication failure")
    ticket, csrf = ctx.auth.create_ticket(userid)
    every = sorted(privs.valid_privileges(ctx.state.pve_major))
    out: dict[str, Any] = {
        "username": userid,
        "ticket": ticket,
        "CSRFPreventionToken": csrf,
        "cap": {name: dict.fromkeys(every, 1) for name in _CAP_PATHS},
    }
    if len(ctx.state.nodes) > 1:
        out["clustername"] = ctx.state.clustername
    return out


def get_ticket(ctx: Ctx, p: dict[str, Any]) -> Any:
    return None


def permissions(ctx: Ctx, p: dict[str, Any]) -> Any:
    """API2/AccessControl.pm ``permissions``: your own (or your token's) without privileges,
    anyone's with Sys.Audit on /access."""
    authid = ctx.ident.task_user
    userid = str(p.get("userid") or authid)
    own_token = userid.split("!", 1)[0] == authid and "!" in userid
    if userid != authid and not own_token:
        ctx.require("/access", "Sys.Audit")
    if p.get("path"):
        path = str(p["path"])
        found = ctx.perms.permissions(userid, path)
        return {path: {priv: int(flag) for priv, flag in sorted(found.items())}}
    return ctx.perms.effective(userid)


def domains(ctx: Ctx, p: dict[str, Any]) -> Any:
    return [
        {"realm": "pam", "type": "pam", "comment": "Linux PAM standard authentication"},
        {"realm": "pve", "type": "pve", "comment": "Proxmox VE authentication server"},
    ]


# ---------------------------------------------------------------- roles (API2/Role.pm)


def _all_roles(ctx: Ctx) -> dict[str, tuple[frozenset[str], bool]]:
    builtin = privs.builtin_roles(ctx.state.pve_major)
    roles = {name: (found, True) for name, found in builtin.items()}
    for name, granted in ctx.state.roles.items():
        roles[name] = (frozenset(granted), False)
    return roles


def role_list(ctx: Ctx, p: dict[str, Any]) -> Any:
    return [
        {"roleid": name, "privs": ",".join(sorted(granted)), "special": int(special)}
        for name, (granted, special) in sorted(_all_roles(ctx).items())
    ]


def role_get(ctx: Ctx, p: dict[str, Any]) -> Any:
    found = _all_roles(ctx).get(str(p["roleid"]))
    if found is None:
        raise fail(f"role '{p['roleid']}' does not exist")
    return dict.fromkeys(sorted(found[0]), 1)


def role_create(ctx: Ctx, p: dict[str, Any]) -> Any:
    roleid = str(p["roleid"])
    if roleid.upper().startswith("PVE"):
        raise param_fail(
            {"roleid": "cannot use role ID starting with the (case-insensitive) 'PVE' namespace"}
        )
    if roleid in _all_roles(ctx):
        raise fail(f"create role failed: role '{roleid}' already exists")
    granted = _valid_privs(ctx, _split(p.get("privs")))
    ctx.state.roles[roleid] = sorted(set(granted))
    ctx.changed = True
    return None


def role_update(ctx: Ctx, p: dict[str, Any]) -> Any:
    """PUT: replace the privileges (or add them, ``append=1``); built-in roles are read-only."""
    roleid = str(p["roleid"])
    if roleid in privs.builtin_roles(ctx.state.pve_major):
        raise fail(f"auto-generated role '{roleid}' cannot be modified")
    if roleid not in ctx.state.roles:
        raise fail(f"update role failed: role '{roleid}' does not exist")
    granted = _valid_privs(ctx, _split(p.get("privs")))
    kept = set(ctx.state.roles[roleid]) if p.get("append") else set()
    ctx.state.roles[roleid] = sorted(kept | set(granted))
    ctx.changed = True
    return None


def _valid_privs(ctx: Ctx, granted: list[str]) -> list[str]:
    """The running version's privilege names (its schema format refuses the others)."""
    valid = privs.valid_privileges(ctx.state.pve_major)
    bad = next((priv for priv in granted if priv not in valid), None)
    if bad is not None:
        raise param_fail({"privs": f"invalid privilege '{bad}'"})
    return granted


# ---------------------------------------------------------------- ACLs (API2/ACL.pm)


def acl_list(ctx: Ctx, p: dict[str, Any]) -> Any:
    """Only the entries on paths where the caller may modify permissions."""
    return [
        {
            "path": e.path,
            "type": e.type,
            "ugid": e.ugid,
            "roleid": e.roleid,
            "propagate": int(e.propagate),
        }
        for e in ctx.state.acl
        if ctx.perms.check(ctx.ident, {"check": ["perm-modify", e.path]}, {}) is None
    ]


def acl_update(ctx: Ctx, p: dict[str, Any]) -> Any:
    users, tokens, groups = _split(p.get("users")), _split(p.get("tokens")), _split(p.get("groups"))
    if not (users or tokens or groups):
        message = "either 'users', 'groups' or 'tokens' is required."
        raise param_fail(dict.fromkeys(("users", "groups", "tokens"), message))
    delete = bool(p.get("delete"))
    path = normalize_path(str(p["path"]))
    if path is None or (not delete and not _valid_acl_path(path)):
        raise param_fail({"path": f"invalid ACL path '{p['path']}'"})
    propagate = bool(p.get("propagate", True))
    roles = _all_roles(ctx)
    mine = ctx.perms.permissions(ctx.ident.task_user, path)
    pending: list[AclEntry] = []
    for roleid in _split(p.get("roles")):
        if roleid not in roles:
            raise fail(f"ACL update failed: role '{roleid}' does not exist")
        if "Permissions.Modify" not in mine:
            _check_grantable(roleid, roles[roleid][0], mine, propagate, delete)
        for group in groups:
            raise fail(f"ACL update failed: group '{group}' does not exist")
        for userid in users:
            if userid not in ctx.state.users:
                raise fail(f"ACL update failed: user '{userid}' does not exist")
            pending.append(AclEntry(path=path, type="user", ugid=userid, roleid=roleid))
        for tokenid in tokens:
            if tokenid not in ctx.state.tokens:
                user, _, name = tokenid.partition("!")
                raise fail(f"ACL update failed: no such token '{name}' for user '{user}'")
            pending.append(AclEntry(path=path, type="token", ugid=tokenid, roleid=roleid))
    for entry in pending:
        key = (entry.path, entry.type, entry.ugid, entry.roleid)
        kept = [e for e in ctx.state.acl if (e.path, e.type, e.ugid, e.roleid) != key]
        if not delete:
            kept.append(entry.model_copy(update={"propagate": propagate}))
        ctx.state.acl = kept
    ctx.changed = True
    return None


def _check_grantable(
    roleid: str, granted: frozenset[str], mine: dict[str, bool], propagate: bool, delete: bool
) -> None:
    """Without Permissions.Modify one hands out (or takes back) only privileges one holds."""
    verb = "remove" if delete else "add"
    for priv in sorted(granted):
        if priv not in mine:
            raise param_fail(
                {
                    "role": f"Cannot {verb} role '{roleid}' - requires 'Permissions.Modify' "
                    "or superset of privileges."
                }
            )
        if propagate and not mine[priv] and not delete:
            raise param_fail(
                {
                    "role": f"Cannot {verb} role '{roleid}' with propagation - requires "
                    "'Permissions.Modify' or propagated superset of privileges."
                }
            )
    if roleid == "NoAccess":
        raise param_fail({"role": f"Cannot {verb} role '{roleid}' - requires 'Permissions.Modify'"})


def _valid_acl_path(path: str) -> bool:
    return re.fullmatch(_ACL_PATH, path) is not None


def _split(value: Any) -> list[str]:
    return [] if value is None else split_list(str(value))


ROUTES = {
    ("POST", "/access/ticket"): create_ticket,
    ("GET", "/access/ticket"): get_ticket,
    ("GET", "/access/permissions"): permissions,
    ("GET", "/access/domains"): domains,
    ("GET", "/access/roles"): role_list,
    ("POST", "/access/roles"): role_create,
    ("GET", "/access/roles/{roleid}"): role_get,
    ("PUT", "/access/roles/{roleid}"): role_update,
    ("GET", "/access/acl"): acl_list,
    ("PUT", "/access/acl"): acl_update,
}
