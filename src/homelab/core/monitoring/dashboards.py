"""Grafana dashboards as code: JSON files shipped with the package, one ConfigMap each.

``proxmox.json`` reads prometheus-pve-exporter's ``pve_*`` series, ``cluster.json`` those of
kube-state-metrics, node-exporter and the control plane, ``lab.json`` the tool's own
(``core.monitoring.metrics``). Grafana's dashboard sidecar (kube-prometheus-stack) loads every
ConfigMap labelled ``grafana_dashboard: "1"`` in any namespace.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from homelab.core.monitoring.values import DASHBOARD_LABEL, NAMESPACE

DASHBOARDS = ("proxmox", "cluster", "lab")


def dashboard(name: str) -> dict[str, Any]:
    """The dashboard ``name`` (one of ``DASHBOARDS``) as Grafana's JSON model."""
    text = resources.files(__package__).joinpath("dashboards", f"{name}.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def dashboard_configmaps() -> list[dict[str, Any]]:
    """One ConfigMap per dashboard, labelled for Grafana's sidecar."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"homelab-dashboard-{name}",
                "namespace": NAMESPACE,
                "labels": {DASHBOARD_LABEL: "1", "app.kubernetes.io/part-of": "homelab"},
            },
            "data": {f"{name}.json": json.dumps(dashboard(name), indent=1, sort_keys=True)},
        }
        for name in DASHBOARDS
    ]
