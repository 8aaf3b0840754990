"""What the pure core renders of the monitoring stack: the addon index, the values the spec
drives, the wiring to kubeadm's binds, dashboards, and no secret in any rendered file."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from homelab.core.monitoring import metrics
from homelab.core.monitoring.dashboards import DASHBOARDS, dashboard, dashboard_configmaps
from homelab.core.monitoring.rules import rule_groups
from homelab.core.monitoring.stack import (
    MONITORING_FILE,
    alertmanager_secret,
    grafana_admin_secret,
    pve_exporter_secret,
    stack_resources,
)
from homelab.core.monitoring.values import (
    alloy_config,
    kube_prometheus_stack_values,
    pve_targets,
    scrape_configs,
)
from homelab.core.render.addons import addon_index
from homelab.core.render.kubeadm import ETCD_METRICS_PORT, KUBE_PROXY_METRICS_PORT
from homelab.core.render.versions import versions_for
from homelab.core.secret import Secret
from homelab.core.spec.models import LabSpec
from homelab.engine.kube.manifests import mirror_coordinates
from homelab.verbs.render import render_to_dir
from tests.render.support import pki_for
from tests.support.paths import EXAMPLES, UPSTREAM

PINS = versions_for("1.29")


def load(name: str = "monitored-lab", **monitoring: Any) -> LabSpec:
    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    if monitoring:
        data["monitoring"] = {**(data.get("monitoring") or {}), **monitoring}
    return LabSpec.model_validate(data)


def by_name(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def test_flux_is_an_addon_from_its_pinned_release_url_after_the_others() -> None:
    index = addon_index(load(), PINS)
    flux = index["addons"][-1]
    assert flux["component"] == "flux"
    assert flux["manifest"] == (
        "https://github.com/fluxcd/flux2/releases/download/v2.9.4/install.yaml"
    )
    assert flux["resources"] == [MONITORING_FILE]
    assert mirror_coordinates(flux) == ("flux", "v2.9.4", "install.yaml")
    assert flux["charts"] == {
        "kube-prometheus-stack": "88.5.3",
        "loki": "18.11.0",
        "alloy": "1.11.1",
    }


def test_without_monitoring_nothing_of_the_stack_is_rendered() -> None:
    spec = load("home-lab")
    assert [a["component"] for a in addon_index(spec, PINS)["addons"]] == ["calico", "metallb"]
    off = load(enabled=False)
    assert "flux" not in [a["component"] for a in addon_index(off, PINS)["addons"]]


def test_a_pin_change_moves_the_release_versions() -> None:
    moved = dataclasses.replace(
        PINS, kube_prometheus_stack="88.6.0", loki_chart="18.12.0", alloy_chart="1.12.0"
    )
    objects = stack_resources(load(), moved)
    assert by_name(objects, "OCIRepository", "kube-prometheus-stack")["spec"]["ref"] == {
        "tag": "88.6.0"
    }
    assert by_name(objects, "HelmRelease", "loki")["spec"]["chart"]["spec"]["version"] == "18.12.0"
    assert by_name(objects, "HelmRelease", "alloy")["spec"]["chart"]["spec"]["version"] == (
        "1.12.0"
    )


def test_the_spec_drives_retention_storage_selectors_and_alertmanager() -> None:
    values = kube_prometheus_stack_values(load(retention="30d", storage_size="50Gi"))
    prom = values["prometheus"]["prometheusSpec"]
    assert prom["retention"] == "30d"
    claim = prom["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"):
        assert prom[f"{kind}SelectorNilUsesHelmValues"] is False
    assert values["alertmanager"]["alertmanagerSpec"] == {
        "useExistingSecret": True,
        "configSecret": "homelab-alertmanager",
    }
    grafana = values["grafana"]
    assert grafana["admin"]["existingSecret"] == "homelab-grafana-admin"
    assert grafana["service"]["type"] == "LoadBalancer"
    assert grafana["sidecar"]["dashboards"]["label"] == "grafana_dashboard"
    assert [d["type"] for d in grafana["additionalDataSources"]] == ["loki"]
    groups = values["additionalPrometheusRulesMap"]["homelab"]["groups"]
    assert groups == rule_groups(load().monitoring.alerts)  # type: ignore[union-attr]


def test_control_plane_targets_are_the_nodes_and_ports_kubeadm_binds() -> None:
    spec = load()
    values = kube_prometheus_stack_values(spec)
    planes = [str(spec.vms[n].ip) for n in spec.control_planes]
    assert values["kubeEtcd"]["endpoints"] == planes
    assert values["kubeEtcd"]["service"]["port"] == ETCD_METRICS_PORT
    assert values["kubeControllerManager"]["service"]["targetPort"] == 10257
    assert values["kubeScheduler"]["service"]["targetPort"] == 10259
    assert values["kubeProxy"]["endpoints"] == [str(vm.ip) for vm in spec.vms.values()]
    assert values["kubeProxy"]["service"]["port"] == KUBE_PROXY_METRICS_PORT


def test_the_pve_exporter_is_scraped_once_per_proxmox_node() -> None:
    one = load()
    assert pve_targets(one) == ["10.0.10.2"]
    data = yaml.safe_load((EXAMPLES / "monitored-lab.yaml").read_text())
    data["proxmox"]["nodes"] = ["pve1", "pve2"]
    data["proxmox"]["endpoint"] = "https://[fd00::2]:8006"
    two = LabSpec.model_validate(data)
    assert pve_targets(two) == ["pve1", "pve2"]
    data["proxmox"]["nodes"] = ["pve1"]
    assert pve_targets(LabSpec.model_validate(data)) == ["fd00::2"]
    job = scrape_configs(two)[0]
    assert job["static_configs"] == [{"targets": ["pve1", "pve2"]}]
    assert job["relabel_configs"][-1]["replacement"] == "homelab-pve-exporter.monitoring.svc:9221"
    exporter = by_name(stack_resources(one, PINS), "Deployment", "homelab-pve-exporter")
    container = exporter["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "prompve/prometheus-pve-exporter:3.10.0"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert exporter["spec"]["template"]["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert {e["name"] for e in container["env"]} == {
        "PVE_USER",
        "PVE_TOKEN_NAME",
        "PVE_TOKEN_VALUE",
    }


def test_scrape_choices_of_the_spec() -> None:
    spec = load(scrape={"pve_nodes": False, "opnsense_node_exporter": "10.0.10.1:9100"})
    assert scrape_configs(spec) == [
        {"job_name": "opnsense", "static_configs": [{"targets": ["10.0.10.1:9100"]}]}
    ]
    kinds = {o["kind"] for o in stack_resources(spec, PINS)}
    assert "Deployment" not in kinds
    # the tool's own exporter runs beside the state store: scraped where the spec says
    spec = load(scrape={"pve_nodes": False, "homelab_exporter": "10.0.10.5:9633"})
    assert scrape_configs(spec) == [
        {"job_name": "homelab", "static_configs": [{"targets": ["10.0.10.5:9633"]}]}
    ]


def test_alloy_ships_pod_logs_to_loki_without_promtail() -> None:
    config = alloy_config(load())
    assert "promtail" not in config.lower()
    for component in (
        'discovery.kubernetes "pods"',
        'loki.source.kubernetes "pods"',
        'loki.write "lab"',
    ):
        assert component in config
    assert 'role = "pod"' in config
    assert "http://loki.monitoring.svc.cluster.local:3100/loki/api/v1/push" in config
    alloy = by_name(stack_resources(load(), PINS), "HelmRelease", "alloy")["spec"]
    assert alloy["values"]["controller"] == {"type": "deployment", "replicas": 1}
    assert alloy["dependsOn"] == [{"name": "loki"}]
    rendered = yaml.safe_dump(stack_resources(load(), PINS))
    assert "promtail" not in rendered.lower()


def test_dashboards_are_configmaps_for_the_sidecar_reading_series_that_exist() -> None:
    maps = dashboard_configmaps()
    assert [m["metadata"]["name"] for m in maps] == [f"homelab-dashboard-{n}" for n in DASHBOARDS]
    assert all(m["metadata"]["labels"]["grafana_dashboard"] == "1" for m in maps)
    assert json.loads(maps[0]["data"]["proxmox.json"])["uid"] == "homelab-proxmox"
    lab_series = set(re.findall(r"homelab_[a-z_]+", json.dumps(dashboard("lab"))))
    known = {v for k, v in vars(metrics).items() if k.isupper() and isinstance(v, str)}
    assert lab_series, "the lab dashboard reads the tool's metrics"
    assert lab_series <= known, f"series the exporter does not write: {lab_series - known}"
    pve_series = set(re.findall(r"pve_[a-z_]+", json.dumps(dashboard("proxmox"))))
    exported = set((UPSTREAM / "pve-exporter" / "metric-names.txt").read_text().split())
    assert "pve_up" in pve_series
    assert pve_series <= exported, f"not written by the exporter: {pve_series - exported}"
    for name in DASHBOARDS:
        board = dashboard(name)
        assert board["panels"] and all(p["targets"] for p in board["panels"])


def test_the_stack_secrets_carry_their_values_only_base64_for_the_api() -> None:
    grafana = grafana_admin_secret(Secret("pa55word"))
    assert base64.b64decode(grafana["data"]["admin-password"]) == b"pa55word"
    assert "pa55word" not in json.dumps(grafana)
    token = pve_exporter_secret("mon@pve", "exporter", Secret("tok"))
    assert base64.b64decode(token["data"]["PVE_TOKEN_VALUE"]) == b"tok"
    config = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}
    alert = alertmanager_secret(config)
    assert yaml.safe_load(base64.b64decode(alert["data"]["alertmanager.yaml"])) == config


def test_no_secret_reaches_a_rendered_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMELAB_GRAFANA_PASSWORD", "grafana-Pa55-never-written")
    monkeypatch.setenv("PVE_TOKEN_VALUE", "pve-token-never-written")
    data = yaml.safe_load((EXAMPLES / "monitored-lab.yaml").read_text())
    data["monitoring"]["receivers"] = [
        {"name": "hook", "webhook": {"url_env": "HOOK_URL"}},
    ]
    monkeypatch.setenv("HOOK_URL", "https://hooks.example/never-written")
    spec = LabSpec.model_validate(data)
    written = render_to_dir(spec, pki_for(spec.name), tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert f"cluster/{MONITORING_FILE}" in names
    blob = b"".join(p.read_bytes() for p in written)
    for value in ("grafana-Pa55-never-written", "pve-token-never-written", "never-written"):
        assert value.encode() not in blob
        assert base64.b64encode(value.encode()) not in blob
    docs = list(yaml.safe_load_all((tmp_path / "cluster" / MONITORING_FILE).read_text()))
    assert not [d for d in docs if d["kind"] == "Secret"]
