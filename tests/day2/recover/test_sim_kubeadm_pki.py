"""The simulated control plane's /etc/kubernetes is what kubeadm 1.29 writes: leaves signed by
the CAs on disk with kubeadm's names, client-go's file modes, kubeconfigs with real clients."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from homelab.engine.pki import generate_cluster_secrets
from homelab.engine.state.readback import SHARED
from homelab_sim.guest.kubeadm_checks import KubeadmFailure
from homelab_sim.guest.kubeadm_pki import ControlPlane, write_certificates, write_kubeconfigs
from homelab_sim.guest.system import GuestSystem

PKI = "/etc/kubernetes/pki"
NOW = dt.datetime.now(dt.UTC)
CLUSTER = {
    "controlPlaneEndpoint": "10.0.20.5:6443",
    "networking": {"serviceSubnet": "10.96.0.0/12", "dnsDomain": "cluster.local"},
    "apiServer": {"certSANs": ["k8s.lab.example"]},
}


@pytest.fixture(scope="module")
def system() -> GuestSystem:
    """An init node after the certs and kubeconfig phases, given the tool's CAs."""
    secrets = generate_cluster_secrets("lab")
    made = GuestSystem.stock()
    for name, path in SHARED.items():
        if name.startswith("sa_"):
            continue  # kubeadm makes the pair when it is not given
        value = getattr(secrets, name)
        made.write(path, (value if isinstance(value, str) else value.reveal()).encode(), 0o600)
    plane = ControlPlane.of(CLUSTER, "k8s-master-1", "10.0.20.10")
    write_certificates(made, plane, NOW)
    write_kubeconfigs(made, plane, NOW, init=True)
    return made


def cert(system: GuestSystem, path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(system.read(path) or b"")


LEAVES = {
    "apiserver": ("ca", "kube-apiserver"),
    "apiserver-kubelet-client": ("ca", "kube-apiserver-kubelet-client"),
    "apiserver-etcd-client": ("etcd/ca", "kube-apiserver-etcd-client"),
    "front-proxy-client": ("front-proxy-ca", "front-proxy-client"),
    "etcd/server": ("etcd/ca", "k8s-master-1"),
    "etcd/peer": ("etcd/ca", "k8s-master-1"),
    "etcd/healthcheck-client": ("etcd/ca", "kube-etcd-healthcheck-client"),
}


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_each_leaf_is_signed_by_its_ca_with_kubeadm_modes(system: GuestSystem, leaf: str) -> None:
    ca, common_name = LEAVES[leaf]
    made = cert(system, f"{PKI}/{leaf}.crt")
    made.verify_directly_issued_by(cert(system, f"{PKI}/{ca}.crt"))
    assert made.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name
    assert system.files[f"{PKI}/{leaf}.crt"].mode == 0o644
    assert system.files[f"{PKI}/{leaf}.key"].mode == 0o600
    key = serialization.load_pem_private_key(system.read(f"{PKI}/{leaf}.key") or b"", None)
    assert key.public_key() == made.public_key()


def test_the_api_server_certificate_names_what_kubeadm_names(system: GuestSystem) -> None:
    made = cert(system, f"{PKI}/apiserver.crt")
    sans = made.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [
        "k8s-master-1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "k8s.lab.example",
    ]
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address(a) for a in ("10.96.0.1", "10.0.20.10", "10.0.20.5")
    ]
    usage = made.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_the_service_account_pair_is_made_0600_when_not_given(system: GuestSystem) -> None:
    assert system.files[f"{PKI}/sa.key"].mode == system.files[f"{PKI}/sa.pub"].mode == 0o600
    key = serialization.load_pem_private_key(system.read(f"{PKI}/sa.key") or b"", None)
    public = serialization.load_pem_public_key(system.read(f"{PKI}/sa.pub") or b"")
    assert key.public_key() == public


@pytest.mark.parametrize(
    ("name", "user", "group", "server"),
    [
        ("admin.conf", "kubernetes-admin", "kubeadm:cluster-admins", "https://10.0.20.5:6443"),
        ("super-admin.conf", "kubernetes-super-admin", "system:masters", "https://10.0.20.5:6443"),
        ("kubelet.conf", "system:node:k8s-master-1", "system:nodes", "https://10.0.20.5:6443"),
        (
            "controller-manager.conf",
            "system:kube-controller-manager",
            None,
            "https://10.0.20.10:6443",
        ),
        ("scheduler.conf", "system:kube-scheduler", None, "https://10.0.20.10:6443"),
    ],
)
def test_each_kubeconfig_holds_a_client_signed_by_the_cluster_ca(
    system: GuestSystem, name: str, user: str, group: str | None, server: str
) -> None:
    path = f"/etc/kubernetes/{name}"
    assert system.files[path].mode == 0o600
    doc = yaml.safe_load(system.read(path) or b"")
    assert doc["clusters"][0]["cluster"]["server"] == server
    assert doc["current-context"] == f"{user}@kubernetes"
    client = x509.load_pem_x509_certificate(
        base64.b64decode(doc["users"][0]["user"]["client-certificate-data"])
    )
    client.verify_directly_issued_by(cert(system, f"{PKI}/ca.crt"))
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == user
    groups = [a.value for a in client.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ([group] if group else [])


def test_a_joining_control_plane_gets_no_super_admin_and_keeps_given_leaves() -> None:
    secrets = generate_cluster_secrets("lab")
    made = GuestSystem.stock()
    made.write(f"{PKI}/ca.crt", secrets.ca_cert.encode(), 0o600)
    made.write(f"{PKI}/ca.key", secrets.ca_key.reveal().encode(), 0o600)
    made.write(f"{PKI}/apiserver.crt", b"kept", 0o644)
    made.write(f"{PKI}/apiserver.key", b"kept", 0o600)
    plane = ControlPlane("k8s-master-2", "10.0.20.11", "k8s.lab.example")
    write_certificates(made, plane, NOW)
    write_kubeconfigs(made, plane, NOW, init=False)
    assert made.read(f"{PKI}/apiserver.crt") == b"kept"
    assert not made.exists("/etc/kubernetes/super-admin.conf")
    assert cert(made, f"{PKI}/etcd/ca.crt").subject.rfc4514_string() == "CN=etcd-ca"  # made
    admin = yaml.safe_load(made.read("/etc/kubernetes/admin.conf") or b"")
    assert admin["clusters"][0]["cluster"]["server"] == "https://k8s.lab.example:6443"


def test_without_the_cluster_ca_the_certs_phase_fails() -> None:
    with pytest.raises(KubeadmFailure, match=r"couldn't load the CA /etc/kubernetes/pki/ca\.crt"):
        write_certificates(GuestSystem.stock(), ControlPlane("m", "10.0.0.1", ""), NOW)
