"""Who is calling, and may they: API tokens, tickets + CSRF tokens, and permission checks.

Tokens: ``Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`` (or a space for the first
``=``). Tickets: ``PVE:<user>:<HEX TIME>::<signature>`` sent as cookie ``PVEAuthCookie`` (the
cookie wins over a token), with ``CSRFPreventionToken`` required on writes. The simulator signs
tickets with an HMAC key instead of PVE's RSA key: the format and lifetime (2 h, real time, so
proxmoxer's renewal logic behaves as against PVE) are what clients see.

Permissions follow the schema's ``permissions.check`` expressions (``perm``/``and``/``or``) over
ACLs with propagation; ``root@pam`` has every privilege; a privilege-separated token has its own
ACL only (the intersection with root's is the token's).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from homelab_sim.pve.state import TokenDef
from homelab_sim.secret import Secret

ROOT = "root@pam"
TICKET_LIFETIME = 7200.0
TICKET_SKEW = 300.0
_TOKEN_RE = re.compile(
    r"^(?P<tokenid>[^!=\s]+@[^!=\s]+![A-Za-z][A-Za-z0-9._-]*)[= ](?P<secret>\S+)$"
)


@dataclass(frozen=True)
class Identity:
    """An authenticated caller. ``via`` is "token" or "ticket"."""

    userid: str
    via: str
    tokenid: str | None = None

    @property
    def task_user(self) -> str:
        """The user field of UPIDs: the token id for token calls."""
        return self.tokenid or self.userid


class AuthFailure(Exception):
    """401 with an empty body; the message is the reason phrase."""


class Authenticator:
    """Token secrets, the root password and the ticket key; verifies credentials."""

    def __init__(
        self,
        tokens: Mapping[str, TokenDef],
        token_secrets: Mapping[str, Secret],
        password: Secret | None,
        ticket_key: Secret,
    ) -> None:
        self._tokens = tokens
        self._secrets = dict(token_secrets)
        self._password = password
        self._key = ticket_key.reveal().encode()

    def add_secret(self, tokenid: str, secret: Secret) -> None:
        self._secrets[tokenid] = secret

    def secrets(self) -> dict[str, Secret]:
        return dict(self._secrets)

    def identify(self, headers: Mapping[str, str]) -> Identity | None:
        """The caller, None if no credentials were sent; AuthFailure if they are wrong."""
        ticket = _cookie(headers.get("cookie", ""), "PVEAuthCookie")
        auth = headers.get("authorization", "")
        if ticket is None and auth.startswith("PVEAuthCookie="):
            ticket = unquote(auth.split("=", 1)[1])
        if ticket is not None:
            userid = self.verify_ticket(ticket)
            if userid is None:
                raise AuthFailure("Authentication failed!")
            return Identity(userid=userid, via="ticket")
        if auth.startswith("PVEAPIToken"):
            return self._identify_token(unquote(auth[len("PVEAPIToken") :].lstrip("=").strip()))
        return None

    def _identify_token(self, value: str) -> Identity:
        head, sep, secret = value.rpartition("=")
        if not sep:
            head, _, secret = value.partition(" ")
        match = _TOKEN_RE.match(f"{head}={secret}")
        known = self._secrets.get(head) if match else None
        if known is None or head not in self._tokens:
            raise AuthFailure("Authentication failed!")
        if not hmac.compare_digest(known.reveal().encode(), secret.encode()):
            raise AuthFailure("Authentication failed!")
        return Identity(userid=head.split("!", 1)[0], via="token", tokenid=head)

    def login(self, username: str, password: str) -> str | None:
        """The userid for a correct password (or a still-valid ticket as password)."""
        if username != ROOT:
            return None
        if password.startswith("PVE:"):
            return self.verify_ticket(password)
        if self._password is None:
            return None
        ok = hmac.compare_digest(self._password.reveal().encode(), password.encode())
        return ROOT if ok else None

    def create_ticket(self, userid: str) -> tuple[str, str]:
        """(ticket, CSRFPreventionToken) for ``userid``, stamped now."""
        stamp = f"{int(time.time()):08X}"
        plain = f"PVE:{userid.replace(':', '%3A')}:{stamp}"
        return f"{plain}::{self._sign(plain)}", f"{stamp}:{self._sign(f'{stamp}:{userid}')}"

    def verify_ticket(self, ticket: str) -> str | None:
        plain, sep, signature = ticket.partition("::")
        parts = plain.split(":")
        if not sep or len(parts) != 3 or parts[0] != "PVE":
            return None
        if not hmac.compare_digest(self._sign(plain), signature):
            return None
        age = time.time() - int(parts[2], 16)
        if age > TICKET_LIFETIME or age < -TICKET_SKEW:
            return None
        return parts[1].replace("%3A", ":")

    def verify_csrf(self, token: str, userid: str) -> bool:
        stamp, sep, signature = token.partition(":")
        if not sep or not re.fullmatch(r"[0-9A-F]{8}", stamp):
            return False
        if not hmac.compare_digest(self._sign(f"{stamp}:{userid}"), signature):
            return False
        age = time.time() - int(stamp, 16)
        return -TICKET_SKEW <= age <= TICKET_LIFETIME

    def _sign(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode().rstrip("=")


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return unquote(value)
    return None


def new_secret() -> Secret:
    """A token secret in PVE's form (a UUID)."""
    raw = secrets.token_hex(16)
    return Secret(f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}")


