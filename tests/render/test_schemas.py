"""Every rendered document validates against the upstream schema of what reads it."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT4, DRAFT7

from homelab.core.render.artifacts import Artifacts
from tests.conftest import SHARED
from tests.render.support import LABS, cloud_config, kubeadm_docs

SCHEMAS = SHARED / "schemas"
CALICO = SCHEMAS / "calico" / "calico-v3.28.5"
Validators = tuple[jsonschema.protocols.Validator, ...]


def local_validator(path: Path, spec: Any, cls: Any) -> jsonschema.protocols.Validator:
    """A validator whose registry resolves the schema's own ``#/$defs/...`` refs."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    uri = path.resolve().as_uri()
    registry: Registry[Any] = Registry().with_resource(uri, spec.create_resource(schema))
    validator: jsonschema.protocols.Validator = cls({"$ref": uri}, registry=registry)
    return validator


def assert_valid(validator: jsonschema.protocols.Validator, doc: Any, what: str) -> None:
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, f"{what}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:5]
    )


def all_seeds(rendered: dict[str, Artifacts]) -> list[tuple[str, str]]:
    return [(lab, vm) for lab in LABS for vm in rendered[lab].seeds]


@functools.cache
def cloud_validators() -> Validators:
    """HEAD (what an updated 24.04 runs) and 24.1.3 (what 24.04 GA shipped)."""
    paths = [
        SCHEMAS / "cloud-init" / "schema-cloud-config-v1.json",
        SCHEMAS / "cloud-init" / "24.1.3" / "schema-cloud-config-v1.json",
    ]
    return tuple(local_validator(p, DRAFT4, jsonschema.Draft4Validator) for p in paths)


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
    path = SCHEMAS / "cloud-init" / "schema-network-config-v2.json"
    validator = local_validator(path, DRAFT7, jsonschema.Draft7Validator)
    for lab, vm in all_seeds(rendered):
        doc = yaml.safe_load(rendered[lab].seeds[vm].network_config)
        assert_valid(validator, doc, f"{lab}/{vm}/network-config")
    assert list(validator.iter_errors({"version": 2, "ethernets": {"eth0": {"dhcp4": "x"}}}))


@functools.cache
def component_validators() -> dict[str, jsonschema.protocols.Validator]:
    kubeadm = SCHEMAS / "kubeadm"
    by_api = {
        "kubeadm.k8s.io/v1beta3": kubeadm / "kubeadm.k8s.io_v1beta3.schema.json",
        "kubelet.config.k8s.io/v1beta1": kubeadm
        / "kubelet.config.k8s.io_v1beta1.v1.29.schema.json",
        "kubeproxy.config.k8s.io/v1alpha1": (
            kubeadm / "kubeproxy.config.k8s.io_v1alpha1.v1.29.schema.json"
        ),
    }
    return {
        api: local_validator(p, DRAFT7, jsonschema.Draft7Validator) for api, p in by_api.items()
    }


def assert_seeds_valid(artifacts: Artifacts) -> None:
    """user-data (24.1.3 and HEAD), network-config and kubeadm documents of every VM."""
    cloud = cloud_validators()
    network = local_validator(
        SCHEMAS / "cloud-init" / "schema-network-config-v2.json", DRAFT7, jsonschema.Draft7Validator
    )
    for vm, seed in artifacts.seeds.items():
        for validator in cloud:
            assert_valid(validator, cloud_config(seed.user_data), f"{vm}/user-data")
        assert_valid(network, yaml.safe_load(seed.network_config), f"{vm}/network-config")
        for doc in kubeadm_docs(artifacts, vm):
            assert_valid(component_validators()[doc["apiVersion"]], doc, f"{vm} {doc['kind']}")


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


@functools.cache
def crd_validator(name: str) -> jsonschema.protocols.Validator:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((CALICO / name).read_text(encoding="utf-8"), Loader=loader)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return jsonschema.Draft7Validator(schema)


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
