"""Validators of rendered documents against the upstream schemas of what reads them.

The schemas come from ``tests/data/`` (vendored, see its README) or ``../shared``; a test whose
schema is on neither is skipped (fails under CI) -- see ``tests/support/upstream.py``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT4, DRAFT7

from homelab.core.render.artifacts import Artifacts
from tests.render.support import cloud_config, kubeadm_docs
from tests.support.upstream import upstream_file

CALICO = "schemas/calico/calico-v3.28.5"
Validators = tuple[jsonschema.protocols.Validator, ...]


def schema(relative: str) -> Path:
    """``schemas/<relative>``: vendored in tests/data/, else from ../shared (else skipped)."""
    return upstream_file(f"schemas/{relative}")


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


@functools.cache
def cloud_validators() -> Validators:
    """HEAD (what an updated 24.04 runs) and 24.1.3 (what 24.04 GA shipped)."""
    paths = [
        schema("cloud-init/schema-cloud-config-v1.json"),
        schema("cloud-init/24.1.3/schema-cloud-config-v1.json"),
    ]
    return tuple(local_validator(p, DRAFT4, jsonschema.Draft4Validator) for p in paths)


@functools.cache
def component_validators() -> dict[str, jsonschema.protocols.Validator]:
    by_api = {
        "kubeadm.k8s.io/v1beta3": schema("kubeadm/kubeadm.k8s.io_v1beta3.schema.json"),
        "kubeadm.k8s.io/v1beta4": schema("kubeadm/kubeadm.k8s.io_v1beta4.schema.json"),
        "kubelet.config.k8s.io/v1beta1": schema(
            "kubeadm/kubelet.config.k8s.io_v1beta1.v1.29.schema.json"
        ),
        "kubeproxy.config.k8s.io/v1alpha1": schema(
            "kubeadm/kubeproxy.config.k8s.io_v1alpha1.v1.29.schema.json"
        ),
    }
    return {
        api: local_validator(p, DRAFT7, jsonschema.Draft7Validator) for api, p in by_api.items()
    }


def assert_seeds_valid(artifacts: Artifacts) -> None:
    """user-data (24.1.3 and HEAD), network-config and kubeadm documents of every VM."""
    cloud = cloud_validators()
    network = local_validator(
        schema("cloud-init/schema-network-config-v2.json"), DRAFT7, jsonschema.Draft7Validator
    )
    for vm, seed in artifacts.seeds.items():
        for validator in cloud:
            assert_valid(validator, cloud_config(seed.user_data), f"{vm}/user-data")
        assert_valid(network, yaml.safe_load(seed.network_config), f"{vm}/network-config")
        for doc in kubeadm_docs(artifacts, vm):
            assert_valid(component_validators()[doc["apiVersion"]], doc, f"{vm} {doc['kind']}")


@functools.cache
def crd_validator(name: str) -> jsonschema.protocols.Validator:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(upstream_file(f"{CALICO}/{name}").read_text(encoding="utf-8"), Loader=loader)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return jsonschema.Draft7Validator(schema)
