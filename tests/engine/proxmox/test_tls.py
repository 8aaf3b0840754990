"""TLS trust against a real HTTPS server on 127.0.0.1: pinning, CA bundles, the system store."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from homelab.core.secret import Secret
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ConnectionSettings
from homelab.engine.proxmox.errors import FingerprintMismatch, TlsError
from homelab.engine.proxmox.retry import RetryPolicy
from homelab.engine.proxmox.tls import fingerprint_of

from .scripted import SECRET, TOKEN_ID


@dataclass(frozen=True)
class Pki:
    ca_pem: Path
    other_ca_pem: Path
    chain_pem: Path
    key_pem: Path
    leaf_fingerprint: str


def make_cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Like Proxmox: a cluster CA (pve-root-ca) signing the node certificate (pve-ssl)."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, other_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = make_cert("Proxmox Virtual Environment", ca_key, None, ca=True)
    other = make_cert("Someone Else", other_key, None, ca=True)
    leaf = make_cert("pve1.lab", leaf_key, ("Proxmox Virtual Environment", ca_key), ca=False)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "other.pem").write_bytes(other.public_bytes(pem))
    (folder / "chain.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (folder / "key.pem").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Pki(
        folder / "ca.pem",
        folder / "other.pem",
        folder / "chain.pem",
        folder / "key.pem",
        fingerprint_of(leaf.public_bytes(serialization.Encoding.DER)),
    )


class PveHandler(BaseHTTPRequestHandler):
    seen_auth: list[str] = []

    def do_GET(self) -> None:
        PveHandler.seen_auth.append(self.headers.get("Authorization", ""))
        vm = {"type": "qemu", "vmid": 201, "node": "pve1", "name": "k8s-master-1"}
        body = json.dumps({"data": [vm]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def server(pki: Pki) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.chain_pem, pki.key_pem)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), PveHandler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def connect(endpoint: str, **tls: object) -> PveClient:
    settings = ConnectionSettings(endpoint=endpoint, token_id=TOKEN_ID, token_secret=Secret(SECRET))
    return PveClient(replace(settings, **tls), retry=RetryPolicy(attempts=1))  # type: ignore[arg-type]


def test_right_pin_connects(server: str, pki: Pki) -> None:
    with connect(server, fingerprint=pki.leaf_fingerprint) as client:
        assert [vm.name for vm in client.cluster_vms()] == ["k8s-master-1"]
    assert PveHandler.seen_auth[-1] == f"PVEAPIToken={TOKEN_ID}={SECRET}"


def test_wrong_pin_refuses_before_sending_anything(server: str, pki: Pki) -> None:
    wrong = ":".join(["AB"] * 32)
    before = len(PveHandler.seen_auth)
    with connect(server, fingerprint=wrong) as client, pytest.raises(FingerprintMismatch) as caught:
        client.cluster_vms()
    error = caught.value
    assert wrong in error.message and pki.leaf_fingerprint in error.message
    assert error.hint is not None and "PROXMOX_VE_FINGERPRINT" in error.hint
    assert len(PveHandler.seen_auth) == before, "the token must not reach an unpinned server"
    assert SECRET not in error.message


def test_pinning_the_ca_does_not_trust_the_leaf_it_signed(server: str, pki: Pki) -> None:
    ca = x509.load_pem_x509_certificate(pki.ca_pem.read_bytes())
    ca_pin = fingerprint_of(ca.public_bytes(serialization.Encoding.DER))
    with connect(server, fingerprint=ca_pin) as client, pytest.raises(FingerprintMismatch):
        client.cluster_vms()


def test_ca_bundle_connects(server: str, pki: Pki) -> None:
    with connect(server, ca_bundle=pki.ca_pem) as client:
        assert [vm.vmid for vm in client.cluster_vms()] == [201]


def test_wrong_ca_bundle_refuses(server: str, pki: Pki) -> None:
    with connect(server, ca_bundle=pki.other_ca_pem) as client, pytest.raises(TlsError) as caught:
        client.cluster_vms()
    assert "not trusted by the CA bundle" in caught.value.message


def test_unreadable_ca_bundle_is_a_clear_error(server: str, tmp_path: Path) -> None:
    with (
        connect(server, ca_bundle=tmp_path / "missing.pem") as client,
        pytest.raises(TlsError) as caught,
    ):
        client.cluster_vms()
    assert "missing.pem" in caught.value.message


def test_system_store_refuses_the_proxmox_ca_and_hints_at_pinning(server: str) -> None:
    with connect(server) as client, pytest.raises(TlsError) as caught:
        client.cluster_vms()
    error = caught.value
    assert not isinstance(error, FingerprintMismatch)
    assert "not trusted by the system store" in error.message
    assert error.hint is not None and "fingerprint" in error.hint
