"""The generated PKI looks like kubeadm's, survives the store, and mints working kubeconfigs."""

from __future__ import annotations

import base64
import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from homelab.core.cluster import ClusterSecrets
from homelab.engine.pki import generate_cluster_secrets, mint_admin_kubeconfig
from homelab.errors import ClusterSecretsError


@pytest.fixture(scope="module")
def fresh() -> ClusterSecrets:
    return generate_cluster_secrets("pki-test")


def load_cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def public_der(key: object) -> bytes:
    assert isinstance(key, rsa.RSAPublicKey)
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    ("cert_field", "key_field", "common_name"),
    [
        ("ca_cert", "ca_key", "kubernetes"),
        ("etcd_ca_cert", "etcd_ca_key", "etcd-ca"),
        ("front_proxy_ca_cert", "front_proxy_ca_key", "front-proxy-ca"),
    ],
)
def test_cas_are_kubeadm_style(
    fresh: ClusterSecrets, cert_field: str, key_field: str, common_name: str
) -> None:
    cert = load_cert(getattr(fresh, cert_field))
    key = serialization.load_pem_private_key(getattr(fresh, key_field).reveal().encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert public_der(key.public_key()) == public_der(cert.public_key())
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign and usage.value.digital_signature
    assert usage.value.key_encipherment
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=3649) < lifetime < dt.timedelta(days=3651)
    cert.verify_directly_issued_by(cert)


def test_sa_key_pair_matches_and_token_has_kubeadm_format(fresh: ClusterSecrets) -> None:
    private = serialization.load_pem_private_key(fresh.sa_key.reveal().encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    public = serialization.load_pem_public_key(fresh.sa_pub.encode())
    assert public_der(private.public_key()) == public_der(public)
    assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", fresh.bootstrap_token().reveal())
    other = generate_cluster_secrets("pki-test")
    assert other.bootstrap_token() != fresh.bootstrap_token()
    assert other.ca_cert != fresh.ca_cert


def test_json_round_trip_for_the_state_store(fresh: ClusterSecrets) -> None:
    data = fresh.to_json()
    assert ClusterSecrets.from_json(data) == fresh
    assert data == ClusterSecrets.from_json(data).to_json()


@pytest.mark.parametrize(
    "blob",
    [b"\xff\xfe", b"not json", b"[]", b'{"format": 99}', b'{"format": 1, "lab": "x"}'],
)
def test_from_json_rejects_what_it_cannot_trust(blob: bytes) -> None:
    with pytest.raises(ClusterSecretsError):
        ClusterSecrets.from_json(blob)


def test_from_json_rejects_a_malformed_token(fresh: ClusterSecrets) -> None:
    data = fresh.to_json().replace(fresh.bootstrap_token_id.encode(), b"BAD!!!")
    with pytest.raises(ClusterSecretsError, match="token id"):
        ClusterSecrets.from_json(data)


def decode_kubeconfig(text: str) -> tuple[dict[str, object], x509.Certificate, object]:
    doc = yaml.safe_load(text)
    user = doc["users"][0]["user"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    key = serialization.load_pem_private_key(base64.b64decode(user["client-key-data"]), None)
    return doc, cert, key


def test_admin_kubeconfig_chains_to_the_ca(fresh: ClusterSecrets, tmp_path: Path) -> None:
    text = mint_admin_kubeconfig(
        fresh, cluster="pki-test", server="https://127.0.0.1:6443", tls_server_name="10.0.20.9"
    )
    doc, cert, key = decode_kubeconfig(text)
    cluster = doc["clusters"][0]["cluster"]  # type: ignore[index]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert cluster["tls-server-name"] == "10.0.20.9"
    assert base64.b64decode(cluster["certificate-authority-data"]).decode() == fresh.ca_cert
    ca = load_cert(fresh.ca_cert)
    cert.verify_directly_issued_by(ca)
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    orgs = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["kubeadm:cluster-admins"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= dt.timedelta(days=366)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert public_der(key.public_key()) == public_der(cert.public_key())
    if shutil.which("openssl"):
        (tmp_path / "ca.crt").write_text(fresh.ca_cert)
        (tmp_path / "admin.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        result = subprocess.run(
            ["openssl", "verify", "-purpose", "sslclient", "-CAfile", "ca.crt", "admin.crt"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_super_admin_group_on_request(fresh: ClusterSecrets) -> None:
    text = mint_admin_kubeconfig(
        fresh, cluster="c", server="https://10.0.20.9:6443", group="system:masters"
    )
    doc, cert, _ = decode_kubeconfig(text)
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    assert "tls-server-name" not in doc["clusters"][0]["cluster"]  # type: ignore[index]
    assert doc["current-context"] == "kubernetes-admin@c"
