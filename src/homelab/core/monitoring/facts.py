"""What the tool knows about a lab that no other exporter does, and the metrics that show it.

``LabFacts`` is one collection: gathered by ``homelab.verbs.metrics`` from Proxmox, the state
store, the cluster's certificates and the local etcd snapshots; ``metric_families`` turns it
into Prometheus metric families (pure: prometheus_client's family objects are plain values).

A fact the collection could not read is *absent*, never a made-up value: a VM whose backups
could not be listed has no ``homelab_vm_backup_last_timestamp_seconds`` sample (and
``homelab_collector_errors{source="backups"}`` says why it is missing), so an alert cannot fire
on a zero that means "unknown" nor stay silent on a default that means "fine".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from homelab.core.monitoring import metrics

__all__ = ["SOURCES", "ApplyFact", "BackupFact", "DrillFact", "LabFacts", "metric_families"]

SOURCES = ("proxmox", "backups", "state", "certificates", "etcd")
"""Where facts come from; ``homelab_collector_errors`` has one series per source."""


@dataclass(frozen=True)
class BackupFact:
    """One VM's backups: the newest one's time (None: none found) and whether a job covers it."""

    last: float | None
    covered: bool | None


@dataclass(frozen=True)
class DrillFact:
    """The last restore drill of a VM: when, and whether it passed."""

    at: float
    ok: bool


@dataclass(frozen=True)
class ApplyFact:
    """The last apply the state store recorded: when (None: an apply was interrupted before
    any finished), and whether every step succeeded (an interrupted apply is a failure)."""

    at: float | None
    ok: bool


@dataclass(frozen=True)
class LabFacts:
    """One collection's facts about lab ``lab``; ``None`` or a missing key is "not known"."""

    lab: str
    vms: Sequence[str]
    backups: Mapping[str, BackupFact] = field(default_factory=dict)
    drills: Mapping[str, DrillFact] = field(default_factory=dict)
    drift_objects: int | None = None
    certificates: Mapping[str, float] = field(default_factory=dict)
    last_apply: ApplyFact | None = None
    etcd_snapshot_last: float | None = None
    errors: Mapping[str, int] = field(default_factory=dict)


def _gauge(name: str, doc: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def metric_families(facts: LabFacts) -> list[Metric]:
    """The metric families of one collection, every series labelled with the lab."""
    lab = facts.lab
    last = _gauge(metrics.BACKUP_LAST, "Unix time of the newest backup of the VM.", ["lab", "vm"])
    covered = _gauge(
        metrics.BACKUP_COVERED, "1 when a backup job of the lab covers the VM.", ["lab", "vm"]
    )
    for vm in facts.vms:
        backup = facts.backups.get(vm)
        if backup is None:
            continue
        if backup.last is not None:
            last.add_metric([lab, vm], backup.last)
        if backup.covered is not None:
            covered.add_metric([lab, vm], 1.0 if backup.covered else 0.0)
    drill_ok = _gauge(
        metrics.DRILL_SUCCESS, "1 when the last restore drill of the VM passed.", ["lab", "vm"]
    )
    drill_at = _gauge(
        metrics.DRILL_LAST, "Unix time of the last restore drill of the VM.", ["lab", "vm"]
    )
    for vm, drill in sorted(facts.drills.items()):
        drill_ok.add_metric([lab, vm], 1.0 if drill.ok else 0.0)
        drill_at.add_metric([lab, vm], drill.at)
    families: list[Metric] = [last, covered, drill_ok, drill_at]

    drift = _gauge(
        metrics.DRIFT_OBJECTS, "Objects that differ between the spec and the lab.", ["lab"]
    )
    if facts.drift_objects is not None:
        drift.add_metric([lab], float(facts.drift_objects))
    certs = _gauge(
        metrics.CERT_EXPIRY, "Unix time the certificate expires.", ["lab", "certificate"]
    )
    for name, expiry in sorted(facts.certificates.items()):
        certs.add_metric([lab, name], expiry)
    apply_at = _gauge(metrics.APPLY_LAST, "Unix time of the last apply.", ["lab"])
    apply_ok = _gauge(metrics.APPLY_SUCCESS, "1 when the last apply succeeded.", ["lab"])
    if facts.last_apply is not None:
        if facts.last_apply.at is not None:
            apply_at.add_metric([lab], facts.last_apply.at)
        apply_ok.add_metric([lab], 1.0 if facts.last_apply.ok else 0.0)
    etcd = _gauge(
        metrics.ETCD_SNAPSHOT_LAST, "Unix time of the newest etcd snapshot kept.", ["lab"]
    )
    if facts.etcd_snapshot_last is not None:
        etcd.add_metric([lab], facts.etcd_snapshot_last)
    errors = _gauge(
        metrics.COLLECT_ERRORS, "Facts the last collection could not read.", ["lab", "source"]
    )
    for source in SOURCES:
        errors.add_metric([lab, source], float(facts.errors.get(source, 0)))
    families += [drift, certs, apply_at, apply_ok, etcd, errors]
    return families
