"""The lab's alert rules, judged by the real ``promtool`` (Debian's prometheus 2.42).

Each alert has a case where it fires with the labels and summary a person reads, and a case
where the same metrics stay quiet; ``promtool test rules`` evaluates them as Prometheus would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from homelab.core.monitoring import metrics as m
from homelab.core.monitoring.rules import lab_alerts, prometheus_rule, rule_file
from homelab.core.spec.monitoring import AlertThresholds
from tests.support.tools import needs, require

DAY = 86400
T = AlertThresholds()


def _promtool(tmp: Path, rules: dict[str, Any], tests: list[dict[str, Any]]) -> str:
    (tmp / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    suite = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": tests,
    }
    (tmp / "tests.yml").write_text(yaml.safe_dump(suite, sort_keys=False))
    done = subprocess.run(
        [require("promtool"), "test", "rules", "tests.yml"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _description(name: str) -> str:
    """The static description of an alert (those without templates)."""
    found = [a for alerts in lab_alerts(T).values() for a in alerts if a.name == name]
    assert len(found) == 1 and "{{" not in found[0].description
    return found[0].description


def _alert(
    name: str,
    at: str,
    labels: dict[str, str] | None,
    summary: str = "",
    description: str | None = None,
) -> dict[str, Any]:
    """One expectation: ``labels`` None means the alert must not fire at ``at``."""
    if labels is None:
        return {"eval_time": at, "alertname": name, "exp_alerts": []}
    annotations = {"summary": summary, "description": description or _description(name)}
    expected = [{"exp_labels": labels, "exp_annotations": annotations}]
    return {"eval_time": at, "alertname": name, "exp_alerts": expected}


def _case(
    series: list[tuple[str, str]], checks: list[dict[str, Any]], interval: str = "1m"
) -> dict[str, Any]:
    return {
        "interval": interval,
        "input_series": [{"series": s, "values": v} for s, v in series],
        "alert_rule_test": checks,
    }


@needs("promtool")
def test_the_rule_file_passes_promtool_check(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rule_file(T), sort_keys=False))
    done = subprocess.run(
        [require("promtool"), "check", "rules", str(tmp_path / "rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    count = sum(len(a) for a in lab_alerts(T).values())
    assert f"SUCCESS: {count} rules found" in done.stdout


@needs("promtool")
def test_proxmox_node_down_fires_after_two_minutes(tmp_path: Path) -> None:
    series = [('pve_up{id="node/pve1"}', "1 1 0 0 0 0"), ('pve_up{id="node/pve2"}', "1x5")]
    labels = {"id": "node/pve1", "severity": "critical"}
    _promtool(
        tmp_path,
        rule_file(T),
        [
            _case(
                series,
                [
                    _alert("ProxmoxNodeDown", "3m", None),  # down for 1m: pending
                    _alert(
                        "ProxmoxNodeDown",
                        "5m",
                        labels,
                        "Proxmox node node/pve1 is down",
                        "The Proxmox API reports node/pve1 offline; its VMs are unreachable.",
                    ),
                ],
            )
        ],
    )


@needs("promtool")
def test_backup_alerts_follow_the_thresholds(tmp_path: Path) -> None:
    now = 3 * DAY  # minute samples from t=0; evaluated at 3 days
    fresh = now - 3600
    stale = now - 2 * DAY
    series = [
        (f'{m.BACKUP_LAST}{{lab="home",vm="k8s-master-1"}}', f"{fresh}x4320"),
        (f'{m.BACKUP_LAST}{{lab="home",vm="k8s-worker-1"}}', f"{stale}x4320"),
        (f'{m.BACKUP_COVERED}{{lab="home",vm="k8s-worker-2"}}', "0x4320"),
        (f'{m.BACKUP_COVERED}{{lab="home",vm="k8s-worker-1"}}', "1x4320"),
        ('pve_not_backed_up_info{id="qemu/205"}', "1x4320"),
        # a template no job covers is listed too (pve-manager lists templates), but a template
        # is not a guest to lose: it does not fire
        ('pve_not_backed_up_info{id="qemu/9000"}', "1x4320"),
        ('pve_guest_info{id="qemu/9000",name="ubuntu",template="1",type="qemu"}', "1x4320"),
        ('pve_guest_info{id="qemu/205",name="scratch",template="",type="qemu"}', "1x4320"),
    ]
    _promtool(
        tmp_path,
        rule_file(T),
        [
            _case(
                series,
                [
                    {
                        "eval_time": "3d",
                        "alertname": "VmBackupTooOld",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "lab": "home",
                                    "vm": "k8s-worker-1",
                                    "severity": "warning",
                                },
                                "exp_annotations": {
                                    "summary": "The newest backup of VM k8s-worker-1 is older "
                                    "than 36h",
                                    "description": "The backup job covering this VM has not "
                                    "produced a backup in time.",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "3d",
                        "alertname": "VmNotBackedUp",
                        "exp_alerts": [
                            {
                                "exp_labels": {"id": "qemu/205", "severity": "warning"},
                                "exp_annotations": {
                                    "summary": "qemu/205 is covered by no backup job",
                                    "description": _description("VmNotBackedUp"),
                                },
                            },
                            {
                                "exp_labels": {
                                    "lab": "home",
                                    "vm": "k8s-worker-2",
                                    "severity": "warning",
                                },
                                "exp_annotations": {
                                    "summary": "VM k8s-worker-2 is covered by no backup job",
                                    "description": _description("VmNotBackedUp"),
                                },
                            },
                        ],
                    },
                ],
            )
        ],
    )


@needs("promtool")
def test_a_longer_backup_max_age_silences_the_stale_backup(tmp_path: Path) -> None:
    relaxed = AlertThresholds(backup_max_age="3d")
    now = 3 * DAY
    series = [(f'{m.BACKUP_LAST}{{lab="home",vm="k8s-worker-1"}}', f"{now - 2 * DAY}x4320")]
    checks = [_alert("VmBackupTooOld", "3d", None)]
    _promtool(tmp_path, rule_file(relaxed), [_case(series, checks)])


@needs("promtool")
def test_drill_certificate_etcd_and_tool_alerts(tmp_path: Path) -> None:
    now = 100 * 60  # minute samples from t=0; evaluated at minute 100
    series = [
        (f'{m.DRILL_SUCCESS}{{lab="home",vm="k8s-master-1"}}', "0x200"),
        (f'{m.DRILL_SUCCESS}{{lab="home",vm="k8s-worker-1"}}', "1x200"),
        (f'{m.CERT_EXPIRY}{{lab="home",certificate="apiserver"}}', f"{now + 10 * DAY}x200"),
        (f'{m.CERT_EXPIRY}{{lab="home",certificate="lab-ca"}}', f"{now + 3000 * DAY}x200"),
        (f'{m.ETCD_SNAPSHOT_LAST}{{lab="home"}}', f"{now - 27 * 3600}x200"),
        (f'{m.APPLY_SUCCESS}{{lab="home"}}', "0x200"),
        (f'{m.DRIFT_OBJECTS}{{lab="home"}}', "0x30 2x100"),
        (f'up{{job="{m.EXPORTER_JOB}",instance="tool:9877"}}', "1x200"),
    ]
    home = {"lab": "home"}
    _promtool(
        tmp_path,
        rule_file(T),
        [
            {
                **_case(series, []),
                "alert_rule_test": [
                    _alert(
                        "BackupDrillFailed",
                        "100m",
                        {**home, "vm": "k8s-master-1", "severity": "critical"},
                        "The last restore drill of VM k8s-master-1 failed",
                    ),
                    _alert(
                        "CertificateExpiringSoon",
                        "100m",
                        {**home, "certificate": "apiserver", "severity": "warning"},
                        "Certificate apiserver of lab home expires 10d 0h 0m 0s from now",
                    ),
                    _alert(
                        "EtcdSnapshotTooOld",
                        "100m",
                        {**home, "severity": "warning"},
                        "The newest etcd snapshot of lab home is older than 26h",
                    ),
                    _alert(
                        "LabApplyFailed",
                        "100m",
                        {**home, "severity": "warning"},
                        "The last apply of lab home did not finish",
                    ),
                    _alert("HomelabExporterDown", "100m", None),
                ],
            }
        ],
    )


@needs("promtool")
def test_drift_fires_only_after_it_lasted(tmp_path: Path) -> None:
    # drift appears at minute 30: pending through minute 89, firing from minute 90
    series = [(f'{m.DRIFT_OBJECTS}{{lab="home"}}', "0x30 2x100")]
    firing = {"lab": "home", "severity": "warning"}
    _promtool(
        tmp_path,
        rule_file(T),
        [
            _case(
                series,
                [
                    _alert("LabDrift", "29m", None),
                    _alert("LabDrift", "80m", None),
                    _alert(
                        "LabDrift", "95m", firing, "Lab home differs from its spec in 2 objects"
                    ),
                ],
            )
        ],
    )


@needs("promtool")
def test_kubernetes_node_and_disk_alerts(tmp_path: Path) -> None:
    series = [
        ('kube_node_status_condition{node="k8s-worker-1",condition="Ready",status="true"}', "0x20"),
        ('kube_node_status_condition{node="k8s-worker-2",condition="Ready",status="true"}', "1x20"),
        ('node_filesystem_avail_bytes{instance="w1",mountpoint="/",fstype="ext4"}', "5x30"),
        ('node_filesystem_size_bytes{instance="w1",mountpoint="/",fstype="ext4"}', "100x30"),
        ('node_filesystem_avail_bytes{instance="w1",mountpoint="/run",fstype="tmpfs"}', "1x30"),
        ('node_filesystem_size_bytes{instance="w1",mountpoint="/run",fstype="tmpfs"}', "100x30"),
        ('pve_disk_usage_bytes{id="storage/pve1/local-lvm"}', "95x30"),
        ('pve_disk_size_bytes{id="storage/pve1/local-lvm"}', "100x30"),
        ('pve_disk_usage_bytes{id="storage/pve1/local"}', "50x30"),
        ('pve_disk_size_bytes{id="storage/pve1/local"}', "100x30"),
    ]
    _promtool(
        tmp_path,
        rule_file(T),
        [
            _case(
                series,
                [
                    _alert(
                        "KubeNodeNotReady",
                        "10m",
                        {
                            "node": "k8s-worker-1",
                            "condition": "Ready",
                            "status": "true",
                            "severity": "critical",
                        },
                        "Kubernetes node k8s-worker-1 is not Ready",
                    ),
                    _alert(
                        "NodeDiskFilling",
                        "20m",
                        {
                            "instance": "w1",
                            "mountpoint": "/",
                            "fstype": "ext4",
                            "severity": "warning",
                        },
                        "w1:/ has 5% free",
                    ),
                    _alert(
                        "ProxmoxStorageFilling",
                        "20m",
                        {"id": "storage/pve1/local-lvm", "severity": "warning"},
                        "Proxmox storage storage/pve1/local-lvm is 95% full",
                    ),
                ],
            )
        ],
    )


def test_the_prometheus_rule_object_holds_the_same_groups() -> None:
    obj = prometheus_rule(T, "monitoring")
    assert obj["kind"] == "PrometheusRule"
    assert obj["metadata"]["namespace"] == "monitoring"
    assert obj["spec"]["groups"] == rule_file(T)["groups"]
    names = [r["alert"] for g in obj["spec"]["groups"] for r in g["rules"]]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("bad", ["0", "36", "1h30", "h", "1.5h", "-1h"])
def test_thresholds_refuse_what_prometheus_would_not_parse(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        AlertThresholds(backup_max_age=bad)
