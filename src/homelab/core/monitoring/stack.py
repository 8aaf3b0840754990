"""The monitoring stack as Kubernetes objects, rendered by the pure core.

Flux's controllers come from Flux's own release ``install.yaml`` at the pinned version (an
addon index entry, fetched like Calico's manifest); this module renders what the lab adds on
top, all in the ``monitoring`` namespace:

- the chart sources: an ``OCIRepository`` for kube-prometheus-stack (the form Flux recommends
  for OCI charts) and ``HelmRepository`` objects for the community Loki chart and Alloy;
- one ``HelmRelease`` (``helm.toolkit.fluxcd.io/v2``) per chart at its pinned version
  (``interval`` set; exactly one of ``chart.spec`` and ``chartRef``), with the values of
  ``core.monitoring.values``. Moving a pin moves ``chart.spec.version`` or the OCI tag, which
  helm-controller carries out as an upgrade;
- Grafana's dashboards as ConfigMaps (``core.monitoring.dashboards``);
- prometheus-pve-exporter (Deployment and Service) when ``scrape.pve_nodes``; its token comes
  from the Secret ``homelab-pve-exporter``.

No secret is in these objects: Grafana's admin password, Alertmanager's configuration (it may
carry receiver passwords) and the exporter's token are Secrets that ``up`` builds with
``grafana_admin_secret``/``alertmanager_secret``/``pve_exporter_secret`` from the environment
and sends to the API server only.
"""

from __future__ import annotations

import base64
from typing import Any

import yaml

from homelab.core.monitoring.dashboards import dashboard_configmaps
from homelab.core.monitoring.values import (
    ALERTMANAGER_KEY,
    ALERTMANAGER_SECRET,
    GRAFANA_ADMIN_SECRET,
    GRAFANA_ADMIN_USER,
    GRAFANA_PASSWORD_KEY,
    GRAFANA_USER_KEY,
    LOKI_RELEASE,
    NAMESPACE,
    PVE_EXPORTER,
    PVE_EXPORTER_PORT,
    PVE_EXPORTER_SECRET,
    alloy_values,
    kube_prometheus_stack_values,
    loki_values,
)
from homelab.core.render.versions import ComponentVersions
from homelab.core.secret import Secret
from homelab.core.spec.models import LabSpec

MONITORING_FILE = "monitoring.yaml"
HELM_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
KPS = "kube-prometheus-stack"
KPS_OCI = "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack"
GRAFANA_COMMUNITY = "https://grafana-community.github.io/helm-charts"
GRAFANA_CHARTS = "https://grafana.github.io/helm-charts"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
SOURCE_INTERVAL = "1h"
RELEASE_INTERVAL = "30m"
PART_OF = {"app.kubernetes.io/part-of": "homelab"}
#: The releases, in install order: (name, chart).
RELEASES = ((KPS, KPS), (LOKI_RELEASE, "loki"), ("alloy", "alloy"))


#: The Grafana Service kube-prometheus-stack's subchart creates (``<release>-grafana``).
GRAFANA_SERVICE = f"{KPS}-grafana"


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": dict(PART_OF)}


def sources(versions: ComponentVersions) -> list[dict[str, Any]]:
    oci: dict[str, Any] = {
        "apiVersion": SOURCE_API,
        "kind": "OCIRepository",
        "metadata": _meta(KPS),
        "spec": {
            "interval": SOURCE_INTERVAL,
            "url": KPS_OCI,
            "ref": {"tag": versions.kube_prometheus_stack},
            "layerSelector": {"mediaType": HELM_CHART_LAYER, "operation": "copy"},
        },
    }
    repos = [
        {
            "apiVersion": SOURCE_API,
            "kind": "HelmRepository",
            "metadata": _meta(name),
            "spec": {"interval": SOURCE_INTERVAL, "url": url},
        }
        for name, url in (("grafana-community", GRAFANA_COMMUNITY), ("grafana", GRAFANA_CHARTS))
    ]
    return [oci, *repos]


def _remediation() -> dict[str, Any]:
    return {
        "install": {"crds": "CreateReplace", "remediation": {"retries": 3}},
        "upgrade": {
            "crds": "CreateReplace",
            "cleanupOnFail": True,
            "remediation": {"retries": 3, "strategy": "rollback"},
        },
    }


def _chart_spec(chart: str, version: str, repository: str) -> dict[str, Any]:
    return {
        "spec": {
            "chart": chart,
            "version": version,
            "sourceRef": {"kind": "HelmRepository", "name": repository},
            "interval": SOURCE_INTERVAL,
        }
    }


