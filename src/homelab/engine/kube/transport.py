"""TLS to the Kubernetes API: the lab CA as the only trust anchor, the admin client certificate,
and an optional ``tls-server-name``.

The server name matters for the simulator (and for API servers reached through a tunnel or a
port-forward): the API server is reached on a loopback address, but its certificate names the
control-plane endpoint. As with kubectl's ``tls-server-name``, that name is sent as SNI *and*
checked against the certificate; verification is never switched off. httpx lets a request carry
``sni_hostname`` in its extensions, which httpcore uses for both; ``ServerNameTransport`` sets it
on every request.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from pathlib import Path

import httpx

from homelab.engine.kube.kubeconfig import KubeCredentials
from homelab.errors import KubeError

__all__ = ["ServerNameTransport", "build_transport", "ssl_context_for"]


def ssl_context_for(creds: KubeCredentials) -> ssl.SSLContext:
    """Trust only the cluster CA; present the admin client certificate."""
    try:
        context = ssl.create_default_context(cadata=creds.ca_pem)
    except ssl.SSLError as exc:
        raise KubeError("the kubeconfig's cluster CA is not a valid certificate") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ssl can only load a key from a file: a private directory, removed before we return.
    with tempfile.TemporaryDirectory(prefix="homelab-kube-") as tmp:
        cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
        _write_0600(cert, creds.client_cert_pem)
        _write_0600(key, creds.client_key_pem.reveal())
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            raise KubeError("the kubeconfig's client certificate or key is invalid") from exc
    return context


def _write_0600(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)


class ServerNameTransport(httpx.BaseTransport):
    """Delegates to ``inner``, asking it to use ``server_name`` for SNI and verification."""

    def __init__(self, inner: httpx.BaseTransport, server_name: str | None) -> None:
        self._inner = inner
        self._server_name = server_name

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._server_name is not None:
            request.extensions = {**request.extensions, "sni_hostname": self._server_name}
        return self._inner.handle_request(request)

    def __deepcopy__(self, memo: dict[int, object]) -> ServerNameTransport:
        # lightkube passes its connection parameters through dataclasses.asdict, which deep-
        # copies them; a transport (sockets, an SSLContext) is shared, never copied.
        return self

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._inner.close()


def build_transport(creds: KubeCredentials) -> httpx.BaseTransport:
    """The transport every request to this cluster goes through."""
    inner = httpx.HTTPTransport(verify=ssl_context_for(creds), retries=0)
    return ServerNameTransport(inner, creds.tls_server_name)
