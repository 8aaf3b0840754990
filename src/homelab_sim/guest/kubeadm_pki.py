"""What kubeadm's ``certs`` and ``kubeconfig`` phases leave on a control plane (v1.29 defaults).

kubeadm signs, with the CAs it finds in ``/etc/kubernetes/pki`` (it makes a CA only when none
is there; this simulator leaves the cluster CA to whoever provides it), one leaf certificate
per use, RSA 2048, SHA-256, valid one year (never past its CA), each key beside its
certificate:

- ``apiserver``: CN ``kube-apiserver``, serverAuth; DNS SANs the node name, ``kubernetes``,
  ``kubernetes.default``, ``kubernetes.default.svc``, ``kubernetes.default.svc.<dnsDomain>``;
  IP SANs the first address of the service subnet and the advertise address; the
  controlPlaneEndpoint's host and the ``certSANs`` too;
- ``apiserver-kubelet-client`` (CN ``kube-apiserver-kubelet-client``, O
  ``kubeadm:cluster-admins`` since 1.29), ``apiserver-etcd-client`` (etcd CA),
  ``front-proxy-client`` (front-proxy CA), ``etcd/healthcheck-client`` (etcd CA): clientAuth;
- ``etcd/server`` and ``etcd/peer``: CN the node name, SANs the node name, ``localhost``, the
  advertise address, 127.0.0.1 and ::1, serverAuth and clientAuth;
- the service-account pair ``sa.key``/``sa.pub``, kept when both are there.

Modes are client-go's: certificates 0644 (``certutil.WriteCert``), private and public keys
0600 (``keyutil.WriteKey``, sa.pub included), kubeconfig files 0600 (``clientcmd.WriteToFile``).
An existing leaf (a retried init, or a join over a reset that kept it) is used as it is.

The kubeconfig files embed the CA and a client certificate and key: ``admin.conf``
(``kubernetes-admin``, O ``kubeadm:cluster-admins``), ``super-admin.conf`` on the init node only
(``kubernetes-super-admin``, O ``system:masters``), ``controller-manager.conf``
(``system:kube-controller-manager``), ``scheduler.conf`` (``system:kube-scheduler``), and on the
init node ``kubelet.conf`` (``system:node:<name>``, O ``system:nodes``; a joining node's comes
from the kubelet's TLS bootstrap); admin, super-admin and kubelet point at the
controlPlaneEndpoint (else the advertise address), the others at the node's own API server.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from dataclasses import dataclass
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from homelab_sim.guest.kubeadm_checks import PKI, KubeadmFailure
from homelab_sim.guest.system import GuestSystem

CERT_MODE, KEY_MODE, KUBECONFIG_MODE = 0o644, 0o600, 0o600
VALIDITY = dt.timedelta(days=365)
API_PORT = 6443
CLUSTER_ADMINS = "kubeadm:cluster-admins"
SERVER = (ExtendedKeyUsageOID.SERVER_AUTH,)
CLIENT = (ExtendedKeyUsageOID.CLIENT_AUTH,)
BOTH = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)


@dataclass(frozen=True)
class ControlPlane:
    """What the certificates name: the node, its address, the cluster's endpoint and networks."""

    node: str
    advertise: str
    endpoint: str  # host[:port] of controlPlaneEndpoint, or "" for none
    service_subnet: str = "10.96.0.0/12"
    dns_domain: str = "cluster.local"
    cert_sans: tuple[str, ...] = ()
    cluster_name: str = "kubernetes"

    @classmethod
    def of(cls, cluster: dict[str, Any], node: str, advertise: str) -> ControlPlane:
        networking = cluster.get("networking") or {}
        api = cluster.get("apiServer") or {}
        return cls(
            node=node,
            advertise=advertise,
            endpoint=str(cluster.get("controlPlaneEndpoint") or ""),
            service_subnet=str(networking.get("serviceSubnet") or "10.96.0.0/12").split(",")[0],
            dns_domain=str(networking.get("dnsDomain") or "cluster.local"),
            cert_sans=tuple(str(s) for s in api.get("certSANs") or ()),
            cluster_name=str(cluster.get("clusterName") or "kubernetes"),
        )

    @property
    def endpoint_host(self) -> str:
        if not self.endpoint:
            return ""
        host, sep, port = self.endpoint.rpartition(":")
        return host.strip("[]") if sep and port.isdigit() else self.endpoint

    def endpoint_url(self) -> str:
        if not self.endpoint:
            return f"https://{self.advertise}:{API_PORT}"
        has_port = self.endpoint.rpartition(":")[2].isdigit()
        return f"https://{self.endpoint if has_port else f'{self.endpoint}:{API_PORT}'}"


