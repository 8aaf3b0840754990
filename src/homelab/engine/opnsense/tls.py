"""TLS trust for the OPNsense API: a pinned SHA-256 fingerprint, a CA bundle, or system CAs.

Verification is never off. As for Proxmox (engine/proxmox/tls.py), a pin is checked inside
every handshake, before the Authorization header is written, and accepts exactly one
certificate; a CA bundle is the only trust store with hostname checks.
"""

from __future__ import annotations

import ssl

from homelab.engine.opnsense.errors import OpnsenseSettingsError, OpnsenseTlsError
from homelab.engine.opnsense.settings import FirewallSettings
from homelab.engine.proxmox.tls import PinMismatch, pinned_context

HINT = (
    "OPNsense's web GUI certificate is self-signed by default: pin its SHA-256 fingerprint in "
    "opnsense.fingerprint (System > Trust > Certificates, or on the console: openssl x509 -in "
    "/var/etc/cert.pem -noout -fingerprint -sha256), or give the CA in opnsense.ca_bundle"
)


def ssl_context(settings: FirewallSettings) -> ssl.SSLContext:
    """The SSLContext for ``settings``: pin, else CA bundle, else the system store."""
    if settings.fingerprint:  # the pin replaces chain and name checks
        return pinned_context(settings.fingerprint)
    if settings.ca_bundle is not None:
        try:
            context = ssl.create_default_context(cafile=str(settings.ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise OpnsenseSettingsError(
                f"cannot load the CA bundle {settings.ca_bundle}: {exc}",
                hint="opnsense.ca_bundle must name a readable PEM file",
            ) from exc
    else:
        context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def tls_error(exc: BaseException, settings: FirewallSettings) -> OpnsenseTlsError | None:
    """The trust failure hidden in an exception chain (httpx wraps httpcore wraps ssl)."""
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PinMismatch):
            return OpnsenseTlsError(
                f"TLS: the certificate of {settings.host} is {current.actual}, not the pinned "
                f"{current.expected}; refusing to connect"
            )
        if isinstance(current, ssl.SSLCertVerificationError):
            reason = current.verify_message or current.reason or str(current)
            return OpnsenseTlsError(
                f"TLS: the certificate of {settings.host} is not trusted ({reason}); "
                "refusing to connect",
                hint=None if settings.ca_bundle else HINT,
            )
        current = current.__cause__ or current.__context__
    return None