class Permissions:
    """Evaluates privileges and schema permission expressions for an identity."""

    def __init__(self, tokens: Mapping[str, TokenDef]) -> None:
        self._tokens = tokens

    def has(self, ident: Identity, path: str, priv: str) -> bool:
        if ident.tokenid is None:
            return ident.userid == ROOT
        token = self._tokens.get(ident.tokenid)
        if token is None:
            return False
        if not token.privsep:
            return ident.userid == ROOT
        return any(
            priv in privs and _covers(acl_path, path) for acl_path, privs in token.acl.items()
        )

    def privileges(self, ident: Identity, path: str, known: Sequence[str]) -> dict[str, int]:
        return {priv: 1 for priv in known if self.has(ident, path, priv)}

    def check(
        self, ident: Identity, permissions: Mapping[str, Any] | None, params: Mapping[str, Any]
    ) -> str | None:
        """None if allowed, else the 403 message."""
        permissions = permissions or {}
        if permissions.get("user") in {"all", "world"}:
            return None
        expr = permissions.get("check")
        if expr is None:
            return None if self.has(ident, "/", "Sys.Modify") and ident.userid == ROOT else _DENY
        ok, detail = self._evaluate(ident, expr, params)
        if ok:
            return None
        return f"{_DENY} ({detail})" if detail else _DENY

    def _evaluate(
        self, ident: Identity, expr: Sequence[Any], params: Mapping[str, Any]
    ) -> tuple[bool, str | None]:
        op = expr[0]
        if op == "perm":
            return self._perm(ident, expr, params)
        if op in {"and", "or"}:
            results = [self._evaluate(ident, sub, params) for sub in expr[1:]]
            if op == "and":
                failed = next((r for r in results if not r[0]), None)
                return (True, None) if failed is None else failed
            return (True, None) if any(r[0] for r in results) else (False, None)
        # userid-param, userid-group and friends: only root passes them in the simulator
        return ident.userid == ROOT and ident.tokenid is None, None

    def _perm(
        self, ident: Identity, expr: Sequence[Any], params: Mapping[str, Any]
    ) -> tuple[bool, str | None]:
        path = re.sub(r"\{(\w+)\}", lambda m: str(params.get(m.group(1), "")), expr[1])
        privs: list[str] = list(expr[2])
        opts = dict(zip(expr[3::2], expr[4::2], strict=False))
        if "require_param" in opts and opts["require_param"] not in params:
            return False, None
        if opts.get("any"):
            ok = any(self.has(ident, path, p) for p in privs)
            return ok, None if ok else f"{path}, {'|'.join(privs)}"
        missing = next((p for p in privs if not self.has(ident, path, p)), None)
        return missing is None, None if missing is None else f"{path}, {missing}"


_DENY = "Permission check failed"


def _covers(acl_path: str, path: str) -> bool:
    acl = acl_path.rstrip("/") or "/"
    return acl == "/" or path == acl or path.startswith(acl + "/")
