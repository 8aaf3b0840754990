"""Writing a rendered lab to disk, and admin kubeconfigs, through the verbs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from homelab.core.render.lab import render_lab
from homelab.core.spec.models import LabSpec
from homelab.errors import ClusterSecretsError, LabError
from homelab.verbs.kubeconfig import admin_kubeconfig, write_kubeconfig
from homelab.verbs.render import render_to_dir
from tests.render.support import load_example, pki_for


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_render_to_dir_writes_every_file_privately(tmp_path: Path) -> None:
    spec = load_example("ha-lab")
    out = tmp_path / "out"
    paths = render_to_dir(spec, pki_for("ha-lab"), out)
    expected = {
        out / vm / n for vm in spec.vms for n in ("user-data", "meta-data", "network-config")
    }
    expected |= {out / "cluster" / n for n in ("addons.yaml", "calico.yaml", "metallb.yaml")}
    assert set(paths) == expected and len(paths) == len(expected)
    for vm in spec.vms:
        assert mode(out / vm) == 0o700
        assert mode(out / vm / "user-data") == 0o600
    assert mode(out / "cluster" / "calico.yaml") == 0o644
    artifacts = render_lab(spec, pki_for("ha-lab"))
    assert (out / "k8s-master-2" / "user-data").read_bytes() == artifacts.seeds[
        "k8s-master-2"
    ].user_data
    assert not [p for p in out.rglob(".*")], "no temporary files left behind"


def test_render_to_dir_is_idempotent_and_replaces_changed_files(tmp_path: Path) -> None:
    spec = load_example("home-lab")
    render_to_dir(spec, pki_for("home-lab"), tmp_path)
    target = tmp_path / "k8s-worker-2" / "user-data"
    before = target.stat().st_mtime_ns
    target.chmod(0o644)
    render_to_dir(spec, pki_for("home-lab"), tmp_path)
    assert target.stat().st_mtime_ns == before and mode(target) == 0o600
    target.write_bytes(b"stale")
    render_to_dir(spec, pki_for("home-lab"), tmp_path)
    assert target.read_bytes().startswith(b"#cloud-config\n")


def test_secrets_of_another_lab_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ClusterSecretsError, match="belong to lab 'ha-lab'"):
        render_to_dir(load_example("home-lab"), pki_for("ha-lab"), tmp_path)


def test_unwritable_output_is_a_lab_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LabError, match="cannot write"):
        render_to_dir(load_example("home-lab"), pki_for("home-lab"), blocker)


def test_admin_kubeconfig_points_at_the_lab_endpoint(tmp_path: Path) -> None:
    spec = load_example("ha-lab")
    doc = yaml.safe_load(admin_kubeconfig(spec, pki_for("ha-lab")))
    assert doc["clusters"][0]["name"] == "ha-lab"
    assert doc["clusters"][0]["cluster"]["server"] == "https://10.0.20.9:6443"
    local = yaml.safe_load(admin_kubeconfig(spec, pki_for("ha-lab"), server="https://127.0.0.1:1"))
    assert local["clusters"][0]["cluster"]["tls-server-name"] == "10.0.20.9"
    path = write_kubeconfig("apiVersion: v1\n", tmp_path / "sub" / "admin.kubeconfig")
    assert mode(path) == 0o600 and path.read_text() == "apiVersion: v1\n"


def test_a_vm_named_cluster_would_clash_with_the_addon_directory(tmp_path: Path) -> None:
    data = load_example("home-lab").model_dump(mode="json")
    data["vms"]["cluster"] = data["vms"].pop("k8s-worker-3")
    spec = LabSpec.model_validate(data)
    with pytest.raises(LabError, match="clash"):
        render_to_dir(spec, pki_for("home-lab"), tmp_path)
    assert not list(tmp_path.iterdir()), "nothing is written when the layout is impossible"


def test_with_monitoring_enabled_the_alert_rules_are_written(tmp_path: Path) -> None:
    from homelab.core.spec.monitoring import AlertThresholds, MonitoringSpec

    spec = load_example("home-lab")
    assert not any(
        p.parts[-2] == "monitoring"
        for p in render_to_dir(spec, pki_for("home-lab"), tmp_path / "off")
    )
    thresholds = AlertThresholds(backup_max_age="2d")
    on = spec.model_copy(update={"monitoring": MonitoringSpec(enabled=True, alerts=thresholds)})
    paths = render_to_dir(on, pki_for("home-lab"), tmp_path / "on")
    rules = tmp_path / "on" / "monitoring" / "homelab-rules.yaml"
    assert rules in paths and mode(rules) == 0o644
    doc = yaml.safe_load(rules.read_text())
    by_name = {r["alert"]: r for g in doc["groups"] for r in g["rules"]}
    assert "VmBackupTooOld" in by_name and "172800" in by_name["VmBackupTooOld"]["expr"]
