"""Who is calling: API tokens, tickets + CSRF tokens (permissions.py says what they may do).

Tokens: ``Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`` (or a space for the first
``=``). Tickets: ``PVE:<user>:<HEX TIME>::<signature>`` sent as cookie ``PVEAuthCookie`` (the
cookie wins over a token), with ``CSRFPreventionToken`` required on writes. The simulator signs
tickets with an HMAC key instead of PVE's RSA key: the format and lifetime (2 h, real time, so
proxmoxer's renewal logic behaves as against PVE) are what clients see.

A token authenticates while it exists, has not expired (``expire``, epoch seconds, 0 = never)
and its user exists, is enabled and has not expired (AccessControl::verify_token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from homelab_sim.pve.state import ClusterState
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
        state: ClusterState,
        token_secrets: Mapping[str, Secret],
        password: Secret | None,
        ticket_key: Secret,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._now = now
        self._secrets = dict(token_secrets)
        self._password = password
        self._key = ticket_key.reveal().encode()

    def add_secret(self, tokenid: str, secret: Secret) -> None:
        self._secrets[tokenid] = secret

    def drop_secret(self, tokenid: str) -> None:
        self._secrets.pop(tokenid, None)

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
        if known is None or not self._token_valid(head):
            raise AuthFailure("Authentication failed!")
        if not hmac.compare_digest(known.reveal().encode(), secret.encode()):
            raise AuthFailure("Authentication failed!")
        return Identity(userid=head.split("!", 1)[0], via="token", tokenid=head)

    def _token_valid(self, tokenid: str) -> bool:
        token = self._state.tokens.get(tokenid)
        user = self._state.users.get(tokenid.split("!", 1)[0])
        if token is None or user is None or not user.enable:
            return False
        now = self._now()
        return not any(0 < expire < now for expire in (token.expire, user.expire))

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