@dataclass(frozen=True)
class _Leaf:
    name: str
    ca: str  # the CA's base name under PKI
    common_name: str
    usages: tuple[x509.ObjectIdentifier, ...]
    organization: str | None = None


def _leaves(cp: ControlPlane) -> tuple[_Leaf, ...]:
    return (
        _Leaf("apiserver", "ca", "kube-apiserver", SERVER),
        _Leaf(
            "apiserver-kubelet-client",
            "ca",
            "kube-apiserver-kubelet-client",
            CLIENT,
            CLUSTER_ADMINS,
        ),
        _Leaf("front-proxy-client", "front-proxy-ca", "front-proxy-client", CLIENT),
        _Leaf("etcd/server", "etcd/ca", cp.node, BOTH),
        _Leaf("etcd/peer", "etcd/ca", cp.node, BOTH),
        _Leaf("etcd/healthcheck-client", "etcd/ca", "kube-etcd-healthcheck-client", CLIENT),
        _Leaf("apiserver-etcd-client", "etcd/ca", "kube-apiserver-etcd-client", CLIENT),
    )


def write_certificates(system: GuestSystem, cp: ControlPlane, now: dt.datetime) -> None:
    """The ``certs`` phase past the CAs: every leaf missing, and the service-account pair."""
    for leaf in _leaves(cp):
        if system.exists(f"{PKI}/{leaf.name}.crt") and system.exists(f"{PKI}/{leaf.name}.key"):
            continue
        ca_cert, ca_key = _ca(system, leaf.ca, now)
        key = _new_key()
        cert = _sign(ca_cert, ca_key, key, leaf, _sans(cp, leaf), now)
        system.write(
            f"{PKI}/{leaf.name}.crt", cert.public_bytes(serialization.Encoding.PEM), CERT_MODE
        )
        system.write(f"{PKI}/{leaf.name}.key", _key_pem(key), KEY_MODE)
    if not (system.exists(f"{PKI}/sa.key") and system.exists(f"{PKI}/sa.pub")):
        key = _new_key()
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        system.write(f"{PKI}/sa.key", _key_pem(key), KEY_MODE)
        system.write(f"{PKI}/sa.pub", public, KEY_MODE)


def write_kubeconfigs(
    system: GuestSystem, cp: ControlPlane, now: dt.datetime, *, init: bool
) -> None:
    """The ``kubeconfig`` phase of a control plane (``super-admin.conf`` on the init node)."""
    ca_cert, ca_key = _ca(system, "ca", now)
    local = f"https://{cp.advertise}:{API_PORT}"
    files: list[tuple[str, str, str | None, str]] = [
        ("admin.conf", "kubernetes-admin", CLUSTER_ADMINS, cp.endpoint_url()),
        ("controller-manager.conf", "system:kube-controller-manager", None, local),
        ("scheduler.conf", "system:kube-scheduler", None, local),
    ]
    if init:
        endpoint = cp.endpoint_url()
        files.insert(1, ("super-admin.conf", "kubernetes-super-admin", "system:masters", endpoint))
        files.insert(2, ("kubelet.conf", f"system:node:{cp.node}", "system:nodes", endpoint))
    for name, user, group, server in files:
        key = _new_key()
        leaf = _Leaf(name, "ca", user, CLIENT, group)
        cert = _sign(ca_cert, ca_key, key, leaf, [], now)
        text = kubeconfig(ca_cert, cert, key, cluster=cp.cluster_name, server=server, user=user)
        system.write(f"/etc/kubernetes/{name}", text.encode("ascii"), KUBECONFIG_MODE)


