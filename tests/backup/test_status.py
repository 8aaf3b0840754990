"""The verdict of `homelab backup status`, from observed facts (pure)."""

from __future__ import annotations

import pytest

from homelab.core.backup.jobs import ObservedJob
from homelab.core.backup.status import BackupCopy, backup_rows, job_rows
from homelab.core.pve_reply import MalformedReply, parse_storage_items
from homelab.core.spec.models import LabSpec
from tests.plan.labs import make_spec, spec_data

NOW = 1_800_000_000.0
HOUR = 3600


def spec() -> LabSpec:
    data = spec_data()
    data["backup"] = {
        "storage": {"existing": "pbs"},
        "jobs": {
            "nightly": {"schedule": "02:30", "retention": {"keep_last": 3}, "max_age": "36h"},
            "masters": {
                "vms": {"role": "control-plane"},
                "schedule": "hourly",
                "retention": {"keep_last": 24},
                "max_age": "2h",
            },
        },
    }
    return make_spec(data)


def job(name: str, vmids: set[int], enabled: str = "1") -> ObservedJob:
    return ObservedJob(
        f"homelab-home-lab-{name}",
        {"schedule": "02:30", "enabled": enabled},
        frozenset(vmids),
        next_run=int(NOW) + HOUR,
    )


VMIDS = {"k8s-master-1": 200, "k8s-worker-2": 201}  # k8s-worker-3 does not exist


def test_each_vm_gets_its_problems() -> None:
    copies = {
        200: [BackupCopy("pbs:backup/vm/200/a", int(NOW - 3 * HOUR), 10)],  # masters: 2h max
        201: [
            BackupCopy("pbs:backup/vm/201/a", int(NOW - 50 * HOUR), 10),
            BackupCopy("pbs:backup/vm/201/b", int(NOW - HOUR), 10, verified="failed"),
        ],
    }
    rows = {
        r.vm: r
        for r in backup_rows(
            spec(), VMIDS, [job("nightly", {200, 201}), job("masters", {200})], copies, NOW
        )
    }
    master = rows["k8s-master-1"]
    assert master.jobs == ("nightly", "masters") and master.max_age == 2 * HOUR
    assert master.problems == ("the newest backup is 3.0 hours old (max_age 2.0 hours)",)
    worker = rows["k8s-worker-2"]
    assert worker.count == 2 and worker.newest is not None and worker.newest.volid.endswith("/b")
    assert worker.problems == ("the newest backup failed verification",)
    assert rows["k8s-worker-3"].problems == ("the VM does not exist",)


def test_a_disabled_job_covers_nothing() -> None:
    rows = backup_rows(spec(), VMIDS, [job("nightly", {200, 201}, enabled="0")], {}, NOW)
    assert rows[1].problems == ("no enabled backup job of the lab covers it", "no backup yet")


def test_jobs_not_applied_yet_are_shown_as_such() -> None:
    rows = job_rows(spec(), [job("nightly", {200})])
    assert [(r.name, r.on_proxmox, r.next_run) for r in rows] == [
        ("nightly", True, int(NOW) + HOUR),
        ("masters", False, None),
    ]


def test_backup_items_carry_notes_verification_and_protection() -> None:
    (item,) = parse_storage_items(
        [
            {
                "volid": "pbs:backup/vm/200/2024-05-01T10:00:00Z",
                "vmid": 200,
                "ctime": 1714557600,
                "notes": "k8s-master-1",
                "verification": {"state": "ok", "upid": "UPID:..."},
                "protected": 1,
            }
        ]
    )
    assert (item.notes, item.verified, item.protected) == ("k8s-master-1", "ok", True)
    with pytest.raises(MalformedReply, match="verification"):
        parse_storage_items([{"volid": "x", "verification": "ok"}])
