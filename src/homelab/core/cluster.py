"""The cluster's secrets as one value: CAs, service-account keys and the bootstrap token.

The tool owns the cluster PKI (as Cluster API's kubeadm bootstrap provider does): it makes
the material once per lab (homelab.engine.pki, which needs randomness), keeps it in the
encrypted state store (as the bytes of ``to_json``), and renders it into the control
planes' user-data. This module is pure: it holds, serialises and inspects the material,
and never generates any. Private keys and the token secret are ``Secret``s, so a repr, a
log line or an exception message never shows them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from homelab.core.secret import Secret
from homelab.errors import ClusterSecretsError

FORMAT_VERSION = 1
TOKEN_ID_RE = re.compile(r"^[a-z0-9]{6}$")
TOKEN_SECRET_RE = re.compile(r"^[a-z0-9]{16}$")

_SECRET_FIELDS = ("ca_key", "etcd_ca_key", "front_proxy_ca_key", "sa_key", "bootstrap_token_secret")


@dataclass(frozen=True)
class ClusterSecrets:
    """Everything a kubeadm cluster shares that kubeadm would otherwise generate on init.

    PEM certificates and the service-account public key are public; the private keys and the
    bootstrap token secret are ``Secret``. The token id is public by design (kubeadm lists it).
    """

    lab: str
    ca_cert: str = field(repr=False)
    ca_key: Secret
    etcd_ca_cert: str = field(repr=False)
    etcd_ca_key: Secret
    front_proxy_ca_cert: str = field(repr=False)
    front_proxy_ca_key: Secret
    sa_pub: str = field(repr=False)
    sa_key: Secret
    bootstrap_token_id: str
    bootstrap_token_secret: Secret

    def __post_init__(self) -> None:
        if not TOKEN_ID_RE.match(self.bootstrap_token_id):
            raise ValueError("bootstrap token id must be 6 characters of [a-z0-9]")
        if not TOKEN_SECRET_RE.match(self.bootstrap_token_secret.reveal()):
            raise ValueError("bootstrap token secret must be 16 characters of [a-z0-9]")

    def bootstrap_token(self) -> Secret:
        """The kubeadm bootstrap token, ``abcdef.0123456789abcdef``."""
        return Secret(f"{self.bootstrap_token_id}.{self.bootstrap_token_secret.reveal()}")

    def ca_cert_hash(self) -> str:
        """The discovery-token-ca-cert-hash of the cluster CA."""
        return ca_cert_hash(self.ca_cert)

    def to_json(self) -> bytes:
        """Serialise for the state store (which encrypts). Contains every secret in clear."""
        doc: dict[str, Any] = {"format": FORMAT_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            doc[f.name] = value.reveal() if isinstance(value, Secret) else value
        return json.dumps(doc, sort_keys=True, indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> ClusterSecrets:
        """Load what ``to_json`` wrote; a corrupt or foreign blob raises ClusterSecretsError."""
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ClusterSecretsError("the stored cluster PKI is not valid JSON") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
            raise ClusterSecretsError(
                "the stored cluster PKI has an unknown format",
                hint="it was written by another version of homelab",
            )
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if not isinstance(doc.get(n), str)]
        if missing:
            raise ClusterSecretsError(f"the stored cluster PKI lacks {', '.join(missing)}")
        values: dict[str, Any] = {
            n: Secret(doc[n]) if n in _SECRET_FIELDS else doc[n] for n in names
        }
        try:
            return cls(**values)
        except ValueError as exc:
            raise ClusterSecretsError(f"the stored cluster PKI is invalid: {exc}") from exc


def ca_cert_hash(ca_pem: str) -> str:
    """``sha256:<hex>`` of the CA's DER SubjectPublicKeyInfo, as kubeadm's caCertHashes."""
    try:
        cert = x509.load_pem_x509_certificate(ca_pem.encode("ascii"))
    except ValueError as exc:
        raise ClusterSecretsError(
            "the cluster CA certificate is not a valid PEM certificate"
        ) from exc
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()
