"""Every rendered document validates against the upstream schema of what reads it."""

from __future__ import annotations

import json

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing.jsonschema import DRAFT7

from homelab.core.render.artifacts import Artifacts
from tests.render.schemas import (
    Validators,
    assert_valid,
    cloud_validators,
    component_validators,
    crd_validator,
    local_validator,
    schema,
)
from tests.render.support import LABS, cloud_config, kubeadm_docs


def all_seeds(rendered: dict[str, Artifacts]) -> list[tuple[str, str]]:
    return [(lab, vm) for lab in LABS for vm in rendered[lab].seeds]


@pytest.fixture(scope="module")
def cloud_config_validators() -> Validators:
    return cloud_validators()


def test_user_data_validates_against_cloud_init_schema(
    rendered: dict[str, Artifacts],
    cloud_config_validators: Validators,
) -> None:
    for lab, vm in all_seeds(rendered):
        doc = cloud_config(rendered[lab].seeds[vm].user_data)
        for validator in cloud_config_validators:
            assert_valid(validator, doc, f"{lab}/{vm}/user-data")


def test_cloud_init_schema_rejects_what_it_should(
    rendered: dict[str, Artifacts],
    cloud_config_validators: Validators,
) -> None:
    doc = cloud_config(rendered["home-lab"].seeds["k8s-master-1"].user_data)
    bad = {**doc, "write_files": [{**doc["write_files"][0], "permissions": 600}]}
    for validator in cloud_config_validators:
        assert list(validator.iter_errors({**doc, "not_a_module": True}))
        assert list(validator.iter_errors(bad))


def test_network_config_validates_against_v2_schema(rendered: dict[str, Artifacts]) -> None:
    path = schema("cloud-init/schema-network-config-v2.json")
    validator = local_validator(path, DRAFT7, jsonschema.Draft7Validator)
    for lab, vm in all_seeds(rendered):
        doc = yaml.safe_load(rendered[lab].seeds[vm].network_config)
        assert_valid(validator, doc, f"{lab}/{vm}/network-config")
    assert list(validator.iter_errors({"version": 2, "ethernets": {"eth0": {"dhcp4": "x"}}}))


def test_kubeadm_documents_validate(rendered: dict[str, Artifacts]) -> None:
    validators = component_validators()
    kinds: set[str] = set()
    for lab, vm in all_seeds(rendered):
        for doc in kubeadm_docs(rendered[lab], vm):
            assert_valid(validators[doc["apiVersion"]], doc, f"{lab}/{vm} {doc['kind']}")
            kinds.add(doc["kind"])
    assert kinds == {
        "InitConfiguration",
        "ClusterConfiguration",
        "JoinConfiguration",
        "KubeletConfiguration",
    }


@pytest.mark.parametrize("lab", LABS)
def test_calico_resources_validate_against_crds(lab: str, rendered: dict[str, Artifacts]) -> None:
    docs = list(yaml.safe_load_all(rendered[lab].cluster["calico.yaml"]))
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {"Installation", "APIServer"}
    installation = crd_validator("operator.tigera.io_installations.yaml")
    assert_valid(installation, by_kind["Installation"], "Installation")
    assert_valid(crd_validator("operator.tigera.io_apiservers.yaml"), by_kind["APIServer"], "API")
    broken = json.loads(json.dumps(by_kind["Installation"]))
    broken["spec"]["calicoNetwork"]["ipPools"][0]["encapsulation"] = "GRE"
    assert list(installation.iter_errors(broken)), "the CRD schema must catch a bad enum"


@pytest.mark.parametrize("lab", LABS)
def test_kube_vip_static_pods_are_valid_pods(lab: str, rendered: dict[str, Artifacts]) -> None:
    pods = 0
    for seed in rendered[lab].seeds.values():
        for entry in cloud_config(seed.user_data)["write_files"]:
            if entry["path"].startswith("/etc/homelab/kube-vip"):
                pod = yaml.safe_load(entry["content"])
                kubernetes_validate.validate(pod, "1.29.0", strict=True)
                pods += 1
    expected = 4 if lab == "ha-lab" else 0  # 3 steady + 1 init-time variant
    assert pods == expected


def test_kubernetes_validate_would_catch_a_broken_pod() -> None:
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "x"},
                "spec": {"hostNetwork": "y"},
            },
            "1.29.0",
            strict=True,
        )
