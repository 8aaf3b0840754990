"""kubeadm configs: what init and join say, the CA hash, the token, HA join order."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from homelab.core.cluster import ca_cert_hash
from homelab.core.render.artifacts import Artifacts
from homelab.core.spec.models import LabSpec
from tests.render.support import TEST_PKI, cloud_config, kubeadm_docs, pki_for


def independent_ca_hash(ca_pem: bytes) -> str:
    """The hash as kubeadm's docs compute it: openssl when present, else cryptography."""
    if shutil.which("openssl"):
        pub = subprocess.run(
            ["openssl", "x509", "-pubkey", "-noout"], input=ca_pem, capture_output=True, check=True
        ).stdout
        der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-outform", "der"],
            input=pub,
            capture_output=True,
            check=True,
        ).stdout
    else:
        cert = x509.load_pem_x509_certificate(ca_pem)
        der = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return "sha256:" + hashlib.sha256(der).hexdigest()


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


def test_ca_cert_hash_matches_an_independent_computation() -> None:
    ca_pem = (TEST_PKI / "ca.crt").read_bytes()
    assert ca_cert_hash(ca_pem.decode()) == independent_ca_hash(ca_pem)


def test_every_join_carries_the_ca_hash_and_token(rendered: dict[str, Artifacts]) -> None:
    expected_hash = independent_ca_hash((TEST_PKI / "ca.crt").read_bytes())
    joins = 0
    for lab, artifacts in rendered.items():
        token = pki_for(lab).bootstrap_token().reveal()
        for vm in artifacts.seeds:
            join = by_kind(kubeadm_docs(artifacts, vm)).get("JoinConfiguration")
            if join is None:
                continue
            discovery = join["discovery"]["bootstrapToken"]
            assert discovery["caCertHashes"] == [expected_hash]
            assert discovery["token"] == token
            assert "unsafeSkipCAVerification" not in discovery
            joins += 1
    assert joins == 2 + 5  # home-lab: 2 workers; ha-lab: 2 more control planes + 3 workers


def test_init_config_of_the_reference_lab(
    rendered: dict[str, Artifacts], specs: dict[str, LabSpec]
) -> None:
    docs = by_kind(kubeadm_docs(rendered["home-lab"], "k8s-master-1"))
    assert set(docs) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    cluster = docs["ClusterConfiguration"]
    assert cluster["apiVersion"] == "kubeadm.k8s.io/v1beta3"
    assert cluster["kubernetesVersion"] == "v1.29.15"
    assert cluster["networking"] == {
        "podSubnet": "192.168.0.0/16",
        "serviceSubnet": "10.96.0.0/12",
        "dnsDomain": "cluster.local",
    }
    assert cluster["controlPlaneEndpoint"] == "10.0.20.10:6443"  # no VIP: the first master
    assert "10.0.20.10" in cluster["apiServer"]["certSANs"]
    init = docs["InitConfiguration"]
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.0.20.10", "bindPort": 6443}
    assert init["bootstrapTokens"][0]["token"] == pki_for("home-lab").bootstrap_token().reveal()
    assert init["nodeRegistration"]["kubeletExtraArgs"] == {"node-ip": "10.0.20.10"}
    assert docs["KubeletConfiguration"]["cgroupDriver"] == "systemd"


def test_ha_lab_uses_the_vip_and_joins_control_planes_as_control_planes(
    rendered: dict[str, Artifacts],
) -> None:
    ha = rendered["ha-lab"]
    cluster = by_kind(kubeadm_docs(ha, "k8s-master-1"))["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == "10.0.20.9:6443"
    # the init node lists only itself and the VIP: kubeadm adds each control plane's own name
    # and address where it makes that one's certificate, so this seed does not change with them
    assert cluster["apiServer"]["certSANs"] == ["10.0.20.11", "10.0.20.9", "k8s-master-1"]
    for vm, ip in [("k8s-master-2", "10.0.20.12"), ("k8s-master-3", "10.0.20.13")]:
        join = by_kind(kubeadm_docs(ha, vm))["JoinConfiguration"]
        assert join["controlPlane"] == {
            "localAPIEndpoint": {"advertiseAddress": ip, "bindPort": 6443}
        }
        assert "certificateKey" not in join["controlPlane"]
        assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "10.0.20.9:6443"
    worker = by_kind(kubeadm_docs(ha, "k8s-worker-1"))["JoinConfiguration"]
    assert "controlPlane" not in worker


def runcmd_text(artifacts: Artifacts, vm: str) -> str:
    entries = cloud_config(artifacts.seeds[vm].user_data)["runcmd"]
    return "\n".join(e if isinstance(e, str) else " ".join(e) for e in entries)


@pytest.mark.parametrize(
    ("vm", "waits_for"),
    [
        ("k8s-master-2", "https://10.0.20.11:6443/readyz"),
        ("k8s-master-3", "https://10.0.20.12:6443/readyz"),
    ],
)
def test_control_planes_join_one_after_the_other(
    rendered: dict[str, Artifacts], vm: str, waits_for: str
) -> None:
    text = runcmd_text(rendered["ha-lab"], vm)
    vip_wait = text.index("https://10.0.20.9:6443/healthz")
    previous_wait = text.index(waits_for)
    join = text.index("kubeadm join --config /etc/homelab/kubeadm.yaml")
    assert vip_wait < previous_wait < join
    assert "--upload-certs" not in text and "--certificate-key" not in text


def test_first_control_plane_inits_without_waiting(rendered: dict[str, Artifacts]) -> None:
    text = runcmd_text(rendered["ha-lab"], "k8s-master-1")
    assert "kubeadm init --config /etc/homelab/kubeadm.yaml" in text
    assert "kubeadm join" not in text and "readyz" not in text


def test_workers_wait_for_the_api_then_join(rendered: dict[str, Artifacts]) -> None:
    text = runcmd_text(rendered["home-lab"], "k8s-worker-2")
    wait = text.index("--cacert /etc/homelab/ca.crt https://10.0.20.10:6443/healthz")
    assert wait < text.index("kubeadm join --config /etc/homelab/kubeadm.yaml")
    assert "kubeadm init" not in text
