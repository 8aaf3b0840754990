"""TLS trust for the Proxmox API: a pinned certificate fingerprint, a CA bundle, or system CAs.

Verification is never switched off. Three modes, chosen from ConnectionSettings:

* **Pinned fingerprint** (Proxmox's default self-signed/cluster-CA certificate). The pin is
  checked on *every* TLS handshake: the context's socket class compares the SHA-256 of the
  peer's DER certificate with the pin (``hmac.compare_digest``) inside ``do_handshake``, before
  httpx writes a single byte of the request, so the token header never reaches a server that
  is not the pinned one. We chose this over "fetch the certificate once, then load it as the
  only trust anchor" because (1) it needs no extra unverified connection before the first
  request, (2) every connection, including reconnects after keep-alive drops, reports a
  mismatch naming both fingerprints, and (3) a pinned certificate that happens to be a CA
  cannot vouch for other certificates: only the exact certificate is accepted. Chain and
  hostname checks are not used in this mode because the pin is strictly narrower than both;
  the certificate's identity *is* the pin (as with SSH host keys).
* **CA bundle**: the bundle is the only trust store; chain and hostname are verified.
* **Neither**: the system trust store with full verification; when that fails, the error
  suggests pinning the fingerprint.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl

from homelab.engine.proxmox.config import ConnectionSettings
from homelab.engine.proxmox.errors import FingerprintMismatch, TlsError

__all__ = ["PinMismatch", "build_ssl_context", "fingerprint_of", "pinned_context", "tls_error_from"]

#: SSL errors that mean the connection dropped, not that trust failed (transport errors).
CONNECTION_LOST = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)
FINGERPRINT_HINT = (
    "Proxmox VE uses its own certificate authority by default: pin the certificate's "
    "SHA-256 fingerprint in proxmox.fingerprint or PROXMOX_VE_FINGERPRINT (web UI: node > "
    "System > Certificates; or on the host: openssl x509 -in /etc/pve/local/pve-ssl.pem "
    "-noout -fingerprint -sha256), or give the CA in proxmox.ca_bundle"
)


def fingerprint_of(der: bytes) -> str:
    """The ``AB:CD:...`` SHA-256 fingerprint of a DER certificate."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


class PinMismatch(ssl.SSLCertVerificationError):
    """Raised inside the handshake; turned into FingerprintMismatch by ``tls_error_from``."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"certificate fingerprint {actual} is not the pinned {expected}")
        self.expected = expected
        self.actual = actual


class _PinnedSocket(ssl.SSLSocket):
    """An SSLSocket that accepts exactly one certificate, identified by its SHA-256."""

    pin: str = ""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        der = self.getpeercert(binary_form=True) or b""
        actual = fingerprint_of(der)
        if not hmac.compare_digest(actual.encode(), self.pin.encode()):
            raise PinMismatch(self.pin, actual)


def build_ssl_context(settings: ConnectionSettings) -> ssl.SSLContext:
    """The SSLContext for ``settings``: pin, else CA bundle, else the system store."""
    if settings.fingerprint:
        return pinned_context(settings.fingerprint)
    if settings.ca_bundle is not None:
        try:
            context = ssl.create_default_context(cafile=str(settings.ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(
                f"cannot load the CA bundle {settings.ca_bundle}: {exc}",
                hint="proxmox.ca_bundle / PROXMOX_VE_CA_BUNDLE must name a readable PEM file",
            ) from exc
        return _harden(context)
    return _harden(ssl.create_default_context())


def pinned_context(pin: str) -> ssl.SSLContext:
    """A context that accepts exactly the certificate whose SHA-256 is ``pin`` (any API that
    pins one: Proxmox VE, OPNsense), checked inside every handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The pin check in _PinnedSocket.do_handshake replaces chain and hostname verification.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.sslsocket_class = type("PinnedSocket", (_PinnedSocket,), {"pin": pin})
    return _harden(context)


def _harden(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def tls_error_from(exc: BaseException, settings: ConnectionSettings) -> TlsError | None:
    """The TlsError hidden in an exception chain (httpx wraps httpcore wraps ssl), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PinMismatch):
            return FingerprintMismatch(current.expected, current.actual, host=settings.host)
        if isinstance(current, ssl.SSLCertVerificationError):
            return _untrusted(current, settings)
        if isinstance(current, ssl.SSLError) and not isinstance(current, CONNECTION_LOST):
            return TlsError(f"TLS handshake with {settings.host} failed: {current.reason}")
        current = current.__cause__ or current.__context__
    return None


def _untrusted(exc: ssl.SSLCertVerificationError, settings: ConnectionSettings) -> TlsError:
    reason = exc.verify_message or exc.reason or str(exc)
    hint = None if settings.ca_bundle is not None else FINGERPRINT_HINT
    where = f"the CA bundle {settings.ca_bundle}" if settings.ca_bundle else "the system store"
    return TlsError(
        f"TLS: the certificate of {settings.host} is not trusted by {where} ({reason}); "
        "refusing to connect",
        hint=hint,
    )
