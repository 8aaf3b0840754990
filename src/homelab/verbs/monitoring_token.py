"""The read-only Proxmox VE token prometheus-pve-exporter scrapes with: made through the API.

``ensure_auditor_token`` brings Proxmox VE to exactly this, and changes nothing when it
already is (a second run sends no write):

- user ``homelab-monitor@pve`` (PVE realm: it has no password and cannot log in);
- its API token ``exporter``, privilege-separated, whose secret is kept sealed in the state
  store (``pve-auditor-token``) and never shown; when the stored secret is lost or no longer
  authenticates, the token is deleted and a new one made (PVE shows a secret only once);
- the built-in role ``PVEAuditor`` on ``/`` (propagated) for the user and for the token, and no
  other ACL entry for either: a privilege-separated token holds what both grant, so exactly
  PVEAuditor, which is every ``*.Audit`` privilege and nothing that writes.

Creating users, tokens and ACLs needs privileges the tool's everyday token must not hold, so
this one step runs with a separate admin credential from ``HOMELAB_PVE_ADMIN_TOKEN``
(``user@realm!name=secret``), over the lab's own endpoint and TLS trust. It needs
``ADMIN_PRIVILEGES``; without one of them Proxmox refuses the step and the error carries
Proxmox's own 403 text. ``auditor_token`` reads the stored token back (what the in-cluster
exporter's Secret holds) without any request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx

from homelab.core.secret import Secret
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ConnectionSettings, SettingsError, parse_token
from homelab.engine.proxmox.errors import AuthenticationError, PermissionDenied
from homelab.engine.proxmox.wire import path_segment
from homelab.engine.state import SecretBox
from homelab.errors import LabError

__all__ = [
    "ADMIN_ENV",
    "ADMIN_PRIVILEGES",
    "AUDITOR_ROLE",
    "AUDITOR_TOKEN_ID",
    "AUDITOR_USER",
    "SECRET_NAME",
    "AuditorOutcome",
    "ExporterToken",
    "admin_settings",
    "auditor_settings",
    "auditor_token",
    "ensure_auditor_token",
    "make_auditor_token",
    "stored_auditor_token",
]

ADMIN_ENV = "HOMELAB_PVE_ADMIN_TOKEN"
AUDITOR_USER = "homelab-monitor@pve"
AUDITOR_TOKEN_NAME = "exporter"  # noqa: S105 - a token's name, not its secret
AUDITOR_TOKEN_ID = f"{AUDITOR_USER}!{AUDITOR_TOKEN_NAME}"
AUDITOR_ROLE = "PVEAuditor"
SECRET_NAME = "pve-auditor-token"  # noqa: S105 - the state store's name for it
COMMENT = "homelab: read-only, for prometheus-pve-exporter"
#: What the admin credential needs, and where PVE checks it (pve-access-control: POST
#: /access/users ``userid-param`` + ``userid-group``, token create ``userid-group``, PUT
#: /access/acl ``perm-modify``).
ADMIN_PRIVILEGES: tuple[tuple[str, str], ...] = (
    ("/access/realm/pve", "Realm.AllocateUser"),
    ("/access/groups", "User.Modify"),
    ("/", "Permissions.Modify"),
)
_WANTED_ACL = (("user", AUDITOR_USER), ("token", AUDITOR_TOKEN_ID))


@dataclass(frozen=True)
class ExporterToken:
    """What prometheus-pve-exporter needs to log in: its ``PVE_USER``, ``PVE_TOKEN_NAME`` and
    ``PVE_TOKEN_VALUE`` (the value is a Secret: reveal it only into the exporter's Secret)."""

    user: str
    token_name: str
    value: Secret

    @property
    def token_id(self) -> str:
        return f"{self.user}!{self.token_name}"

    def env(self) -> dict[str, Secret]:
        """The exporter's environment variables (all as Secrets, to keep them together)."""
        return {
            "PVE_USER": Secret(self.user),
            "PVE_TOKEN_NAME": Secret(self.token_name),
            "PVE_TOKEN_VALUE": self.value,
        }


@dataclass(frozen=True)
class AuditorOutcome:
    """The token, and what had to change on Proxmox VE for it (empty: nothing)."""

    token: ExporterToken
    changes: tuple[str, ...]


def admin_settings(
    lab: ConnectionSettings, env: Mapping[str, str] | None = None
) -> ConnectionSettings | None:
    """The lab's endpoint and TLS trust with the admin token of ``HOMELAB_PVE_ADMIN_TOKEN``
    (None when the variable is unset). The value is never repeated in an error."""
    raw = (os.environ if env is None else env).get(ADMIN_ENV, "").strip()
    if not raw:
        return None
    try:
        token_id, secret = parse_token(raw)
    except SettingsError as exc:
        raise SettingsError(
            exc.message.replace("PROXMOX_VE_API_TOKEN", ADMIN_ENV), hint=exc.hint
        ) from None
    return replace(lab, token_id=token_id, token_secret=secret)


def auditor_settings(lab: ConnectionSettings, token: ExporterToken) -> ConnectionSettings:
    """The lab's endpoint and TLS trust with the auditor token."""
    return replace(lab, token_id=token.token_id, token_secret=token.value)


def stored_auditor_token(box: SecretBox) -> ExporterToken | None:
    """The auditor token sealed in the state store, if any."""
    raw = box.get(SECRET_NAME)
    if raw is None:
        return None
    token_id, secret = parse_token(raw.decode("utf-8"))
    user, _, name = token_id.partition("!")
    return ExporterToken(user=user, token_name=name, value=secret)


def auditor_token(box: SecretBox) -> ExporterToken:
    """The stored auditor token (no request is made), for the in-cluster exporter's Secret."""
    token = stored_auditor_token(box)
    if token is None:
        raise LabError(
            "no read-only Proxmox VE token for the exporter has been made yet",
            hint="run: homelab monitoring token SPEC (with "
            f"{ADMIN_ENV} set to an admin token, see the README's Monitoring section)",
        )
    return token


def ensure_auditor_token(
    admin: PveClient,
    box: SecretBox,
    lab: ConnectionSettings,
    *,
    transport: httpx.BaseTransport | None = None,
) -> AuditorOutcome:
    """Bring the auditor user, token and ACLs to exactly what the module docstring says."""
    changes: list[str] = []
    try:
        _ensure_user(admin, changes)
        token = _ensure_token(admin, box, lab, changes, transport)
        _ensure_acl(admin, changes)
    except PermissionDenied as exc:
        raise LabError(
            f"Proxmox VE refused the admin token ({ADMIN_ENV}): {exc.detail}",
            hint="it needs "
            + ", ".join(f"{priv} on {path}" for path, priv in ADMIN_PRIVILEGES)
            + " (e.g. an Administrator token); the lab's own token must not have them",
        ) from exc
    return AuditorOutcome(token, tuple(changes))


def _ensure_user(admin: PveClient, changes: list[str]) -> None:
    listed = admin.session.get("/access/users")
    names = {str(u.get("userid")) for u in listed if isinstance(u, dict)}
    if AUDITOR_USER in names:
        return
    admin.session.post("/access/users", userid=AUDITOR_USER, comment=COMMENT)
    changes.append(f"user {AUDITOR_USER} created")


def _token_path() -> str:
    return f"/access/users/{path_segment(AUDITOR_USER)}/token/{path_segment(AUDITOR_TOKEN_NAME)}"


def _ensure_token(
    admin: PveClient,
    box: SecretBox,
    lab: ConnectionSettings,
    changes: list[str],
    transport: httpx.BaseTransport | None,
) -> ExporterToken:
    user = admin.session.get(f"/access/users/{path_segment(AUDITOR_USER)}")
    tokens = user.get("tokens") if isinstance(user, dict) else None
    existing = tokens.get(AUDITOR_TOKEN_NAME) if isinstance(tokens, dict) else None
    stored = stored_auditor_token(box)
    reusable = (
        isinstance(existing, dict)
        and existing.get("privsep") in (1, "1", True)
        and stored is not None
        and stored.token_id == AUDITOR_TOKEN_ID
    )
    if reusable and stored is not None and _authenticates(lab, stored, transport):
        return stored
    if existing is not None:
        admin.session.delete(_token_path())
        changes.append(f"token {AUDITOR_TOKEN_ID} deleted (no stored secret authenticates it)")
    made = admin.session.post(_token_path(), privsep=1, comment=COMMENT)
    value = made.get("value") if isinstance(made, dict) else None
    if not isinstance(value, str) or not value:
        raise LabError(f"Proxmox VE made token {AUDITOR_TOKEN_ID} but sent no secret for it")
    box.put(SECRET_NAME, f"{AUDITOR_TOKEN_ID}={value}".encode())
    changes.append(f"token {AUDITOR_TOKEN_ID} created (privilege-separated; secret stored sealed)")
    return ExporterToken(AUDITOR_USER, AUDITOR_TOKEN_NAME, Secret(value))


def _authenticates(
    lab: ConnectionSettings, token: ExporterToken, transport: httpx.BaseTransport | None
) -> bool:
    with PveClient(auditor_settings(lab, token), transport=transport) as client:
        try:
            client.version()
        except AuthenticationError:
            return False
    return True


def _ensure_acl(admin: PveClient, changes: list[str]) -> None:
    entries = [e for e in admin.session.get("/access/acl") if isinstance(e, dict)]
    ours = [e for e in entries if (e.get("type"), e.get("ugid")) in _WANTED_ACL]
    for kind, ugid in _WANTED_ACL:
        if not any(_is_wanted(e, kind, ugid) for e in ours):
            _put_acl(admin, kind, ugid, "/", AUDITOR_ROLE)
            changes.append(f"{AUDITOR_ROLE} on / granted to {kind} {ugid}")
    for entry in ours:
        if not _is_wanted(entry, str(entry.get("type")), str(entry.get("ugid"))):
            kind, ugid = str(entry["type"]), str(entry["ugid"])
            path, role = str(entry.get("path")), str(entry.get("roleid"))
            _put_acl(admin, kind, ugid, path, role, delete=True)
            changes.append(f"{role} on {path} taken from {kind} {ugid} (more than auditing)")


def _is_wanted(entry: Mapping[str, Any], kind: str, ugid: str) -> bool:
    return (
        entry.get("path") == "/"
        and entry.get("roleid") == AUDITOR_ROLE
        and (entry.get("type"), entry.get("ugid")) == (kind, ugid)
        and entry.get("propagate") in (1, "1", True)
    )


def _put_acl(
    admin: PveClient, kind: str, ugid: str, path: str, role: str, *, delete: bool = False
) -> None:
    params: dict[str, Any] = {"path": path, "roles": role, f"{kind}s": ugid}
    if delete:
        params["delete"] = 1
    admin.session.request("PUT", "/access/acl", params)


def make_auditor_token(
    lab: ConnectionSettings, admin: ConnectionSettings, box: SecretBox
) -> AuditorOutcome:
    """``ensure_auditor_token`` with a client on ``admin`` (closed at the end)."""
    with PveClient(admin) as client:
        return ensure_auditor_token(client, box, lab)
