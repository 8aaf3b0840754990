"""Making the cluster PKI and admin credentials: the random, clock-reading half of the PKI.

``generate_cluster_secrets`` makes what ``kubeadm init`` would make for a new cluster, with
kubeadm v1.29's defaults, so the result is indistinguishable from a kubeadm-made cluster:

- three self-signed CAs (CN ``kubernetes``, ``etcd-ca``, ``front-proxy-ca``): RSA 2048,
  SHA-256, valid 10 years, basicConstraints CA:TRUE (critical), keyUsage digitalSignature,
  keyEncipherment, keyCertSign (critical), subject key identifier;
- the service-account signing key pair (``sa.key``/``sa.pub``): RSA 2048;
- one bootstrap token ``[a-z0-9]{6}.[a-z0-9]{16}``.

``mint_admin_kubeconfig`` signs a client certificate as kubeadm does for ``admin.conf``
(CN ``kubernetes-admin``, O ``kubeadm:cluster-admins`` since v1.29, 1 year, clientAuth).
The pure half (holding, serialising, hashing) is homelab.core.cluster.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets as random_source

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from homelab.core.cluster import ClusterSecrets
from homelab.core.secret import Secret

RSA_BITS = 2048
CA_VALIDITY = dt.timedelta(days=365 * 10)
CERT_VALIDITY = dt.timedelta(days=365)
BACKDATE = dt.timedelta(minutes=5)  # tolerate clock skew between this machine and the nodes
TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"  # noqa: S105
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "kubeadm:cluster-admins"  # kubeadm >= 1.29; "system:masters" is super-admin


def generate_cluster_secrets(lab: str) -> ClusterSecrets:
    """Make a fresh cluster PKI and bootstrap token for ``lab`` (once per lab)."""
    now = _now()
    ca_key, ca_cert = _new_ca("kubernetes", now)
    etcd_key, etcd_cert = _new_ca("etcd-ca", now)
    proxy_key, proxy_cert = _new_ca("front-proxy-ca", now)
    sa_key = _new_key()
    return ClusterSecrets(
        lab=lab,
        ca_cert=_cert_pem(ca_cert),
        ca_key=_key_pem(ca_key),
        etcd_ca_cert=_cert_pem(etcd_cert),
        etcd_ca_key=_key_pem(etcd_key),
        front_proxy_ca_cert=_cert_pem(proxy_cert),
        front_proxy_ca_key=_key_pem(proxy_key),
        sa_pub=sa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii"),
        sa_key=_key_pem(sa_key),
        bootstrap_token_id=_random_text(6),
        bootstrap_token_secret=Secret(_random_text(16)),
    )


def mint_admin_kubeconfig(
    secrets: ClusterSecrets,
    *,
    cluster: str,
    server: str,
    tls_server_name: str | None = None,
    group: str = ADMIN_GROUP,
) -> str:
    """A kubeconfig (YAML, data embedded) for a fresh 1-year admin client certificate.

    The result holds a private key: write it with mode 0600 and never print it.
    """
    key = _new_key()
    cert = _sign_client_cert(secrets, key, group=group, now=_now())
    cluster_entry: dict[str, str] = {
        "certificate-authority-data": _b64(secrets.ca_cert.encode("ascii")),
        "server": server,
    }
    if tls_server_name is not None:
        cluster_entry["tls-server-name"] = tls_server_name
    context = f"{ADMIN_USER}@{cluster}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": cluster_entry}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": ADMIN_USER}}],
        "current-context": context,
        "preferences": {},
        "users": [
            {
                "name": ADMIN_USER,
                "user": {
                    "client-certificate-data": _b64(cert.public_bytes(serialization.Encoding.PEM)),
                    "client-key-data": _b64(_key_pem(key).reveal().encode("ascii")),
                },
            }
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def _sign_client_cert(
    secrets: ClusterSecrets, key: rsa.RSAPrivateKey, *, group: str, now: dt.datetime
) -> x509.Certificate:
    ca_cert = x509.load_pem_x509_certificate(secrets.ca_cert.encode("ascii"))
    ca_key = serialization.load_pem_private_key(secrets.ca_key.reveal().encode("ascii"), None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)  # we only ever make RSA CAs
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, group),
            x509.NameAttribute(NameOID.COMMON_NAME, ADMIN_USER),
        ]
    )
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + CERT_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
    )
    return builder.sign(ca_key, hashes.SHA256())


def _new_ca(common_name: str, now: dt.datetime) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return key, builder.sign(key, hashes.SHA256())


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def _key_pem(key: rsa.RSAPrivateKey) -> Secret:
    """PKCS#1 ``RSA PRIVATE KEY`` PEM, the encoding kubeadm writes."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return Secret(pem.decode("ascii"))


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _random_text(length: int) -> str:
    return "".join(random_source.choice(TOKEN_ALPHABET) for _ in range(length))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)
