"""Flux in the simulated cluster: its install.yaml from the mirror, then the source- and
helm-controller's status with Flux's own texts (objects written here by hand, not by the tool)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from homelab_sim.kube import manifest
from homelab_sim.kube.store import YAML_LOADER
from tests.sim.kube.support import Kube, install_calico, install_metallb

NS = "monitoring"
HELM = "/apis/helm.toolkit.fluxcd.io/v2/namespaces/monitoring/helmreleases"
SOURCES = "/apis/source.toolkit.fluxcd.io/v1/namespaces/monitoring"
LOKI_VALUES = {
    "deploymentMode": "Monolithic",
    "loki": {
        "storage": {"type": "filesystem"},
        "schemaConfig": {"configs": [{"from": "2024-04-01", "store": "tsdb", "schema": "v13"}]},
    },
    "singleBinary": {"replicas": 1},
}


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        (c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind), {}
    )
    return found


def install_flux(kube: Kube) -> None:
    install_calico(kube)
    data = manifest("flux", "v2.9.4", "install.yaml")
    assert data is not None
    docs = [d for d in yaml.load_all(data, Loader=YAML_LOADER) if d]
    for doc in sorted(docs, key=lambda d: d["kind"] != "CustomResourceDefinition"):
        kube.apply(doc, force=True)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    kube.settle(30)


def repo(name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"interval": "1h", "url": url},
    }


def release(name: str, chart: str, version: str, source: str, values: Any = None) -> Any:
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "interval": "30m",
            "chart": {
                "spec": {
                    "chart": chart,
                    "version": version,
                    "sourceRef": {"kind": "HelmRepository", "name": source},
                }
            },
            "install": {"remediation": {"retries": 3}},
            "values": values or {},
        },
    }


def test_the_mirror_serves_flux_install_yaml_of_known_releases_only() -> None:
    data = manifest("flux", "v2.9.4", "install.yaml")
    assert data is not None
    docs = [d for d in yaml.load_all(data, Loader=YAML_LOADER) if d]
    images = {
        c["image"]
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert "ghcr.io/fluxcd/helm-controller:v1.6.3" in images
    assert "ghcr.io/fluxcd/source-controller:v1.9.4" in images
    assert len(images) == 7
    crds = {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert {"helmreleases.helm.toolkit.fluxcd.io", "ocirepositories.source.toolkit.fluxcd.io"} <= (
        crds
    )
    policies = {d["metadata"]["name"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert policies == {"allow-egress", "allow-scraping", "allow-webhooks"}
    assert manifest("flux", "v2.99.0", "install.yaml") is None


def test_a_release_of_a_known_chart_installs_and_its_grafana_gets_a_pool_address(
    kube: Kube,
) -> None:
    install_flux(kube)
    install_metallb(kube, ["10.0.20.200-10.0.20.250"])
    kube.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "kps", "namespace": NS},
            "spec": {
                "interval": "1h",
                "url": "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack",
                "ref": {"tag": "88.5.3"},
            },
        }
    )
    kube.apply(
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "kps", "namespace": NS},
            "spec": {
                "interval": "30m",
                "chartRef": {"kind": "OCIRepository", "name": "kps"},
                "values": {"grafana": {"service": {"type": "LoadBalancer"}}},
            },
        }
    )
    kube.settle(10)
    hr = kube.get(f"{HELM}/kps")
    assert condition(hr, "Ready") | {"lastTransitionTime": None} == {
        "type": "Ready",
        "status": "True",
        "reason": "InstallSucceeded",
        "message": "Helm install succeeded for release monitoring/kps.v1 with chart "
        "kube-prometheus-stack@88.5.3",
        "observedGeneration": 1,
        "lastTransitionTime": None,
    }
    assert condition(hr, "Released")["status"] == "True"
    assert hr["status"]["history"][0]["chartVersion"] == "88.5.3"
    svc = kube.get(f"/api/v1/namespaces/{NS}/services/kps-grafana")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["status"]["loadBalancer"]["ingress"][0]["ip"] == "10.0.20.200"
    oci = kube.get(f"{SOURCES}/ocirepositories/kps")
    assert condition(oci, "Ready")["message"].startswith("stored artifact for digest '88.5.3@")
    before = hr["metadata"]["resourceVersion"]
    kube.settle(5)
    assert kube.get(f"{HELM}/kps")["metadata"]["resourceVersion"] == before, "stable when idle"


def test_a_values_change_is_an_upgrade_and_a_dependency_waits(kube: Kube) -> None:
    install_flux(kube)
    kube.apply(repo("gc", "https://grafana-community.github.io/helm-charts"))
    kube.apply(repo("grafana", "https://grafana.github.io/helm-charts"))
    alloy = release("alloy", "alloy", "1.11.1", "grafana")
    alloy["spec"]["dependsOn"] = [{"name": "loki"}]
    kube.apply(alloy)
    kube.settle(5)
    waiting = condition(kube.get(f"{HELM}/alloy"), "Ready")
    assert (waiting["reason"], waiting["message"]) == (
        "DependencyNotReady",
        "dependency 'monitoring/loki' is not ready",
    )
    kube.apply(release("loki", "loki", "18.11.0", "gc", LOKI_VALUES))
    kube.settle(5)
    assert condition(kube.get(f"{HELM}/alloy"), "Ready")["reason"] == "InstallSucceeded"
    changed = release("loki", "loki", "18.11.0", "gc", {**LOKI_VALUES, "test": {"enabled": False}})
    kube.apply(changed)
    kube.settle(5)
    loki = kube.get(f"{HELM}/loki")
    ready = condition(loki, "Ready")
    assert ready["reason"] == "UpgradeSucceeded"
    assert ready["message"] == (
        "Helm upgrade succeeded for release monitoring/loki.v2 with chart loki@18.11.0"
    )
    assert [h["status"] for h in loki["status"]["history"]] == ["deployed", "superseded"]


def test_a_chart_version_the_repository_lacks_stalls_its_helmchart(kube: Kube) -> None:
    install_flux(kube)
    kube.apply(repo("gc", "https://grafana-community.github.io/helm-charts"))
    kube.apply(release("loki", "loki", "99.0.0", "gc", LOKI_VALUES))
    kube.settle(5)
    chart = kube.get(f"{SOURCES}/helmcharts/monitoring-loki")
    text = (
        "invalid chart reference: failed to get chart version for remote reference: "
        "no 'loki' chart with version matching '99.0.0' found"
    )
    assert condition(chart, "Stalled") | {"lastTransitionTime": None} == {
        "type": "Stalled",
        "status": "True",
        "reason": "InvalidChartReference",
        "message": text,
        "observedGeneration": 1,
        "lastTransitionTime": None,
    }
    ready = condition(kube.get(f"{HELM}/loki"), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "SourceNotReady")
    assert ready["message"] == f"HelmChart 'monitoring/monitoring-loki' is not ready: {text}"


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"loki": {"storage": {"type": "filesystem"}}}, "You must provide a schema_config"),
        (
            {**LOKI_VALUES, "singleBinary": {"replicas": 2}},
            "Cannot run more than 1 Monolithic replica without an object storage backend.",
        ),
    ],
)
def test_a_chart_whose_templates_fail_stalls_after_its_retries(
    kube: Kube, values: dict[str, Any], text: str
) -> None:
    install_flux(kube)
    kube.apply(repo("gc", "https://grafana-community.github.io/helm-charts"))
    kube.apply(release("loki", "loki", "18.11.0", "gc", values))
    kube.settle(5)
    hr = kube.get(f"{HELM}/loki")
    assert condition(hr, "Stalled")["reason"] == "RetriesExceeded"
    assert condition(hr, "Stalled")["message"] == "Failed to install after 4 attempt(s)"
    ready = condition(hr, "Ready")
    assert ready["reason"] == "InstallFailed"
    assert ready["message"].startswith(
        "Helm install failed for release monitoring/loki with chart loki@18.11.0: "
        "execution error at (loki/templates/validate.yaml:"
    )
    assert text in ready["message"]
    assert hr["status"]["installFailures"] == 4


def test_unknown_sources_are_not_ready_with_flux_texts(kube: Kube) -> None:
    install_flux(kube)
    kube.apply(repo("nowhere", "https://charts.invalid/helm"))
    kube.apply(
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "kps", "namespace": NS},
            "spec": {
                "interval": "1h",
                "url": "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack",
                "ref": {"tag": "1.0.0"},
            },
        }
    )
    kube.settle(5)
    helm = condition(kube.get(f"{SOURCES}/helmrepositories/nowhere"), "Ready")
    assert (helm["status"], helm["reason"]) == ("False", "Failed")
    assert helm["message"].startswith("failed to fetch Helm repository index: ")
    oci = condition(kube.get(f"{SOURCES}/ocirepositories/kps"), "Ready")
    assert (oci["status"], oci["reason"]) == ("False", "OCIArtifactPullFailed")
    assert "MANIFEST_UNKNOWN: manifest unknown; unknown tag=1.0.0" in oci["message"]


def test_nothing_happens_before_the_flux_controllers_run(kube: Kube) -> None:
    data = manifest("flux", "v2.9.4", "install.yaml")
    assert data is not None
    for doc in yaml.load_all(data, Loader=YAML_LOADER):
        if doc and doc["kind"] in ("CustomResourceDefinition", "Namespace"):
            kube.apply(doc, force=True)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    kube.apply(repo("gc", "https://grafana-community.github.io/helm-charts"))
    kube.settle(5)
    assert "status" not in kube.get(f"{SOURCES}/helmrepositories/gc") or not condition(
        kube.get(f"{SOURCES}/helmrepositories/gc"), "Ready"
    )


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"interval": None}, "spec.interval: Required value"),
        (
            {"interval": "1 hour"},
            'spec.interval: Invalid value: "1 hour": spec.interval in body should match '
            "'^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$'",
        ),
        (
            {"chartRef": {"kind": "OCIRepository", "name": "x"}},
            'spec: Invalid value: "object": either chart or chartRef must be set',
        ),
        ({"chart": None}, 'spec: Invalid value: "object": either chart or chartRef must be set'),
    ],
)
def test_the_api_server_refuses_what_the_helmrelease_crd_refuses(
    kube: Kube, change: dict[str, Any], text: str
) -> None:
    install_flux(kube)
    doc = release("loki", "loki", "18.11.0", "gc")
    for key, value in change.items():
        if value is None:
            del doc["spec"][key]
        else:
            doc["spec"][key] = value
    response = kube.call(
        "PATCH",
        f"{HELM}/loki",
        yaml.safe_dump(doc),
        content_type="application/apply-patch+yaml",
        query="fieldManager=homelab&force=true",
    )
    assert response.status == 422
    assert response.json()["message"] == f'HelmRelease "loki" is invalid: {text}'


def test_a_release_whose_source_is_missing_or_not_ready_says_which(kube: Kube) -> None:
    install_flux(kube)
    kube.apply(release("loki", "loki", "18.11.0", "absent", LOKI_VALUES))
    oci_release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "kps", "namespace": NS},
        "spec": {"interval": "30m", "chartRef": {"kind": "OCIRepository", "name": "nowhere"}},
    }
    kube.apply(oci_release)
    kube.settle(5)
    chart = condition(kube.get(f"{SOURCES}/helmcharts/monitoring-loki"), "Ready")
    assert chart["message"] == (
        'failed to get source: helmrepositories.source.toolkit.fluxcd.io "absent" not found'
    )
    loki = condition(kube.get(f"{HELM}/loki"), "Ready")
    assert (loki["reason"], loki["message"]) == (
        "SourceNotReady",
        "HelmChart 'monitoring/monitoring-loki' is not ready: " + chart["message"],
    )
    kps = condition(kube.get(f"{HELM}/kps"), "Ready")
    assert (kps["reason"], kps["message"]) == (
        "ArtifactFailed",
        'could not get Source object: ocirepositories.source.toolkit.fluxcd.io "nowhere" not found',
    )
    kube.apply(repo("absent", "https://charts.invalid/helm"))
    kube.settle(5)
    chart = condition(kube.get(f"{SOURCES}/helmcharts/monitoring-loki"), "Ready")
    assert chart["message"] == (
        "failed to get source: HelmRepository 'monitoring/absent' is not ready"
    )
    kube.apply(repo("absent", "https://grafana-community.github.io/helm-charts"))
    kube.settle(5)
    assert condition(kube.get(f"{HELM}/loki"), "Ready")["reason"] == "InstallSucceeded"
