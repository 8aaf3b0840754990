"""The lab's alert rules: what a home lab must hear about, and nothing it should not.

Each rule reads metrics that exist: prometheus-pve-exporter's (``pve_up``,
``pve_not_backed_up_info``, ``pve_disk_*``), kube-state-metrics' and node-exporter's (both in
kube-prometheus-stack), and the tool's own (``homelab.core.monitoring.metrics``). Thresholds
come from the spec's ``monitoring.alerts``. The same groups are rendered as a Prometheus rule
file (what ``promtool`` checks) and as a PrometheusRule object for the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homelab.core.monitoring import metrics as m
from homelab.core.spec.monitoring import AlertThresholds, duration_seconds

RULE_LABEL = {"app.kubernetes.io/part-of": "homelab"}


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str

    def to_rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ != "0m":
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {"summary": self.summary, "description": self.description}
        return rule


def _seconds(duration: str) -> int:
    return int(duration_seconds(duration))


def lab_alerts(thresholds: AlertThresholds) -> dict[str, list[Alert]]:
    """The alert groups by name, in evaluation order."""
    backup_age = _seconds(thresholds.backup_max_age)
    etcd_age = _seconds(thresholds.etcd_snapshot_max_age)
    cert_warn = _seconds(thresholds.certificate_warning)
    free = thresholds.disk_free_ratio
    return {
        "homelab-proxmox": [
            Alert(
                "ProxmoxNodeDown",
                'pve_up{id=~"node/.+"} == 0',
                "2m",
                "critical",
                "Proxmox node {{ $labels.id }} is down",
                "The Proxmox API reports {{ $labels.id }} offline; its VMs are unreachable.",
            ),
            Alert(
                "ProxmoxStorageFilling",
                f'pve_disk_usage_bytes{{id=~"storage/.+"}} / pve_disk_size_bytes > {1 - free:g}',
                "15m",
                "warning",
                "Proxmox storage {{ $labels.id }} is {{ $value | humanizePercentage }} full",
                "New clones, backups and snapshots fail when a storage fills.",
            ),
        ],
        "homelab-backups": [
            Alert(
                "VmNotBackedUp",
                # pve-manager lists templates no job covers too; they are not guests to lose
                f'(pve_not_backed_up_info == 1 unless on(id) pve_guest_info{{template="1"}}) '
                f"or {m.BACKUP_COVERED} == 0",
                "30m",
                "warning",
                "{{ if $labels.vm }}VM {{ $labels.vm }}{{ else }}{{ $labels.id }}{{ end }}"
                " is covered by no backup job",
                "No backup job covers this guest: a lost disk loses it for good.",
            ),
            Alert(
                "VmBackupTooOld",
                f"time() - {m.BACKUP_LAST} > {backup_age}",
                "0m",
                "warning",
                "The newest backup of VM {{ $labels.vm }} is older than "
                f"{thresholds.backup_max_age}",
                "The backup job covering this VM has not produced a backup in time.",
            ),
            Alert(
                "BackupDrillFailed",
                f"{m.DRILL_SUCCESS} == 0",
                "0m",
                "critical",
                "The last restore drill of VM {{ $labels.vm }} failed",
                "Its newest backup did not restore into a VM that boots: it is not a backup yet.",
            ),
            Alert(
                "EtcdSnapshotTooOld",
                f"time() - {m.ETCD_SNAPSHOT_LAST} > {etcd_age}",
                "0m",
                "warning",
                "The newest etcd snapshot of lab {{ $labels.lab }} is older than "
                f"{thresholds.etcd_snapshot_max_age}",
                "Without a recent etcd snapshot the cluster cannot be rebuilt as it was.",
            ),
        ],
        "homelab-kubernetes": [
            Alert(
                "KubeNodeNotReady",
                'kube_node_status_condition{condition="Ready",status="true"} == 0',
                "5m",
                "critical",
                "Kubernetes node {{ $labels.node }} is not Ready",
                "Pods on it are not running or not reachable.",
            ),
            Alert(
                "NodeDiskFilling",
                'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs"}'
                f" / node_filesystem_size_bytes < {free:g}",
                "15m",
                "warning",
                "{{ $labels.instance }}:{{ $labels.mountpoint }} has "
                "{{ $value | humanizePercentage }} free",
                "kubelet evicts pods when the node's disk runs out.",
            ),
            Alert(
                "CertificateExpiringSoon",
                f"{m.CERT_EXPIRY} - time() < {cert_warn}",
                "0m",
                "warning",
                "Certificate {{ $labels.certificate }} of lab {{ $labels.lab }} expires "
                "{{ $value | humanizeDuration }} from now",
                "Renew it (kubeadm certs renew, or homelab's PKI) before the cluster stops "
                "trusting it.",
            ),
        ],
        "homelab-tool": [
            Alert(
                "LabDrift",
                f"{m.DRIFT_OBJECTS} > 0",
                thresholds.drift_for,
                "warning",
                "Lab {{ $labels.lab }} differs from its spec in {{ $value }} objects",
                "Run homelab plan to see what changed outside the tool.",
            ),
            Alert(
                "LabApplyFailed",
                f"{m.APPLY_SUCCESS} == 0",
                "0m",
                "warning",
                "The last apply of lab {{ $labels.lab }} did not finish",
                "Run homelab journal show, then apply again: it resumes where it stopped.",
            ),
            Alert(
                "HomelabExporterDown",
                f'up{{job="{m.EXPORTER_JOB}"}} == 0',
                "10m",
                "warning",
                "The homelab exporter cannot be scraped",
                "Backup, drift and certificate alerts are blind while it is down.",
            ),
        ],
    }


def rule_groups(thresholds: AlertThresholds) -> list[dict[str, Any]]:
    return [
        {"name": name, "rules": [a.to_rule() for a in alerts]}
        for name, alerts in lab_alerts(thresholds).items()
    ]


def rule_file(thresholds: AlertThresholds) -> dict[str, Any]:
    """A Prometheus rule file (``promtool check rules`` reads it)."""
    return {"groups": rule_groups(thresholds)}


def prometheus_rule(thresholds: AlertThresholds, namespace: str) -> dict[str, Any]:
    """The same groups as a ``monitoring.coreos.com/v1`` PrometheusRule."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "homelab", "namespace": namespace, "labels": dict(RULE_LABEL)},
        "spec": {"groups": rule_groups(thresholds)},
    }
