"""The cluster's secrets as read back from a running control plane, and the checks they pass.

What a control plane of the lab holds (the tool wrote the CAs and the service-account pair
there through the seed, kubeadm signed its leaves with them, and the kubeadm configuration left
in ``/etc/homelab/kubeadm.yaml`` carries the lab's bootstrap token) becomes one
``ClusterSecrets``; ``problems`` lists what does not hold together: a key that is not its
certificate's, a CA that did not sign the leaf the control plane uses, a token of the wrong
shape. ``check_served`` proves the cluster CA signed the certificate the API server presents
over TLS, through the standard library's verification (chain and name), as any client would.

Private keys are turned into ``Secret`` at once and no message here quotes a file's content
(a YAML error names the line, not the text).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from homelab.core.cluster import TOKEN_ID_RE, TOKEN_SECRET_RE, ClusterSecrets
from homelab.core.render.bootstrap import KUBEADM_CONFIG, PKI_DIR
from homelab.core.secret import Secret
from homelab.errors import StateError

__all__ = [
    "FILES",
    "ReadBackRefused",
    "check_served",
    "problems",
    "secrets_from",
]

#: ClusterSecrets field -> the file it is read from (the paths kubeadm reads).
SHARED = {
    "ca_cert": f"{PKI_DIR}/ca.crt",
    "ca_key": f"{PKI_DIR}/ca.key",
    "etcd_ca_cert": f"{PKI_DIR}/etcd/ca.crt",
    "etcd_ca_key": f"{PKI_DIR}/etcd/ca.key",
    "front_proxy_ca_cert": f"{PKI_DIR}/front-proxy-ca.crt",
    "front_proxy_ca_key": f"{PKI_DIR}/front-proxy-ca.key",
    "sa_pub": f"{PKI_DIR}/sa.pub",
    "sa_key": f"{PKI_DIR}/sa.key",
}
_KEYS = frozenset({"ca_key", "etcd_ca_key", "front_proxy_ca_key", "sa_key"})
#: A leaf the control plane uses -> the CA field that must have signed it.
LEAVES = {
    f"{PKI_DIR}/apiserver.crt": "ca_cert",
    f"{PKI_DIR}/front-proxy-client.crt": "front_proxy_ca_cert",
    f"{PKI_DIR}/etcd/server.crt": "etcd_ca_cert",
}
FILES = (*SHARED.values(), *LEAVES, KUBEADM_CONFIG)


class ReadBackRefused(StateError):
    """What was read from the control plane does not verify: nothing was written."""


@dataclass(frozen=True)
class _Pair:
    cert: str
    key: str


_PAIRS = (
    _Pair("ca_cert", "ca_key"),
    _Pair("etcd_ca_cert", "etcd_ca_key"),
    _Pair("front_proxy_ca_cert", "front_proxy_ca_key"),
)


def secrets_from(lab: str, files: Mapping[str, bytes], where: str) -> ClusterSecrets:
    """The lab's ClusterSecrets from the files read in ``where`` (a VM's name)."""
    values: dict[str, Any] = {}
    for field_name, path in SHARED.items():
        text = _ascii(files, path, where)
        values[field_name] = Secret(text) if field_name in _KEYS else text
    token_id, token_secret = _token(files, where)
    return ClusterSecrets(
        lab=lab, bootstrap_token_id=token_id, bootstrap_token_secret=token_secret, **values
    )


def problems(secrets: ClusterSecrets, files: Mapping[str, bytes], where: str) -> list[str]:
    """What does not hold together in the material read from ``where`` (empty: it verifies)."""
    found: list[str] = []
    for pair in _PAIRS:
        cert = _cert(getattr(secrets, pair.cert), SHARED[pair.cert], where)
        if not _is_ca(cert):
            found.append(
                f"{SHARED[pair.cert]} in {where} is not a CA certificate as kubeadm makes one "
                "(basicConstraints CA:TRUE and a subject key identifier)"
            )
        key = _private(getattr(secrets, pair.key), SHARED[pair.key], where)
        if _spki(cert.public_key()) != _spki(key.public_key()):
            found.append(f"{SHARED[pair.key]} in {where} is not the key of {SHARED[pair.cert]}")
    sa_key = _private(secrets.sa_key, SHARED["sa_key"], where)
    try:
        sa_pub = serialization.load_pem_public_key(secrets.sa_pub.encode("ascii"))
    except ValueError:
        raise ReadBackRefused(f"{SHARED['sa_pub']} in {where} is not a PEM public key") from None
    if _spki(sa_pub) != _spki(sa_key.public_key()):
        found.append(f"{SHARED['sa_key']} in {where} is not the key of {SHARED['sa_pub']}")
    for path, ca_field in LEAVES.items():
        leaf = _cert(_ascii(files, path, where), path, where)
        ca = _cert(getattr(secrets, ca_field), SHARED[ca_field], where)
        if not _issued_by(leaf, ca):
            found.append(f"{path} in {where} was not signed by {SHARED[ca_field]}")
    return found


def check_served(ca_pem: str, url: str, server_name: str | None, *, timeout: float = 10.0) -> None:
    """The API server at ``url`` presents a certificate the CA ``ca_pem`` verifies (for
    ``server_name``, or the URL's host); ReadBackRefused if not, or if it does not answer."""
    target = httpx.URL(url)
    host, port = target.host, target.port or 443
    name = server_name or host
    context = ssl.create_default_context(cadata=ca_pem)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=name),
        ):
            return
    except ssl.SSLCertVerificationError as exc:
        raise ReadBackRefused(
            f"the API server at {name}:{port} presents a certificate that the cluster CA read "
            f"back does not verify ({exc.verify_message}): the CA on the control plane is not "
            "the cluster's",
            hint="nothing was written; find the control plane that holds the cluster's CA",
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise ReadBackRefused(
            f"the API server at {name}:{port} does not answer over TLS ({exc}): the CA read "
            "back cannot be checked against it",
            hint="start the control plane (its API server must serve) and run recover again",
        ) from None


def _ascii(files: Mapping[str, bytes], path: str, where: str) -> str:
    data = files.get(path)
    if data is None:
        raise ReadBackRefused(f"{path} was not read from {where}")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ReadBackRefused(f"{path} in {where} is not a PEM file") from None


def _token(files: Mapping[str, bytes], where: str) -> tuple[str, Secret]:
    data = files.get(KUBEADM_CONFIG)
    if data is None:
        raise ReadBackRefused(f"{KUBEADM_CONFIG} was not read from {where}")
    try:
        docs = [d for d in yaml.safe_load_all(data) if isinstance(d, dict)]
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else "?"
        raise ReadBackRefused(
            f"{KUBEADM_CONFIG} in {where} is not valid YAML (line {line})"
        ) from None
    except yaml.YAMLError:
        raise ReadBackRefused(f"{KUBEADM_CONFIG} in {where} is not valid YAML") from None
    for doc in docs:
        token = _token_of(doc)
        if token is None:
            continue
        token_id, _, secret = token.partition(".")
        if not (TOKEN_ID_RE.match(token_id) and TOKEN_SECRET_RE.match(secret)):
            raise ReadBackRefused(
                f"the bootstrap token in {KUBEADM_CONFIG} in {where} is not of the form "
                "[a-z0-9]{6}.[a-z0-9]{16}"
            )
        return token_id, Secret(secret)
    raise ReadBackRefused(f"{KUBEADM_CONFIG} in {where} holds no bootstrap token")


def _token_of(doc: dict[str, Any]) -> str | None:
    kind = doc.get("kind")
    if kind == "InitConfiguration":
        tokens = doc.get("bootstrapTokens") or []
        first = tokens[0] if isinstance(tokens, list) and tokens else {}
        token = first.get("token") if isinstance(first, dict) else None
    elif kind == "JoinConfiguration":
        discovery = doc.get("discovery") or {}
        bootstrap = discovery.get("bootstrapToken") if isinstance(discovery, dict) else None
        token = bootstrap.get("token") if isinstance(bootstrap, dict) else None
    else:
        return None
    return str(token) if token else None


def _cert(pem: str, path: str, where: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError:
        raise ReadBackRefused(f"{path} in {where} is not a PEM certificate") from None


def _private(key: Secret, path: str, where: str) -> Any:
    try:
        return serialization.load_pem_private_key(key.reveal().encode("ascii"), None)
    except (ValueError, TypeError):
        raise ReadBackRefused(f"{path} in {where} is not an unencrypted PEM private key") from None


def _spki(public_key: Any) -> bytes:
    return bytes(
        public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


def _issued_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