def helm_releases(spec: LabSpec, versions: ComponentVersions) -> list[dict[str, Any]]:
    kps = {
        "apiVersion": HELM_API,
        "kind": "HelmRelease",
        "metadata": _meta(KPS),
        "spec": {
            "interval": RELEASE_INTERVAL,
            "chartRef": {"kind": "OCIRepository", "name": KPS},
            **_remediation(),
            "values": kube_prometheus_stack_values(spec),
        },
    }
    loki = {
        "apiVersion": HELM_API,
        "kind": "HelmRelease",
        "metadata": _meta(LOKI_RELEASE),
        "spec": {
            "interval": RELEASE_INTERVAL,
            "chart": _chart_spec("loki", versions.loki_chart, "grafana-community"),
            **_remediation(),
            "values": loki_values(spec),
        },
    }
    alloy = {
        "apiVersion": HELM_API,
        "kind": "HelmRelease",
        "metadata": _meta("alloy"),
        "spec": {
            "interval": RELEASE_INTERVAL,
            "chart": _chart_spec("alloy", versions.alloy_chart, "grafana"),
            "dependsOn": [{"name": LOKI_RELEASE}],
            **_remediation(),
            "values": alloy_values(spec),
        },
    }
    return [kps, loki, alloy]


def pve_exporter(versions: ComponentVersions) -> list[dict[str, Any]]:
    """prometheus-pve-exporter: its token from the Secret (PVE_USER/PVE_TOKEN_NAME/
    PVE_TOKEN_VALUE override the config file), listening on :9221."""
    labels = {"app.kubernetes.io/name": PVE_EXPORTER, **PART_OF}
    env = [
        {
            "name": key,
            "valueFrom": {"secretKeyRef": {"name": PVE_EXPORTER_SECRET, "key": key}},
        }
        for key in ("PVE_USER", "PVE_TOKEN_NAME", "PVE_TOKEN_VALUE")
    ]
    container = {
        "name": "pve-exporter",
        "image": versions.pve_exporter_image,
        "env": env,
        "ports": [{"name": "http", "containerPort": PVE_EXPORTER_PORT}],
        "readinessProbe": {"tcpSocket": {"port": PVE_EXPORTER_PORT}},
        # a writable /tmp for gunicorn beside the read-only root filesystem
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {**_meta(PVE_EXPORTER), "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": PVE_EXPORTER}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container], "volumes": [{"name": "tmp", "emptyDir": {}}]},
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {**_meta(PVE_EXPORTER), "labels": labels},
        "spec": {
            "selector": {"app.kubernetes.io/name": PVE_EXPORTER},
            "ports": [{"name": "http", "port": PVE_EXPORTER_PORT, "targetPort": "http"}],
        },
    }
    return [deployment, service]


def namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}


def stack_resources(spec: LabSpec, versions: ComponentVersions) -> list[dict[str, Any]]:
    """Every object of the stack the lab adds to Flux, in apply order."""
    assert spec.monitoring is not None and spec.monitoring.enabled
    objects = [namespace(), *sources(versions), *dashboard_configmaps()]
    if spec.monitoring.scrape.pve_nodes:
        objects += pve_exporter(versions)
    return objects + helm_releases(spec, versions)


def charts(versions: ComponentVersions) -> dict[str, str]:
    """The pinned chart versions by release, for the addon index and the plan."""
    return {
        KPS: versions.kube_prometheus_stack,
        LOKI_RELEASE: versions.loki_chart,
        "alloy": versions.alloy_chart,
    }


def _secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode("ascii") for k, v in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name),
        "type": "Opaque",
        "data": encoded,
    }


def grafana_admin_secret(password: Secret) -> dict[str, Any]:
    return _secret(
        GRAFANA_ADMIN_SECRET,
        {GRAFANA_USER_KEY: GRAFANA_ADMIN_USER, GRAFANA_PASSWORD_KEY: password.reveal()},
    )


def alertmanager_secret(config: dict[str, Any]) -> dict[str, Any]:
    """Alertmanager's configuration (``core.monitoring.alertmanager``) as the operator reads
    it from ``configSecret``."""
    return _secret(ALERTMANAGER_SECRET, {ALERTMANAGER_KEY: yaml.safe_dump(config, sort_keys=False)})


def pve_exporter_secret(user: str, token_name: str, token_value: Secret) -> dict[str, Any]:
    return _secret(
        PVE_EXPORTER_SECRET,
        {"PVE_USER": user, "PVE_TOKEN_NAME": token_name, "PVE_TOKEN_VALUE": token_value.reveal()},
    )
