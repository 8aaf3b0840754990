"""The Helm values of the monitoring stack's charts, from the spec (pure).

Keys are the charts' own (research/MONITORING-PINS.md §2-4):

- kube-prometheus-stack: Prometheus retention and a PVC of ``storage_size``; every
  ``*SelectorNilUsesHelmValues: false`` (the default ``true`` ignores ServiceMonitors, rules and
  probes without this release's label); Alertmanager's configuration from the Secret ``up``
  writes (the lab's routes, with receiver secrets from the environment); Grafana's admin from
  an existing Secret, its Service a LoadBalancer from the pool (a NodePort in a lab without
  ``load_balancer``), the dashboard sidecar watching
  every namespace, Loki as a second datasource; the control-plane endpoints and ports that
  match kubeadm's metrics binds (``core.render.kubeadm``); the lab's alert rules as a
  PrometheusRule (``additionalPrometheusRulesMap``); prometheus-pve-exporter scraped once per
  Proxmox node through ``additionalScrapeConfigs``.
- Loki (the community chart): Monolithic, one replica (more need object storage), filesystem
  storage with the required ``schemaConfig``, replication factor 1, no auth, no gateway,
  caches or canary (a home lab's single binary needs none of them).
- Alloy: one replica (a DaemonSet without clustering would tail each pod once per node),
  pod logs through the API server (``loki.source.kubernetes``) to Loki. No Promtail (end of
  life 2026-03-02).
"""

from __future__ import annotations

from typing import Any

from homelab.core.monitoring.rules import rule_groups
from homelab.core.render.kubeadm import ETCD_METRICS_PORT, KUBE_PROXY_METRICS_PORT
from homelab.core.spec.models import LabSpec
from homelab.core.spec.monitoring import MonitoringSpec

NAMESPACE = "monitoring"
GRAFANA_ADMIN_SECRET = "homelab-grafana-admin"  # noqa: S105  (a Secret's name)
GRAFANA_USER_KEY = "admin-user"
GRAFANA_PASSWORD_KEY = "admin-password"  # noqa: S105  (a key's name)
GRAFANA_ADMIN_USER = "admin"
ALERTMANAGER_SECRET = "homelab-alertmanager"  # noqa: S105  (a Secret's name)
ALERTMANAGER_KEY = "alertmanager.yaml"
PVE_EXPORTER = "homelab-pve-exporter"
PVE_EXPORTER_SECRET = "homelab-pve-exporter"  # noqa: S105  (a Secret's name)
PVE_EXPORTER_PORT = 9221
CONTROLLER_MANAGER_PORT = 10257  # kube-controller-manager's secure port
SCHEDULER_PORT = 10259  # kube-scheduler's secure port
LOKI_RELEASE = "loki"
LOKI_PORT = 3100
LOKI_URL = f"http://{LOKI_RELEASE}.{NAMESPACE}.svc.cluster.local:{LOKI_PORT}"
LOKI_PUSH = f"{LOKI_URL}/loki/api/v1/push"
PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
DASHBOARD_LABEL = "grafana_dashboard"
SCHEMA_FROM = "2024-04-01"


def _monitoring(spec: LabSpec) -> MonitoringSpec:
    assert spec.monitoring is not None, "the stack is rendered only with monitoring.enabled"
    return spec.monitoring


def _endpoints(spec: LabSpec, names: list[str], port: int) -> dict[str, Any]:
    return {
        "enabled": True,
        "endpoints": [str(spec.vms[name].ip) for name in names],
        "service": {"enabled": True, "port": port, "targetPort": port},
    }


def pve_targets(spec: LabSpec) -> list[str]:
    """One exporter target per Proxmox node: the endpoint's host for a single node, else the
    node names (which a lab's DNS resolves, as Proxmox's own cluster does)."""
    if len(spec.proxmox.nodes) == 1:
        authority = spec.proxmox.endpoint.removeprefix("https://").rstrip("/")
        if authority.startswith("["):  # [IPv6]:port
            return [authority[1 : authority.index("]")]]
        return [authority.split(":", 1)[0]]
    return list(spec.proxmox.nodes)


