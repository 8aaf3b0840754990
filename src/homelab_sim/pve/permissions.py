"""Who may do what: PVE's ACL resolution and its API permission checks.

Resolution (pve-access-control ``AccessControl.pm::roles`` and ``RPCEnvironment.pm``):
- the path is walked from ``/`` down; at each level an ACL entry for the token replaces what
  was found above, else one for the user (else one for a group). An entry counts at its own
  path, and below it only when it propagates; ``NoAccess`` wins over everything else found;
- pool ACLs (``/pool/<id>``) give their roles to the pool's ``/vms/<vmid>`` and
  ``/storage/<id>`` paths (never propagated), unless a regular ACL already set them;
  a pool's ``NoAccess`` trumps regular ACLs, a regular ``NoAccess`` is never trumped;
- a privilege-separated token has the privileges its own ACLs give it that its user also has;
  a token without privilege separation has its user's; ``root@pam`` has every privilege.

Checks follow the schema's ``permissions.check`` expressions (``perm`` with ``any`` and
``require_param``, ``and``, ``or``, ``userid-param``, ``userid-group``, ``perm-modify``) with
PVE's 403 texts: ``Permission check failed (<path>, <priv>)``, ``(<path>, <a>|<b>)`` for an
``any`` check, and a bare ``Permission check failed`` when an ``or`` fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from homelab_sim.pve import privs
from homelab_sim.pve.auth import ROOT, Identity
from homelab_sim.pve.state import ClusterState

DENY = "Permission check failed"


def deny_text(detail: str | None = None) -> str:
    """PVE's raise_perm_exc message."""
    return f"{DENY} ({detail})" if detail else DENY


def normalize_path(path: str) -> str | None:
    """AccessControl::normalize_path (None for a path with characters PVE refuses)."""
    if not path:
        return None
    path = re.sub(r"/+", "/", path).rstrip("/") or "/"
    if not path.startswith("/"):
        path = "/" + path
    return path if re.fullmatch(r"[A-Za-z0-9.\-_/]+", path) else None


