"""How to reach Proxmox VE: endpoint, API token, TLS trust and HTTP timeouts, resolved once.

Values come from the spec's ``proxmox:`` section and from the environment variables bpg's
Terraform provider uses, so existing setups work unchanged:

    PROXMOX_VE_ENDPOINT      https://pve.example:8006/   wins over proxmox.endpoint
    PROXMOX_VE_API_TOKEN     user@realm!tokenid=secret   the only place (besides an explicit
                                                         argument) the secret may come from
    PROXMOX_VE_FINGERPRINT   AB:CD:...  (SHA-256)        wins over proxmox.fingerprint
    PROXMOX_VE_CA_BUNDLE     /path/ca.pem                wins over proxmox.ca_bundle

The token id in the environment must agree with the spec's ``token_id`` (the spec says which
identity the lab is built with; a different token would have different permissions). The secret
is held in a Secret and never appears in a message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from homelab.core.secret import Secret
from homelab.core.spec.models import FINGERPRINT_RE, TOKEN_ID_RE, ProxmoxSpec
from homelab.errors import ProxmoxError

__all__ = [
    "ENV_CA_BUNDLE",
    "ENV_ENDPOINT",
    "ENV_FINGERPRINT",
    "ENV_TOKEN",
    "ConnectionSettings",
    "normalize_fingerprint",
    "parse_token",
    "resolve_settings",
]

ENV_ENDPOINT = "PROXMOX_VE_ENDPOINT"
ENV_TOKEN = "PROXMOX_VE_API_TOKEN"  # noqa: S105  (a variable name, not a password)
ENV_FINGERPRINT = "PROXMOX_VE_FINGERPRINT"
ENV_CA_BUNDLE = "PROXMOX_VE_CA_BUNDLE"

DEFAULT_PORT = 8006
TOKEN_FORMAT = "user@realm!tokenid=secret"  # noqa: S105  (a format, not a password)


class SettingsError(ProxmoxError):
    """The connection settings are missing or malformed."""

    transient = False
    before_effect = True


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to open a connection to one Proxmox VE API.

    ``http_timeout`` bounds one HTTP request (connect, each read, each write); how long a task
    may run is a separate, per-call timeout (``PveClient.wait_task``).
    """

    endpoint: str
    token_id: str
    token_secret: Secret
    fingerprint: str | None = None
    ca_bundle: Path | None = None
    http_timeout: float = 30.0
    connect_timeout: float = 10.0

    @property
    def base_url(self) -> str:
        return f"{self.endpoint}/api2/json"

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).netloc

    def authorization(self) -> str:
        """The Authorization header value. It contains the secret: send it, never print it."""
        return f"PVEAPIToken={self.token_id}={self.token_secret.reveal()}"

    def __repr__(self) -> str:
        return (
            f"ConnectionSettings(endpoint={self.endpoint!r}, token_id={self.token_id!r}, "
            f"token_secret=***, fingerprint={self.fingerprint!r}, ca_bundle={self.ca_bundle!r})"
        )


def resolve_settings(
    spec: ProxmoxSpec | None = None,
    env: Mapping[str, str] | None = None,
    *,
    token: Secret | None = None,
    base_dir: Path | None = None,
    http_timeout: float = 30.0,
    connect_timeout: float = 10.0,
) -> ConnectionSettings:
    """Settings from ``spec`` and ``env`` (os.environ by default); ``token`` overrides the env.

    A relative ``proxmox.ca_bundle`` is taken relative to ``base_dir`` (the spec's folder).
    """
    if env is None:
        env = os.environ
    endpoint = normalize_endpoint(_pick(env, ENV_ENDPOINT, spec.endpoint if spec else None))
    token_id, secret = _resolve_token(env, token, spec.token_id if spec else None)
    raw_pin = _pick(env, ENV_FINGERPRINT, spec.fingerprint if spec else None)
    bundle = _resolve_bundle(env, spec.ca_bundle if spec else None, base_dir)
    return ConnectionSettings(
        endpoint=endpoint,
        token_id=token_id,
        token_secret=secret,
        fingerprint=normalize_fingerprint(raw_pin) if raw_pin else None,
        ca_bundle=bundle,
        http_timeout=http_timeout,
        connect_timeout=connect_timeout,
    )


