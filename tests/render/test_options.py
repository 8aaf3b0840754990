"""Rendering beyond the two examples: other minors, small VMs, no workers, options, tokens."""

from __future__ import annotations

import datetime as dt

import kubernetes_validate
import pytest
import yaml

from homelab.core.render.lab import render_lab
from homelab.core.render.tokens import bootstrap_token_secret
from homelab.core.spec.models import LabSpec
from homelab.errors import SpecError
from tests.render.schemas import assert_seeds_valid
from tests.render.support import cloud_config, kubeadm_docs, load_example, pki_for


def variant(lab: str, **updates: object) -> LabSpec:
    """The example ``lab`` with top-level or kubernetes fields replaced."""
    spec = load_example(lab)
    k8s = {k: v for k, v in updates.items() if k in type(spec.kubernetes).model_fields}
    top = {k: v for k, v in updates.items() if k not in k8s}
    data = spec.model_dump(mode="json")
    data["kubernetes"].update(k8s)
    data.update(top)
    return LabSpec.model_validate(data)


def test_kubernetes_1_30_uses_its_own_repo_and_packages() -> None:
    spec = variant("home-lab", version="1.30.11")
    artifacts = render_lab(spec, pki_for("home-lab"))
    text = artifacts.seeds["k8s-worker-2"].user_data.decode()
    assert "https://pkgs.k8s.io/core:/stable:/v1.30/deb/ /" in text
    assert "kubeadm=1.30.11-1.1" in text and "1.29" not in text
    assert_seeds_valid(artifacts)
    cluster = {d["kind"]: d for d in kubeadm_docs(artifacts, "k8s-master-1")}
    assert cluster["ClusterConfiguration"]["kubernetesVersion"] == "v1.30.11"
    assert cluster["ClusterConfiguration"]["apiVersion"] == "kubeadm.k8s.io/v1beta3"


def test_an_unsupported_minor_is_a_spec_error() -> None:
    spec = variant("home-lab", version="1.38.0")
    with pytest.raises(SpecError, match=r"1\.38\.x is not supported"):
        render_lab(spec, pki_for("home-lab"))


def test_small_vms_skip_only_the_size_preflight_checks_they_fail() -> None:
    data = load_example("home-lab").model_dump(mode="json")
    data["vms"]["k8s-master-1"].update(cores=1, memory=1024)
    data["vms"]["k8s-worker-2"].update(cores=1, memory=2048)
    artifacts = render_lab(LabSpec.model_validate(data), pki_for("home-lab"))
    assert_seeds_valid(artifacts)
    master = kubeadm_docs(artifacts, "k8s-master-1")[0]["nodeRegistration"]
    assert master["ignorePreflightErrors"] == ["NumCPU", "Mem"]
    worker = kubeadm_docs(artifacts, "k8s-worker-2")[0]["nodeRegistration"]
    assert "ignorePreflightErrors" not in worker  # workers need no 2 CPUs; 2 GiB is enough


def test_a_lab_without_workers_lets_control_planes_take_workloads() -> None:
    data = load_example("home-lab").model_dump(mode="json")
    data["vms"] = {"k8s-master-1": data["vms"]["k8s-master-1"]}
    artifacts = render_lab(LabSpec.model_validate(data), pki_for("home-lab"))
    assert_seeds_valid(artifacts)
    init = kubeadm_docs(artifacts, "k8s-master-1")[0]
    assert init["nodeRegistration"]["taints"] == []


def test_network_options_and_no_load_balancer() -> None:
    data = load_example("home-lab").model_dump(mode="json")
    data["networks"]["apps"].update(mtu=1450, search_domains=["lab.internal"])
    data["kubernetes"]["load_balancer"] = None
    data["kubernetes"]["pod_cidr"] = "10.244.0.0/16"
    artifacts = render_lab(LabSpec.model_validate(data), pki_for("home-lab"))
    assert_seeds_valid(artifacts)
    eth = yaml.safe_load(artifacts.seeds["k8s-worker-2"].network_config)["ethernets"]["eth0"]
    assert eth["mtu"] == 1450
    assert eth["nameservers"] == {"addresses": ["10.0.10.1"], "search": ["lab.internal"]}
    assert "metallb.yaml" not in artifacts.cluster
    calico = next(yaml.safe_load_all(artifacts.cluster["calico.yaml"]))
    assert calico["spec"]["calicoNetwork"]["ipPools"][0]["cidr"] == "10.244.0.0/16"
    init = {d["kind"]: d for d in kubeadm_docs(artifacts, "k8s-master-1")}
    assert init["ClusterConfiguration"]["networking"]["podSubnet"] == "10.244.0.0/16"


def test_artifacts_name_the_mac_each_seed_expects() -> None:
    artifacts = render_lab(load_example("ha-lab"), pki_for("ha-lab"))
    for vm, mac in artifacts.macs.items():
        net = yaml.safe_load(artifacts.seeds[vm].network_config)
        assert net["ethernets"]["eth0"]["match"]["macaddress"] == mac
    assert set(artifacts.macs) == set(artifacts.seeds)


def test_user_data_keeps_the_header_and_parses() -> None:
    artifacts = render_lab(load_example("home-lab"), pki_for("home-lab"))
    raw = artifacts.seeds["k8s-master-1"].user_data
    assert raw.startswith(b"#cloud-config\n")
    assert cloud_config(raw)["hostname"] == "k8s-master-1"


def test_bootstrap_token_secret_re_arms_the_token() -> None:
    secrets = pki_for("ha-lab")
    expires = dt.datetime(2027, 1, 2, 3, 4, 5, 678, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    doc = bootstrap_token_secret(secrets, expires=expires)
    kubernetes_validate.validate(doc, "1.29.0", strict=True)
    assert doc["metadata"]["name"] == f"bootstrap-token-{secrets.bootstrap_token_id}"
    assert doc["type"] == "bootstrap.kubernetes.io/token"
    data = doc["stringData"]
    assert data["expiration"] == "2027-01-02T02:04:05Z"
    assert f"{data['token-id']}.{data['token-secret']}" == secrets.bootstrap_token().reveal()
    assert data["auth-extra-groups"] == "system:bootstrappers:kubeadm:default-node-token"
    with pytest.raises(ValueError, match="timezone-aware"):
        bootstrap_token_secret(secrets, expires=dt.datetime(2027, 1, 1))


def test_several_control_planes_without_a_vip_are_refused() -> None:
    data = load_example("ha-lab").model_dump(mode="json")
    data["kubernetes"]["control_plane_endpoint"] = None
    with pytest.raises(SpecError, match="control_plane_endpoint"):
        render_lab(LabSpec.model_validate(data), pki_for("ha-lab"))
