"""The certificate a TLS server of the lab presents (e.g. the API server's), verified.

Used to tell when the API server's serving certificate expires. The handshake trusts only the
given CA (the lab's cluster CA) and checks the certificate against ``server_name`` (the
control-plane endpoint, when the URL's host is a loopback address the simulator maps it to),
exactly as the Kubernetes client does: verification is never switched off, so a certificate the
lab did not sign is an error, not a number.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from urllib.parse import urlsplit

from cryptography import x509

from homelab.errors import KubeError

__all__ = ["not_after", "server_certificate"]


def server_certificate(
    url: str, *, ca_pem: str, server_name: str | None = None, timeout: float = 5.0
) -> x509.Certificate:
    """The leaf certificate of the TLS server at ``url`` (``https://host:port``), verified."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 443
    if parts.scheme != "https" or not host:
        raise KubeError(f"not an https URL: {url}")
    name = server_name or host
    try:
        context = ssl.create_default_context(cadata=ca_pem)
    except ssl.SSLError as exc:
        raise KubeError("the lab's cluster CA is not a valid certificate") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        raise KubeError(
            f"the certificate of {name} at {host}:{port} does not verify: {exc.verify_message}"
        ) from exc
    except (OSError, ssl.SSLError) as exc:
        raise KubeError(f"no TLS handshake with {host}:{port}: {exc}") from exc
    if der is None:  # pragma: no cover - a verified handshake always has a peer certificate
        raise KubeError(f"{host}:{port} presented no certificate")
    return x509.load_der_x509_certificate(der)


def not_after(pem: str) -> dt.datetime:
    """When the PEM certificate ``pem`` expires (UTC)."""
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii")).not_valid_after_utc
    except ValueError as exc:
        raise KubeError(f"not a PEM certificate: {exc}") from exc