def _pick(env: Mapping[str, str], name: str, fallback: str | None) -> str | None:
    value = env.get(name, "").strip()
    return value or fallback


def _resolve_bundle(
    env: Mapping[str, str], from_spec: str | None, base_dir: Path | None
) -> Path | None:
    from_env = env.get(ENV_CA_BUNDLE, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    if not from_spec:
        return None
    path = Path(from_spec).expanduser()
    return path if path.is_absolute() or base_dir is None else base_dir / path


def normalize_endpoint(raw: str | None) -> str:
    """``https://host:port`` from what users write (trailing ``/``, ``/api2/json``, no port)."""
    if not raw:
        raise SettingsError(
            "no Proxmox endpoint: set proxmox.endpoint in the spec or " + ENV_ENDPOINT,
            hint="e.g. PROXMOX_VE_ENDPOINT=https://pve.lan:8006/",
        )
    parts = urlsplit(raw.strip())
    if parts.scheme != "https":
        raise SettingsError(
            f"Proxmox endpoint {raw!r} must start with https:// (TLS is always verified)",
            hint="pin the certificate with proxmox.fingerprint instead of using plain HTTP",
        )
    if not parts.hostname or parts.path.rstrip("/") not in ("", "/api2/json"):
        raise SettingsError(f"Proxmox endpoint {raw!r} is not https://HOST[:PORT][/]")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise SettingsError(f"Proxmox endpoint {raw!r} has an invalid port") from exc
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"https://{host}:{port}"


def parse_token(raw: str) -> tuple[str, Secret]:
    """Split ``user@realm!tokenid=secret``. Errors never repeat the value (it is a secret)."""
    token_id, sep, secret = raw.strip().partition("=")
    if not sep or not secret:
        raise SettingsError(
            f"{ENV_TOKEN} is malformed: expected {TOKEN_FORMAT} (value not shown)",
            hint="in Proxmox: Datacenter > Permissions > API Tokens; the secret is shown once",
        )
    if not re.match(TOKEN_ID_RE, token_id):
        raise SettingsError(
            f"{ENV_TOKEN} is malformed: the part before '=' must be a token id like "
            "root@pam!homelab (value not shown)",
            hint=f"expected {TOKEN_FORMAT}",
        )
    return token_id, Secret(secret)


def _resolve_token(
    env: Mapping[str, str], token: Secret | None, spec_token_id: str | None
) -> tuple[str, Secret]:
    raw = token.reveal() if token else env.get(ENV_TOKEN, "")
    source = "the token given" if token else ENV_TOKEN
    if not raw.strip():
        raise SettingsError(
            f"no Proxmox API token: set {ENV_TOKEN}={TOKEN_FORMAT}",
            hint="the secret is never read from the spec file; keep it in the environment",
        )
    token_id, secret = parse_token(raw)
    if spec_token_id and token_id != spec_token_id:
        raise SettingsError(
            f"the token id in {source} is {token_id!r} but the spec's proxmox.token_id is "
            f"{spec_token_id!r}",
            hint="use the token the spec names, or change proxmox.token_id",
        )
    return token_id, secret


def normalize_fingerprint(raw: str) -> str:
    """``AB:CD:...`` (uppercase, colon separated) from a colon or plain 64-hex SHA-256."""
    hexdigits = raw.strip().replace(":", "").replace(" ", "").upper()
    if not re.fullmatch(r"[0-9A-F]{64}", hexdigits):
        raise SettingsError(
            f"certificate fingerprint {raw!r} is not a SHA-256 fingerprint (64 hex digits)",
            hint="on the Proxmox host: openssl x509 -in /etc/pve/local/pve-ssl.pem -noout "
            "-fingerprint -sha256",
        )
    pin = ":".join(hexdigits[i : i + 2] for i in range(0, 64, 2))
    assert re.match(FINGERPRINT_RE, pin)
    return pin
