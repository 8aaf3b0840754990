"""``up`` with ``monitoring.enabled`` against the simulator: Flux and the stack installed, every
HelmRelease Ready, Grafana's LoadBalancer URL and how to log in in the summary (never the
password), a chart version nobody publishes failing clearly, missing secrets refused first."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from homelab.cli.up import show_summary
from homelab.core.render import versions
from homelab.core.spec.models import LabSpec
from homelab.engine.state import SecretBox, open_store
from homelab.errors import KubeError, LabError
from homelab.verbs.connection import open_connection
from homelab.verbs.lab import prepare_lab
from homelab.verbs.monitoring_token import AUDITOR_TOKEN_ID, SECRET_NAME
from homelab.verbs.up import _grafana_url, monitoring_secrets
from tests.support.paths import EXAMPLES
from tests.up.simlab import copy_example, upped

PASSWORD = "grafana-Pa55-not-to-be-printed"
TOKEN = "pve-token-not-to-be-printed"


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMELAB_GRAFANA_PASSWORD", PASSWORD)
    monkeypatch.setenv("PVE_USER", "homelab-monitor@pve")
    monkeypatch.setenv("PVE_TOKEN_NAME", "exporter")
    monkeypatch.setenv("PVE_TOKEN_VALUE", TOKEN)


@pytest.mark.usefixtures("secrets_env")
def test_up_installs_the_stack_and_prints_grafanas_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = copy_example("monitored-lab.yaml", tmp_path)
    with upped(spec) as lab:
        monitoring = lab.outcome.monitoring
        assert monitoring is not None
        assert monitoring.releases == {
            "kube-prometheus-stack": "kube-prometheus-stack@88.5.3",
            "loki": "loki@18.11.0",
            "alloy": "alloy@1.11.1",
        }
        assert monitoring.grafana_url == "http://10.0.20.200"
        with lab.api() as api:
            for name in monitoring.releases:
                hr = api.get("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, "monitoring")
                ready = next(c for c in hr["status"]["conditions"] if c["type"] == "Ready")
                assert (ready["status"], ready["reason"]) == ("True", "InstallSucceeded")
            secret = api.get("v1", "Secret", "homelab-grafana-admin", "monitoring")
            assert set(secret["data"]) == {"admin-user", "admin-password"}
            assert api.find("v1", "Secret", "homelab-pve-exporter", "monitoring") is not None
            assert api.find("v1", "Secret", "homelab-alertmanager", "monitoring") is not None
        show_summary(lab.outcome)
        summary = capsys.readouterr().out
        assert "Grafana:           http://10.0.20.200" in summary
        assert "$HOMELAB_GRAFANA_PASSWORD" in summary
        assert "kubectl -n monitoring get secret homelab-grafana-admin" in summary
        assert PASSWORD not in summary
        as_json = str(lab.outcome.to_dict())
        assert PASSWORD not in as_json and TOKEN not in as_json
        assert lab.outcome.to_dict()["monitoring"]["grafana_url"] == "http://10.0.20.200"
    for path in (spec.parent / ".homelab").rglob("*"):
        if path.is_file() and path.parent.name != "sim":
            assert PASSWORD.encode() not in path.read_bytes(), path


@pytest.mark.usefixtures("secrets_env")
def test_a_chart_version_nobody_publishes_fails_up_with_fluxs_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pins = versions.VERSIONS["1.29"]
    monkeypatch.setitem(versions.VERSIONS, "1.29", dataclasses.replace(pins, loki_chart="99.0.0"))
    spec = copy_example("monitored-lab.yaml", tmp_path)
    with pytest.raises(KubeError) as failed, upped(spec):
        pass
    assert failed.value.message == (
        "HelmRelease monitoring/loki failed: HelmChart 'monitoring/monitoring-loki' is not ready: "
        "invalid chart reference: failed to get chart version for remote reference: "
        "no 'loki' chart with version matching '99.0.0' found"
    )


def test_missing_secrets_stop_up_before_anything_is_provisioned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HOMELAB_GRAFANA_PASSWORD", "PVE_USER", "PVE_TOKEN_NAME", "PVE_TOKEN_VALUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PVE_USER", "homelab-monitor@pve")
    spec = copy_example("monitored-lab.yaml", tmp_path)
    with pytest.raises(LabError) as refused, upped(spec):
        pass
    assert refused.value.message == (
        "monitoring.enabled needs these environment variables: HOMELAB_GRAFANA_PASSWORD, "
        "PVE_TOKEN_NAME, PVE_TOKEN_VALUE"
    )
    ctx = prepare_lab(spec)
    try:
        with open_connection(ctx.spec, spec, sim=True) as conn:
            assert [vm for vm in conn.client.cluster_vms() if vm.name in ctx.spec.vms] == []
    finally:
        ctx.close()


@pytest.mark.usefixtures("secrets_env")
def test_a_release_whose_source_never_becomes_ready_times_out_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pins = versions.VERSIONS["1.29"]
    changed = dataclasses.replace(pins, kube_prometheus_stack="1.0.0")
    monkeypatch.setitem(versions.VERSIONS, "1.29", changed)
    spec = copy_example("monitored-lab.yaml", tmp_path)
    with pytest.raises(KubeError) as failed, upped(spec, timeout=600):
        pass
    assert failed.value.message == (
        "HelmRelease monitoring/kube-prometheus-stack was not Ready in time: OCIRepository "
        "'monitoring/kube-prometheus-stack' is not ready: failed to determine artifact digest: "
        "GET https://ghcr.io/v2/prometheus-community/charts/kube-prometheus-stack/manifests/1.0.0"
        ": MANIFEST_UNKNOWN: manifest unknown; unknown tag=1.0.0"
    )


@pytest.fixture
def box(tmp_path: Path) -> Iterator[SecretBox]:
    with open_store(copy_example("monitored-lab.yaml", tmp_path)) as store:
        yield store.secrets("monitored-lab")


def test_the_stack_secrets_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, box: SecretBox
) -> None:
    data = yaml.safe_load((EXAMPLES / "monitored-lab.yaml").read_text())
    data["monitoring"]["scrape"] = {"pve_nodes": False}
    data["monitoring"]["receivers"] = [{"name": "hook", "webhook": {"url_env": "HOOK_URL"}}]
    spec = LabSpec.model_validate(data)
    monkeypatch.setenv("HOMELAB_GRAFANA_PASSWORD", PASSWORD)
    monkeypatch.delenv("HOOK_URL", raising=False)
    with pytest.raises(LabError, match=r"environment variables: HOOK_URL$"):
        monitoring_secrets(spec, box)
    monkeypatch.setenv("HOOK_URL", "https://hooks.example/t0ken")
    objects = monitoring_secrets(spec, box)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Namespace", "monitoring"),
        ("Secret", "homelab-grafana-admin"),
        ("Secret", "homelab-alertmanager"),
    ]
    config = yaml.safe_load(base64.b64decode(objects[2]["data"]["alertmanager.yaml"]))
    assert config["receivers"][1] == {
        "name": "hook",
        "webhook_configs": [{"url": "https://hooks.example/t0ken", "send_resolved": True}],
    }
    assert monitoring_secrets(LabSpec.model_validate({**data, "monitoring": None}), box) == []


@pytest.mark.usefixtures("secrets_env")
def test_the_exporter_token_made_by_monitoring_token_wins_over_the_environment(
    box: SecretBox,
) -> None:
    spec = LabSpec.model_validate(yaml.safe_load((EXAMPLES / "monitored-lab.yaml").read_text()))
    from_env = monitoring_secrets(spec, box)[-1]
    assert base64.b64decode(from_env["data"]["PVE_TOKEN_VALUE"]).decode() == TOKEN
    box.put(SECRET_NAME, f"{AUDITOR_TOKEN_ID}=stored-auditor-secret".encode())
    stored = monitoring_secrets(spec, box)[-1]
    assert stored["metadata"]["name"] == "homelab-pve-exporter"
    decoded = {k: base64.b64decode(v).decode() for k, v in stored["data"].items()}
    assert decoded == {
        "PVE_USER": "homelab-monitor@pve",
        "PVE_TOKEN_NAME": "exporter",
        "PVE_TOKEN_VALUE": "stored-auditor-secret",
    }


@pytest.mark.usefixtures("secrets_env")
def test_moving_a_chart_pin_is_a_helm_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pins = versions.VERSIONS["1.29"]
    spec = copy_example("monitored-lab.yaml", tmp_path)
    monkeypatch.setitem(versions.VERSIONS, "1.29", dataclasses.replace(pins, loki_chart="18.10.1"))
    with upped(spec) as lab:
        assert lab.outcome.monitoring is not None
        assert lab.outcome.monitoring.releases["loki"] == "loki@18.10.1"
    monkeypatch.setitem(versions.VERSIONS, "1.29", pins)
    with upped(spec) as lab:
        assert lab.outcome.monitoring is not None
        assert lab.outcome.monitoring.releases["loki"] == "loki@18.11.0"
        changed = {r["object"] for r in lab.outcome.to_dict()["addons"]["changed"]}
        assert changed == {"HelmRelease monitoring/loki"}
        with lab.api() as api:
            hr = api.get("helm.toolkit.fluxcd.io/v2", "HelmRelease", "loki", "monitoring")
        ready = next(c for c in hr["status"]["conditions"] if c["type"] == "Ready")
        assert ready["message"] == (
            "Helm upgrade succeeded for release monitoring/loki.v2 with chart loki@18.11.0"
        )


@pytest.mark.usefixtures("secrets_env")
def test_without_a_pool_grafana_is_on_a_node_port(tmp_path: Path) -> None:
    spec = copy_example("monitored-lab.yaml", tmp_path)
    data = yaml.safe_load(spec.read_text())
    del data["kubernetes"]["load_balancer"]
    spec.write_text(yaml.safe_dump(data))
    with upped(spec) as lab:
        monitoring = lab.outcome.monitoring
        assert monitoring is not None
        with lab.api() as api:
            svc = api.get("v1", "Service", "kube-prometheus-stack-grafana", "monitoring")
        assert svc["spec"]["type"] == "NodePort"
        node_port = svc["spec"]["ports"][0]["nodePort"]
        assert 30000 <= node_port <= 32767
        assert monitoring.grafana_url == f"http://10.0.20.10:{node_port}"


class _Services:
    """The API as _grafana_url reads it: one Service, whose answers change per call."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)

    def find(self, api_version: str, kind: str, name: str, namespace: str) -> Any:
        assert (kind, name, namespace) == ("Service", "kube-prometheus-stack-grafana", "monitoring")
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_grafanas_url_waits_for_an_address_and_gives_up_at_the_deadline() -> None:
    slept: list[float] = []
    left = iter([5.0, 0.0])
    conn = SimpleNamespace(clock=SimpleNamespace(sleep=slept.append))
    converge = SimpleNamespace(left=lambda: next(left))
    pending = {"spec": {"type": "LoadBalancer", "ports": [{"port": 3000}]}, "status": {}}
    ready = {**pending, "status": {"loadBalancer": {"ingress": [{"ip": "10.0.20.201"}]}}}
    api = _Services(pending, ready)
    url = _grafana_url(api, conn, converge, "10.0.20.10")  # type: ignore[arg-type]
    assert url == "http://10.0.20.201:3000"
    assert len(slept) == 1
    never = _Services(pending)
    assert _grafana_url(never, conn, converge, "10.0.20.10") is None  # type: ignore[arg-type]
