"""The tool's own metrics from facts: what is known is exported, what is not is absent.

The exposition is read back with prometheus_client's parser and judged by the real
``promtool check metrics`` (Debian's prometheus), not by comparing strings we wrote.
"""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from homelab.core.monitoring import metrics as m
from homelab.core.monitoring.facts import (
    SOURCES,
    ApplyFact,
    BackupFact,
    DrillFact,
    LabFacts,
    metric_families,
)
from homelab.verbs.metrics import LabCollector
from tests.support.tools import needs, require

FULL = LabFacts(
    lab="home-lab",
    vms=["k8s-master-1", "k8s-worker-1", "k8s-worker-2"],
    backups={
        "k8s-master-1": BackupFact(last=1_700_000_000.0, covered=True),
        "k8s-worker-1": BackupFact(last=None, covered=False),
    },
    drills={"k8s-master-1": DrillFact(at=1_700_000_100.0, ok=False)},
    drift_objects=2,
    certificates={"cluster-ca": 2_000_000_000.0, "apiserver": 1_800_000_000.0},
    last_apply=ApplyFact(at=1_699_999_000.0, ok=True),
    etcd_snapshot_last=1_699_000_000.0,
    errors={"certificates": 1},
)


def _exposition(facts: LabFacts) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LabCollector(lambda: facts))
    return generate_latest(registry).decode()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def test_every_known_fact_is_a_sample_with_the_lab_label() -> None:
    samples = _samples(_exposition(FULL))
    lab = {"lab": "home-lab"}
    assert samples[_key(m.BACKUP_LAST, vm="k8s-master-1", **lab)] == 1_700_000_000.0
    assert samples[_key(m.BACKUP_COVERED, vm="k8s-master-1", **lab)] == 1.0
    assert samples[_key(m.BACKUP_COVERED, vm="k8s-worker-1", **lab)] == 0.0
    assert samples[_key(m.DRILL_SUCCESS, vm="k8s-master-1", **lab)] == 0.0
    assert samples[_key(m.DRILL_LAST, vm="k8s-master-1", **lab)] == 1_700_000_100.0
    assert samples[_key(m.DRIFT_OBJECTS, **lab)] == 2.0
    assert samples[_key(m.CERT_EXPIRY, certificate="apiserver", **lab)] == 1_800_000_000.0
    assert samples[_key(m.CERT_EXPIRY, certificate="cluster-ca", **lab)] == 2_000_000_000.0
    assert samples[_key(m.APPLY_LAST, **lab)] == 1_699_999_000.0
    assert samples[_key(m.APPLY_SUCCESS, **lab)] == 1.0
    assert samples[_key(m.ETCD_SNAPSHOT_LAST, **lab)] == 1_699_000_000.0
    assert samples[_key(m.COLLECT_ERRORS, source="certificates", **lab)] == 1.0
    assert samples[_key(m.COLLECT_ERRORS, source="proxmox", **lab)] == 0.0
    assert m.COLLECT_SECONDS in {name for name, _ in samples}


def test_unknown_facts_are_absent_never_zero() -> None:
    samples = _samples(_exposition(FULL))
    # never backed up: no timestamp (a 0 would read as "backed up in 1970", which alerts
    # differently); a VM whose backups were not read has no backup series at all
    assert _key(m.BACKUP_LAST, lab="home-lab", vm="k8s-worker-1") not in samples
    assert not any(dict(labels).get("vm") == "k8s-worker-2" for (_name, labels) in samples), (
        "nothing is known about k8s-worker-2's backups"
    )
    bare = _samples(_exposition(LabFacts(lab="x", vms=["a"])))
    names = {name for name, _ in bare}
    for name in (m.DRIFT_OBJECTS, m.APPLY_LAST, m.APPLY_SUCCESS, m.ETCD_SNAPSHOT_LAST):
        assert name not in names
    assert {dict(labels)["source"] for name, labels in bare if name == m.COLLECT_ERRORS} == set(
        SOURCES
    )


def test_an_interrupted_apply_is_a_failure_without_a_time() -> None:
    samples = _samples(_exposition(LabFacts(lab="x", vms=[], last_apply=ApplyFact(None, False))))
    assert samples[_key(m.APPLY_SUCCESS, lab="x")] == 0.0
    assert _key(m.APPLY_LAST, lab="x") not in samples


def test_the_families_are_the_ones_the_rules_read() -> None:
    names = {family.name for family in metric_families(FULL)}
    for name in (m.BACKUP_LAST, m.BACKUP_COVERED, m.DRILL_SUCCESS, m.CERT_EXPIRY, m.DRIFT_OBJECTS):
        assert name in names


@needs("promtool")
def test_promtool_finds_nothing_to_lint_in_the_exposition() -> None:
    done = subprocess.run(
        [require("promtool"), "check", "metrics"],
        input=_exposition(FULL),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == ""


def test_scrapes_within_the_minimum_interval_share_one_collection() -> None:
    now = [100.0]
    calls: list[float] = []

    def collect() -> LabFacts:
        calls.append(now[0])
        return LabFacts(lab="x", vms=[], drift_objects=len(calls))

    collector = LabCollector(collect, min_interval=15.0, clock=lambda: now[0])
    first = collector.latest()
    now[0] += 14.9
    assert collector.latest() is first
    now[0] += 0.1
    second = collector.latest()
    assert second is not first and second.facts.drift_objects == 2
    assert calls == [100.0, 115.0]


def test_which_guests_a_backup_job_covers() -> None:
    from homelab.core.pve_reply import MalformedReply, parse_backup_jobs

    reply = {
        "data": [
            {"id": "all-but", "all": 1, "exclude": "102", "storage": "pbs"},
            {"id": "listed", "vmid": "200,201", "node": "pve2", "enabled": 1},
            {"id": "off", "vmid": "300", "enabled": 0},
            {"id": "by-pool", "pool": "lab"},
        ]
    }
    every, listed, off, pool = parse_backup_jobs(reply)
    assert every.covers(101, "pve") is True and every.covers(102, "pve") is False
    assert listed.covers(200, "pve2") is True
    assert listed.covers(200, "pve") is False  # the job runs on pve2 only
    assert listed.covers(202, "pve2") is False
    assert off.covers(300, "pve") is False
    assert pool.covers(101, "pve") is None  # the pool's members are not in this reply
    with pytest.raises(MalformedReply, match="bad vmid list"):
        parse_backup_jobs({"data": [{"id": "x", "vmid": "1,two"}]})
