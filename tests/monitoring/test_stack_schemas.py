"""The rendered stack's objects against upstream's own schemas (vendored in tests/data).

Flux's CRDs (HelmRelease, HelmRepository, OCIRepository) are read as the API server reads them,
with one strictness more: a field the schema does not declare is an error here (the API server
would prune it silently, which is how a misspelt key goes unnoticed). Their CEL rules
(``x-kubernetes-validations``) that matter here are checked beside: a HelmRelease takes
exactly one of ``chart`` and ``chartRef``. The Loki chart's values are checked against its
``values.schema.json``, as ``helm install`` does.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml

from homelab.core.monitoring.stack import stack_resources
from homelab.core.monitoring.values import loki_values
from homelab.core.render.versions import versions_for
from homelab.core.spec.models import LabSpec
from tests.support.paths import EXAMPLES, UPSTREAM

CRDS = {
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease"): "helm.toolkit.fluxcd.io_helmreleases.yaml",
    ("source.toolkit.fluxcd.io/v1", "HelmRepository"): (
        "source.toolkit.fluxcd.io_helmrepositories.yaml"
    ),
    ("source.toolkit.fluxcd.io/v1", "OCIRepository"): (
        "source.toolkit.fluxcd.io_ocirepositories.yaml"
    ),
}


def spec() -> LabSpec:
    data = yaml.safe_load((EXAMPLES / "monitored-lab.yaml").read_text(encoding="utf-8"))
    return LabSpec.model_validate(data)


def _strict(schema: Any) -> Any:
    """The schema with undeclared fields refused (unless it preserves unknown fields)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((UPSTREAM / "flux" / CRDS[(api_version, kind)]).read_text())
    version = api_version.split("/")[1]
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    assert served["served"] and served["storage"], f"{api_version} is not Flux's stored version"
    schema: dict[str, Any] = _strict(served["schema"]["openAPIV3Schema"])
    return schema


def flux_objects() -> list[dict[str, Any]]:
    return [
        o
        for o in stack_resources(spec(), versions_for("1.29"))
        if (o["apiVersion"], o["kind"]) in CRDS
    ]


def validate(obj: dict[str, Any]) -> None:
    jsonschema.validate(obj, crd_schema(obj["apiVersion"], obj["kind"]))
    if obj["kind"] == "HelmRelease":
        spec = obj["spec"]
        assert ("chart" in spec) != ("chartRef" in spec), "exactly one of chart and chartRef"


def test_every_flux_kind_of_the_stack_is_rendered() -> None:
    kinds = sorted({(o["kind"], o["metadata"]["name"]) for o in flux_objects()})
    assert kinds == [
        ("HelmRelease", "alloy"),
        ("HelmRelease", "kube-prometheus-stack"),
        ("HelmRelease", "loki"),
        ("HelmRepository", "grafana"),
        ("HelmRepository", "grafana-community"),
        ("OCIRepository", "kube-prometheus-stack"),
    ]


@pytest.mark.parametrize(
    "obj", flux_objects(), ids=lambda o: f"{o['kind']}-{o['metadata']['name']}"
)
def test_the_rendered_flux_objects_validate_against_flux_crds(obj: dict[str, Any]) -> None:
    validate(obj)
    if obj["kind"] == "HelmRelease":
        assert obj["spec"]["interval"], "helm-controller requires an interval"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "interval"), None),  # required
        (("spec", "chart", "spec", "verison"), "1.0.0"),  # a misspelt field
        (("spec", "install", "remediation", "retries"), "three"),  # a wrong type
    ],
)
def test_the_schemas_refuse_what_flux_refuses(path: tuple[str, ...], value: Any) -> None:
    loki = next(o for o in flux_objects() if o["metadata"]["name"] == "loki")
    broken = copy.deepcopy(loki)
    parent = broken
    for key in path[:-1]:
        parent = parent.setdefault(key, {})
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_a_release_with_both_chart_and_chart_ref_is_refused() -> None:
    kps = next(o for o in flux_objects() if o["kind"] == "HelmRelease")
    both = copy.deepcopy(kps)
    both["spec"]["chart"] = {"spec": {"chart": "x", "sourceRef": {"kind": "HelmRepository"}}}
    with pytest.raises((AssertionError, jsonschema.ValidationError)):
        validate(both)


@cache
def loki_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((UPSTREAM / "loki" / "values.schema.json").read_text())
    return schema


def test_the_loki_values_validate_against_the_charts_values_schema() -> None:
    values = loki_values(spec())
    jsonschema.validate(values, loki_schema())
    assert values["deploymentMode"] == "Monolithic"
    assert values["singleBinary"]["replicas"] == 1
    assert all(values[part]["replicas"] == 0 for part in ("read", "write", "backend"))
    assert values["loki"]["schemaConfig"]["configs"][0]["object_store"] == "filesystem"
    assert values["loki"]["auth_enabled"] is False


@pytest.mark.parametrize(
    ("part", "key", "value"), [("singleBinary", "replicas", "1"), ("loki", "auth_enabled", "no")]
)
def test_the_loki_schema_refuses_wrong_types(part: str, key: str, value: str) -> None:
    values = copy.deepcopy(loki_values(spec()))
    values[part][key] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(values, loki_schema())