class Permissions:
    """Evaluates privileges and schema permission expressions against the cluster's ACLs."""

    def __init__(self, state: ClusterState) -> None:
        self._state = state

    @property
    def major(self) -> int:
        return self._state.pve_major

    def role_privileges(self, roleid: str) -> frozenset[str] | None:
        builtin = privs.builtin_roles(self.major).get(roleid)
        if builtin is not None:
            return builtin
        custom = self._state.roles.get(roleid)
        return None if custom is None else frozenset(custom)

    # ------------------------------------------------------------------ resolution

    def permissions(self, authid: str, path: str) -> dict[str, bool]:
        """Privilege -> propagate flag of a user or token id on ``path`` (RPCEnvironment)."""
        if authid == ROOT:
            return dict.fromkeys(privs.valid_privileges(self.major), True)
        if "!" in authid:
            token = self._state.tokens.get(authid)
            if token is None:
                return {}
            user_privs = self.permissions(token.userid, path)
            if not token.privsep:
                return user_privs
            own = self._compile(authid, path)
            if token.userid == ROOT:
                return own
            return {p: own[p] and user_privs[p] for p in own if p in user_privs}
        if authid not in self._state.users:
            return {}
        return self._compile(authid, path)

    def has(self, ident: Identity, path: str, priv: str) -> bool:
        return priv in self.permissions(ident.task_user, path)

    def _compile(self, authid: str, path: str) -> dict[str, bool]:
        roles = self._roles(authid, path)
        pool_roles = self._pool_roles(authid, path)
        if pool_roles and "NoAccess" not in roles:
            if "NoAccess" in pool_roles:
                roles = {"NoAccess": False}
            else:
                for role in pool_roles:
                    roles.setdefault(role, False)
        out: dict[str, bool] = {}
        for role, propagate in roles.items():
            for priv in self.role_privileges(role) or ():
                out[priv] = out.get(priv, False) or propagate
        return out

    def _roles(self, authid: str, path: str) -> dict[str, bool]:
        """AccessControl::roles for a user or a privilege-separated token."""
        kind = "token" if "!" in authid else "user"
        parts = [""] if path == "/" else path.split("/")
        roles: dict[str, bool] = {}
        current = ""
        for index, part in enumerate(parts):
            final = index == len(parts) - 1
            current = "/" if index == 0 else f"{current.rstrip('/')}/{part}"
            found = {
                entry.roleid: entry.propagate
                for entry in self._state.acl
                if entry.path == current
                and entry.type == kind
                and entry.ugid == authid
                and (final or entry.propagate)
            }
            if found:
                roles = found
        if "NoAccess" in roles:
            return {"NoAccess": roles["NoAccess"]}
        return roles

    def _pool_roles(self, authid: str, path: str) -> set[str]:
        match = re.fullmatch(r"/(vms|storage)/([^/]+)", path)
        if match is None:
            return set()
        found: set[str] = set()
        for pool in self._state.pools.values():
            members = [str(v) for v in pool.vms] if match[1] == "vms" else pool.storage
            if match[2] in members:
                found.update(self._roles(authid, f"/pool/{pool.poolid}"))
        return found

    def effective(self, authid: str) -> dict[str, dict[str, int]]:
        """RPCEnvironment::get_effective_permissions: every interesting path with privileges."""
        paths = {"/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms"}
        paths.update(entry.path for entry in self._state.acl)
        for pool in self._state.pools.values():
            paths.update(f"/vms/{vmid}" for vmid in pool.vms)
            paths.update(f"/storage/{sid}" for sid in pool.storage)
        out: dict[str, dict[str, int]] = {}
        for path in sorted(paths):
            found = self.permissions(authid, path)
            if found:
                out[path] = {priv: int(flag) for priv, flag in sorted(found.items())}
        return out

    # ------------------------------------------------------------------ API checks

    def check(
        self, ident: Identity, permissions: Mapping[str, Any] | None, params: Mapping[str, Any]
    ) -> str | None:
        """None if allowed, else the 403 message (RPCEnvironment::check_api2_permissions)."""
        if permissions and permissions.get("user") == "world":
            return None
        if ident.tokenid is None and ident.userid == ROOT:
            return None
        if not permissions:
            return deny_text("user != root@pam")
        if permissions.get("user") == "all":
            return None
        expr = permissions.get("check")
        if expr is None:
            return deny_text()
        ok, detail = self._evaluate(ident, expr, params)
        return None if ok else deny_text(detail)

    def require(
        self, ident: Identity, path: str, wanted: Sequence[str], *, any_of: bool = False
    ) -> str | None:
        """RPCEnvironment::check / check_any: None if allowed, else the 403 message."""
        have = self.permissions(ident.task_user, path)
        if any_of:
            found = any(p in have for p in wanted)
            return None if found else deny_text(f"{path}, {'|'.join(wanted)}")
        missing = next((p for p in wanted if p not in have), None)
        return None if missing is None else deny_text(f"{path}, {missing}")

    def _evaluate(
        self, ident: Identity, expr: Sequence[Any], params: Mapping[str, Any]
    ) -> tuple[bool, str | None]:
        op = expr[0]
        if op == "and":
            for sub in expr[1:]:
                ok, detail = self._evaluate(ident, sub, params)
                if not ok:
                    return False, detail
            return True, None
        if op == "or":
            return any(self._evaluate(ident, sub, params)[0] for sub in expr[1:]), None
        if op == "perm":
            return self._perm(ident, expr, params)
        if op == "perm-modify":
            path = normalize_path(_template(expr[1], params))
            if path is None:
                return False, None
            return self._outcome(self.require(ident, path, _modify_privs(path), any_of=True))
        if op == "userid-param":
            return self._userid_param(ident, expr, params)
        if op == "userid-group":
            return self._userid_group(ident, expr, params)
        raise ValueError(f"unknown permission test {op!r}")

    def _perm(
        self, ident: Identity, expr: Sequence[Any], params: Mapping[str, Any]
    ) -> tuple[bool, str | None]:
        wanted: list[str] = list(expr[2])
        opts = dict(zip(expr[3::2], expr[4::2], strict=False))
        if "require_param" in opts and opts["require_param"] not in params:
            return False, None
        path = normalize_path(_template(expr[1], params)) or _template(expr[1], params)
        return self._outcome(self.require(ident, path, wanted, any_of=bool(opts.get("any"))))

    def _userid_param(
        self, ident: Identity, expr: Sequence[Any], params: Mapping[str, Any]
    ) -> tuple[bool, str | None]:
        userid = str(params.get("userid", ""))
        if expr[1] == "self":
            return userid in self._state.users and ident.task_user == userid, None
        realm = userid.rpartition("@")[2]
        return self._outcome(self.require(ident, f"/access/realm/{realm}", ["Realm.AllocateUser"]))

    def _userid_group(
        self, ident: Identity, expr: Sequence[Any], params: Mapping[str, Any]
    ) -> tuple[bool, str | None]:
        wanted: list[str] = list(expr[1])
        opts = dict(zip(expr[2::2], expr[3::2], strict=False))
        creating = opts.get("groups_param") == "create"
        if not creating and str(params.get("userid", "")) not in self._state.users:
            return False, None
        if self.require(ident, "/access/groups", wanted, any_of=True) is None:
            return True, None
        # the simulator has no groups: nobody holds User.Modify on a group of the user
        if opts.get("groups_param") and not params.get("groups"):
            return False, f"/access/groups, {'|'.join(wanted)}"
        return False, None

    @staticmethod
    def _outcome(denied: str | None) -> tuple[bool, str | None]:
        if denied is None:
            return True, None
        detail = denied[len(DENY) :].strip().removeprefix("(").removesuffix(")")
        return False, detail or None


def _template(template: str, params: Mapping[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(params.get(m.group(1), "")), template)


def _modify_privs(path: str) -> list[str]:
    """RPCEnvironment::check_perm_modify."""
    if re.match(r"^/storage/.+$", path):
        return ["Permissions.Modify", "Datastore.Allocate"]
    if re.match(r"^/vms/.+$", path):
        return ["Permissions.Modify", "VM.Allocate"]
    if re.match(r"^/pool/.+$", path):
        return ["Permissions.Modify", "Pool.Allocate"]
    return ["Permissions.Modify"]
