"""How to reach OPNsense: endpoint, API key and secret, TLS trust; resolved once per command.

The key id is in the spec (``opnsense.key``); the secret only in the environment
(``HOMELAB_OPNSENSE_SECRET``) and it leaves this process only in the Authorization header.
``HOMELAB_OPNSENSE_FINGERPRINT`` / ``HOMELAB_OPNSENSE_CA_BUNDLE`` override the spec's trust.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from homelab.core.secret import Secret
from homelab.core.spec.opnsense import ENV_SECRET, OpnsenseSpec
from homelab.engine.opnsense.errors import OpnsenseSettingsError

ENV_FINGERPRINT = "HOMELAB_OPNSENSE_FINGERPRINT"
ENV_CA_BUNDLE = "HOMELAB_OPNSENSE_CA_BUNDLE"


@dataclass(frozen=True)
class FirewallSettings:
    endpoint: str  # https://host[:port]
    key: str
    secret: Secret
    fingerprint: str | None = None
    ca_bundle: Path | None = None
    timeout: float = 30.0

    @property
    def host(self) -> str:
        return self.endpoint.removeprefix("https://").split(":")[0]

    def authorization(self) -> str:
        """The Basic header value. It holds the secret: send it, never print it."""
        token = base64.b64encode(f"{self.key}:{self.secret.reveal()}".encode()).decode()
        return f"Basic {token}"

    def __repr__(self) -> str:
        return f"FirewallSettings(endpoint={self.endpoint!r}, key={self.key!r}, secret=***)"


def resolve(
    spec: OpnsenseSpec, env: Mapping[str, str] | None = None, *, base_dir: Path | None = None
) -> FirewallSettings:
    """Settings from the spec's section and the environment (os.environ by default)."""
    env = os.environ if env is None else env
    secret = env.get(ENV_SECRET, "").strip()
    if not secret:
        raise OpnsenseSettingsError(
            f"no OPNsense API secret: set {ENV_SECRET}",
            hint="System > Access > Users > API keys gives a key/secret pair; the key id goes "
            "in opnsense.key, the secret only in the environment",
        )
    fingerprint = env.get(ENV_FINGERPRINT, "").strip() or spec.fingerprint
    bundle_text = env.get(ENV_CA_BUNDLE, "").strip() or spec.ca_bundle
    bundle = None
    if bundle_text:
        bundle = Path(bundle_text).expanduser()
        if not bundle.is_absolute() and base_dir is not None:
            bundle = base_dir / bundle
    return FirewallSettings(
        endpoint=spec.endpoint.rstrip("/"),
        key=spec.key,
        secret=Secret(secret),
        fingerprint=fingerprint.upper() if fingerprint else None,
        ca_bundle=bundle,
    )
