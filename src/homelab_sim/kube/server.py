"""A simulated cluster's API server over HTTPS on 127.0.0.1 (a port of its own).

The serving certificate is signed by the cluster CA with the SANs kubeadm gives kube-apiserver
(``kubernetes``, ``kubernetes.default``, ``kubernetes.default.svc``,
``kubernetes.default.svc.<domain>``, the control-plane node names, the first service IP, the
control-plane IPs, the endpoint or VIP, ``127.0.0.1``, plus the spec's certSANs), so clients keep
verification on and name the lab address with ``tls-server-name``. It is re-issued when a control
plane joins (new connections get the new one).

Clients authenticate with a certificate chained to the cluster CA (``ssl.CERT_OPTIONAL``): its
CN is the user and its O entries the groups, as kube-apiserver's x509 authenticator reads them.
A connection without a certificate is anonymous. Python's ``ssl`` verifies a presented
certificate during the handshake, so one from another CA is refused there (a TLS alert) rather
than with kube-apiserver's 401, which the simulator returns for bearer tokens it does not know.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import ipaddress
import socket
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from uvicorn.protocols.http.h11_impl import H11Protocol

from homelab_sim.errors import SimError
from homelab_sim.kube.watch import WatchResponse
from homelab_sim.kube.wire import KubeRequest, KubeResponse, User

if TYPE_CHECKING:
    from homelab_sim.kube.cluster import SimCluster

HOST = "127.0.0.1"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
PeerCerts = dict[tuple[str, int], bytes]


def serving_certificate(
    ca_cert_pem: str, ca_key_pem: str, *, dns: list[str], ips: list[str]
) -> tuple[bytes, bytes]:
    """(cert PEM, key PEM) of a kube-apiserver serving certificate signed by the cluster CA."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), None)
    assert isinstance(ca_key, rsa.RSAPrivateKey), "kubeadm cluster CAs are RSA"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dict.fromkeys(dns)]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in dict.fromkeys(ips)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=365), ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def user_of(der: bytes | None) -> User | None:
    """The user a verified client certificate names (CN user, O groups)."""
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    cn = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    groups = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return User(cn[0] if cn else "", (*groups, "system:authenticated"))


def _protocol_class(peers: PeerCerts, cluster: SimCluster) -> type[H11Protocol]:
    class KubeH11Protocol(H11Protocol):
        """uvicorn's h11 protocol that remembers each connection's client certificate, and
        drops connections while no control plane runs its API server (its static pod
        stopped: a real one refuses them)."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if not cluster.serving() and cluster.node_names():
                transport.abort()
                return
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ssl_object = transport.get_extra_info("ssl_object")
            peer = transport.get_extra_info("peername")
            if ssl_object is not None and peer:
                der = ssl_object.getpeercert(binary_form=True)
                if der:
                    peers[(str(peer[0]), int(peer[1]))] = der

        def connection_lost(self, exc: Exception | None) -> None:
            peer = self.transport.get_extra_info("peername") if self.transport else None
            if peer:
                peers.pop((str(peer[0]), int(peer[1])), None)
            super().connection_lost(exc)

        def shutdown(self) -> None:
            if self.cycle is None or self.cycle.response_complete:
                self.transport.abort()
            else:
                super().shutdown()

    return KubeH11Protocol


class KubeApp:
    """The ASGI callable: authenticate, hand the request to the cluster, answer."""

    def __init__(self, cluster: SimCluster, peers: PeerCerts) -> None:
        self.cluster, self.peers = cluster, peers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        client = scope.get("client") or ("", 0)
        request = KubeRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=bytes(body),
            user=user_of(self.peers.get((str(client[0]), int(client[1])))),
        )
        answer: KubeResponse = await asyncio.to_thread(self.cluster.handle, request)
        if isinstance(answer, WatchResponse):
            await _stream(answer, send)
            return
        headers = [
            (b"content-type", answer.content_type.encode()),
            (b"content-length", str(len(answer.body)).encode()),
            (b"cache-control", b"no-cache, private"),
            # the API server's clock is the virtual one (clients date tokens from it)
            (b"date", email.utils.formatdate(self.cluster.clock.now(), usegmt=True).encode()),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


async def _stream(answer: WatchResponse, send: Send) -> None:
    """Send a watch: chunked (no content-length), each event as its own chunk."""
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-cache, private")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    try:
        while True:
            chunk = await asyncio.to_thread(next, answer.stream, b"")
            if not chunk:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except OSError:
        return


class ApiServer:
    """One cluster's HTTPS server in a background thread."""

    def __init__(self, cluster: SimCluster, port: int = 0) -> None:
        self.cluster = cluster
        self.port = port
        self.url = ""
        self._sans: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._dir = tempfile.TemporaryDirectory(prefix="homelab-kube-")
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def _write_certificate(self) -> None:
        dns, ips = self.cluster.serving_names()
        self._sans = (tuple(dns), tuple(ips))
        config = self.cluster.state.config
        cert, key = serving_certificate(config.ca_cert_pem, config.ca_key_pem, dns=dns, ips=ips)
        workdir = Path(self._dir.name)
        (workdir / "apiserver.crt").write_bytes(cert)
        keyfile = workdir / "apiserver.key"
        keyfile.touch(mode=0o600)
        keyfile.write_bytes(key)
        (workdir / "ca.crt").write_text(config.ca_cert_pem, encoding="ascii")

    def start(self) -> str:
        self._write_certificate()
        workdir = Path(self._dir.name)
        peers: PeerCerts = {}
        config = uvicorn.Config(
            KubeApp(self.cluster, peers),
            http=_protocol_class(peers, self.cluster),
            ssl_certfile=str(workdir / "apiserver.crt"),
            ssl_keyfile=str(workdir / "apiserver.key"),
            ssl_ca_certs=str(workdir / "ca.crt"),
            ssl_cert_reqs=ssl.CERT_OPTIONAL,
            log_level="critical",
            access_log=False,
            server_header=False,
            date_header=False,
            lifespan="off",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=2,
        )
        self._sock = _bind(self.port)
        self.port = self._sock.getsockname()[1]
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"homelab-kube-{self.cluster.name}",
            daemon=True,
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise SimError(f"the Kubernetes API of {self.cluster.name} failed to start")
            self._thread.join(0.01)
        self.url = f"https://{HOST}:{self._sock.getsockname()[1]}"
        return self.url

    def refresh_certificate(self) -> None:
        """Re-issue the serving certificate if the control planes changed."""
        dns, ips = self.cluster.serving_names()
        if (tuple(dns), tuple(ips)) == self._sans or self._server is None:
            return
        self._write_certificate()
        context = self._server.config.ssl
        if context is not None:
            workdir = Path(self._dir.name)
            context.load_cert_chain(str(workdir / "apiserver.crt"), str(workdir / "apiserver.key"))

    def stop(self) -> None:
        self.cluster.state.store.release_watchers()  # else a watch's thread outlives the server
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(OSError):
            self._dir.cleanup()


def _bind(port: int = 0) -> socket.socket:
    """A listening socket on ``port`` (the one this cluster had before, so kubeconfigs stay
    valid across restarts), or on a free port when that one is taken or none was given."""
    for candidate in dict.fromkeys((port, 0)):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, candidate))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            if candidate:
                continue
            raise SimError(
                f"the simulated Kubernetes API cannot listen on {HOST}: {exc.strerror}"
            ) from exc
        return sock
    raise SimError(f"the simulated Kubernetes API cannot listen on {HOST}")  # pragma: no cover
