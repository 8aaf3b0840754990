"""Monitoring wires the cluster's metrics: kubeadm opens the endpoints it binds to 127.0.0.1,
kube-proxy's metrics address, Felix's metrics; all validated by the upstream schemas."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from homelab.core.render.lab import render_lab
from homelab.core.spec.models import LabSpec
from homelab.core.spec.monitoring import MonitoringSpec
from tests.render.schemas import assert_valid, component_validators
from tests.render.support import kubeadm_docs, load_example, pki_for


def monitored(lab: str, enabled: bool = True) -> LabSpec:
    spec = load_example(lab)
    return spec.model_copy(update={"monitoring": MonitoringSpec(enabled=enabled)})


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


@pytest.mark.parametrize("lab", ["home-lab", "ha-lab"])
def test_monitoring_opens_the_metrics_endpoints_in_valid_kubeadm_documents(lab: str) -> None:
    spec = monitored(lab)
    artifacts = render_lab(spec, pki_for(lab))
    init_vm = spec.control_planes[0]
    docs = by_kind(kubeadm_docs(artifacts, init_vm))
    validators = component_validators()
    for doc in docs.values():
        assert_valid(validators[doc["apiVersion"]], doc, f"{lab}/{init_vm} {doc['kind']}")
    cluster = docs["ClusterConfiguration"]
    assert cluster["controllerManager"] == {"extraArgs": {"bind-address": "0.0.0.0"}}
    assert cluster["scheduler"] == {"extraArgs": {"bind-address": "0.0.0.0"}}
    assert cluster["etcd"]["local"]["extraArgs"] == {"listen-metrics-urls": "http://0.0.0.0:2381"}
    assert docs["KubeProxyConfiguration"]["metricsBindAddress"] == "0.0.0.0:10249"
    felix = [d for d in yaml.safe_load_all(artifacts.cluster["calico.yaml"])][-1]
    assert felix["kind"] == "FelixConfiguration" and felix["metadata"]["name"] == "default"
    assert felix["spec"] == {"prometheusMetricsEnabled": True}


def test_a_typo_in_the_args_would_be_caught_by_the_schema() -> None:
    artifacts = render_lab(monitored("home-lab"), pki_for("home-lab"))
    docs = by_kind(kubeadm_docs(artifacts, "k8s-master-1"))
    broken = dict(docs["KubeProxyConfiguration"], metricsBindAdress="0.0.0.0:10249")
    validator = component_validators()["kubeproxy.config.k8s.io/v1alpha1"]
    assert list(validator.iter_errors(broken)), "the schema rejects an unknown field"


@pytest.mark.parametrize("spec", [monitored("home-lab", False), load_example("home-lab")])
def test_without_monitoring_nothing_listens_more_widely(spec: LabSpec) -> None:
    artifacts = render_lab(spec, pki_for("home-lab"))
    docs = by_kind(kubeadm_docs(artifacts, "k8s-master-1"))
    assert "KubeProxyConfiguration" not in docs
    cluster = docs["ClusterConfiguration"]
    assert not {"controllerManager", "scheduler", "etcd"} & set(cluster)
    kinds = [d["kind"] for d in yaml.safe_load_all(artifacts.cluster["calico.yaml"])]
    assert kinds == ["Installation", "APIServer"]