def scrape_configs(spec: LabSpec) -> list[dict[str, Any]]:
    """Prometheus jobs for what lives outside the cluster."""
    mon = _monitoring(spec)
    jobs: list[dict[str, Any]] = []
    if mon.scrape.pve_nodes:
        jobs.append(
            {
                "job_name": "pve",
                "metrics_path": "/pve",
                "params": {"module": ["default"], "cluster": ["1"], "node": ["1"]},
                "static_configs": [{"targets": pve_targets(spec)}],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {
                        "target_label": "__address__",
                        "replacement": f"{PVE_EXPORTER}.{NAMESPACE}.svc:{PVE_EXPORTER_PORT}",
                    },
                ],
            }
        )
    if mon.scrape.opnsense_node_exporter is not None:
        jobs.append(
            {
                "job_name": "opnsense",
                "static_configs": [{"targets": [mon.scrape.opnsense_node_exporter]}],
            }
        )
    if mon.scrape.homelab_exporter is not None:
        # the tool's own facts (drift, backups, certificates, etcd snapshots) live beside its
        # state store, so `homelab metrics` runs there and Prometheus scrapes it
        jobs.append(
            {
                "job_name": "homelab",
                "static_configs": [{"targets": [mon.scrape.homelab_exporter]}],
            }
        )
    return jobs


def kube_prometheus_stack_values(spec: LabSpec) -> dict[str, Any]:
    mon = _monitoring(spec)
    everyone = list(spec.vms)
    planes = spec.control_planes
    storage = {
        "volumeClaimTemplate": {
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": mon.storage_size}},
            }
        }
    }
    prometheus_spec: dict[str, Any] = {
        "retention": mon.retention,
        "storageSpec": storage,
        "externalLabels": {"lab": spec.name},
        "additionalScrapeConfigs": scrape_configs(spec),
    }
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"):
        prometheus_spec[f"{kind}SelectorNilUsesHelmValues"] = False
    return {
        "prometheus": {"prometheusSpec": prometheus_spec},
        "alertmanager": {
            "alertmanagerSpec": {"useExistingSecret": True, "configSecret": ALERTMANAGER_SECRET}
        },
        "grafana": {
            "admin": {
                "existingSecret": GRAFANA_ADMIN_SECRET,
                "userKey": GRAFANA_USER_KEY,
                "passwordKey": GRAFANA_PASSWORD_KEY,
            },
            # an address from the pool; without a pool, a node port on every node
            "service": {"type": "LoadBalancer" if spec.kubernetes.load_balancer else "NodePort"},
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                    "searchNamespace": "ALL",
                },
                "datasources": {"defaultDatasourceEnabled": True, "uid": PROMETHEUS_UID},
            },
            "additionalDataSources": [
                {
                    "name": "Loki",
                    "type": "loki",
                    "uid": LOKI_UID,
                    "access": "proxy",
                    "url": LOKI_URL,
                }
            ],
        },
        "kubeEtcd": _endpoints(spec, planes, ETCD_METRICS_PORT),
        "kubeControllerManager": _endpoints(spec, planes, CONTROLLER_MANAGER_PORT),
        "kubeScheduler": _endpoints(spec, planes, SCHEDULER_PORT),
        "kubeProxy": _endpoints(spec, everyone, KUBE_PROXY_METRICS_PORT),
        "additionalPrometheusRulesMap": {"homelab": {"groups": rule_groups(mon.alerts)}},
    }


def loki_values(spec: LabSpec) -> dict[str, Any]:
    mon = _monitoring(spec)
    off = {"replicas": 0}
    return {
        "deploymentMode": "Monolithic",
        "loki": {
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {
                "configs": [
                    {
                        "from": SCHEMA_FROM,
                        "store": "tsdb",
                        "object_store": "filesystem",
                        "schema": "v13",
                        "index": {"prefix": "loki_index_", "period": "24h"},
                    }
                ]
            },
            "limits_config": {"retention_period": mon.retention},
            "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
        },
        "singleBinary": {"replicas": 1, "persistence": {"size": mon.storage_size}},
        "read": off,
        "write": off,
        "backend": off,
        "gateway": {"enabled": False},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
    }


def alloy_config(spec: LabSpec) -> str:
    """Alloy's configuration: every pod's logs, labelled, through the API server to Loki."""
    return f"""\
discovery.kubernetes "pods" {{
  role = "pod"
}}

discovery.relabel "pods" {{
  targets = discovery.kubernetes.pods.targets

  rule {{
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }}
}}

loki.source.kubernetes "pods" {{
  targets    = discovery.relabel.pods.output
  forward_to = [loki.write.lab.receiver]
}}

loki.write "lab" {{
  endpoint {{
    url = "{LOKI_PUSH}"
  }}
  external_labels = {{ lab = "{spec.name}" }}
}}
"""


def alloy_values(spec: LabSpec) -> dict[str, Any]:
    return {
        "controller": {"type": "deployment", "replicas": 1},
        "alloy": {"configMap": {"create": True, "content": alloy_config(spec)}},
    }