def kubeconfig(
    ca: x509.Certificate,
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    *,
    cluster: str,
    server: str,
    user: str,
) -> str:
    """A kubeconfig as kubeadm writes one: the CA, the server, one user, one context."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    pem = serialization.Encoding.PEM
    context = f"{user}@{cluster}"
    doc = {
        "apiVersion": "v1",
        "clusters": [
            {
                "cluster": {
                    "certificate-authority-data": b64(ca.public_bytes(pem)),
                    "server": server,
                },
                "name": cluster,
            }
        ],
        "contexts": [{"context": {"cluster": cluster, "user": user}, "name": context}],
        "current-context": context,
        "kind": "Config",
        "preferences": {},
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(cert.public_bytes(pem)),
                    "client-key-data": b64(_key_pem(key)),
                },
            }
        ],
    }
    return yaml.safe_dump(doc, default_flow_style=False)


def _sans(cp: ControlPlane, leaf: _Leaf) -> list[x509.GeneralName]:
    if leaf.name == "apiserver":
        service_ip = str(next(ipaddress.ip_network(cp.service_subnet, strict=False).hosts()))
        domain = cp.dns_domain
        dns = [cp.node, "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
        dns.append(f"kubernetes.default.svc.{domain}")
        return _names([*dns, cp.endpoint_host, *cp.cert_sans], [service_ip, cp.advertise])
    if leaf.name in ("etcd/server", "etcd/peer"):
        return _names([cp.node, "localhost"], [cp.advertise, "127.0.0.1", "::1"])
    return []


def _names(hosts: list[str], ips: list[str]) -> list[x509.GeneralName]:
    """DNS and IP SANs, each once, an IP given as a host counted as an IP."""
    out: dict[str, x509.GeneralName] = {}
    for value in [*ips, *hosts]:
        if not value or value in out:
            continue
        try:
            out[value] = x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            out[value] = x509.DNSName(value)
    dns = [n for n in out.values() if isinstance(n, x509.DNSName)]
    return [*dns, *(n for n in out.values() if isinstance(n, x509.IPAddress))]


def _ca(
    system: GuestSystem, name: str, now: dt.datetime
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The CA ``name`` on disk; kubeadm makes the etcd and front-proxy CAs when absent."""
    cert_pem, key_pem = system.read(f"{PKI}/{name}.crt"), system.read(f"{PKI}/{name}.key")
    if cert_pem is None or key_pem is None:
        if name == "ca":
            raise KubeadmFailure(
                f"error execution phase certs: couldn't load the CA {PKI}/ca.crt and ca.key"
            )
        return _new_ca(system, name, now)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, None)
    except ValueError as exc:
        raise KubeadmFailure(
            f"error execution phase certs: failure loading {name} certificate authority: {exc}"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KubeadmFailure(f"error execution phase certs: the {name} key is not an RSA key")
    return cert, key


def _new_ca(
    system: GuestSystem, name: str, now: dt.datetime
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    common = {"etcd/ca": "etcd-ca", "front-proxy-ca": "front-proxy-ca"}.get(name, name)
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + 10 * VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    system.write(f"{PKI}/{name}.crt", cert.public_bytes(serialization.Encoding.PEM), CERT_MODE)
    system.write(f"{PKI}/{name}.key", _key_pem(key), KEY_MODE)
    return cert, key


def _sign(
    ca_cert: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    key: rsa.RSAPrivateKey,
    leaf: _Leaf,
    sans: list[x509.GeneralName],
    now: dt.datetime,
) -> x509.Certificate:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, leaf.common_name)]
    if leaf.organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, leaf.organization))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ca_cert.not_valid_before_utc)
        .not_valid_after(min(now + VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(leaf.usages)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    except x509.ExtensionNotFound:
        pass
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
