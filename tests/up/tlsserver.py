"""A tiny HTTPS API server on loopback for the client tests: a certificate signed by the lab CA
for the SANs of a control-plane endpoint, client certificates required and chained to that CA.

Routes are a dict ``path -> (status, JSON body)``; anything else is 404 with a Status body.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from homelab.core.cluster import ClusterSecrets


def server_cert(secrets: ClusterSecrets, ips: list[str]) -> tuple[str, str]:
    """(cert PEM, key PEM) for kube-apiserver, signed by the lab CA, SANs = ``ips``."""
    ca_cert = x509.load_pem_x509_certificate(secrets.ca_cert.encode())
    ca_key = serialization.load_pem_private_key(secrets.ca_key.reveal().encode(), None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    sans = [x509.IPAddress(IPv4Address(ip)) for ip in ips] + [x509.DNSName("kubernetes")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


@dataclass
class FakeApi:
    url: str
    routes: dict[str, tuple[int, Any]]
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, client CN


@contextmanager
def serve_api(secrets: ClusterSecrets, sans: list[str]) -> Iterator[FakeApi]:
    cert_pem, key_pem = server_cert(secrets, sans)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "c.pem").write_text(cert_pem)
        (Path(tmp) / "k.pem").write_text(key_pem)
        context.load_cert_chain(Path(tmp) / "c.pem", Path(tmp) / "k.pem")
    context.load_verify_locations(cadata=secrets.ca_cert)
    context.verify_mode = ssl.CERT_REQUIRED
    api = FakeApi(url="", routes={})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = (
                self.connection.getpeercert()
                if isinstance(self.connection, ssl.SSLSocket)
                else None
            )
            cn = ""
            for rdn in (peer or {}).get("subject", ()):
                for pair in rdn:
                    if pair[0] == "commonName":
                        cn = str(pair[1])
            path = self.path.split("?", 1)[0]
            api.seen.append(("GET", path, cn))
            status, body = api.routes.get(
                path, (404, {"kind": "Status", "code": 404, "message": f"{path} not found"})
            )
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    api.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
