"""The simulated pvescheduler: backup jobs run on their calendar events, prune, note and cover."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from homelab_sim.pve.backup_jobs import prune_marks
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.pve.state import Volume
from tests.sim.support import Api


def backups(api: Api, vmid: int | None = None) -> list[dict[str, object]]:
    params: dict[str, object] = {"content": "backup"}
    if vmid is not None:
        params["vmid"] = vmid
    found: list[dict[str, object]] = api.ok(
        "GET", "/nodes/pve/storage/local/content", params=params
    )
    return sorted(found, key=lambda b: int(str(b["ctime"])))


def test_a_job_runs_at_its_times_and_keeps_what_its_retention_says(
    api: Api, sim: PveSimulator
) -> None:
    api.finish(api.clone(101, name="web-1"))
    api.finish(api.clone(102, name="web-2"))
    api.ok(
        "POST",
        "/cluster/backup",
        data={
            "id": "halfhourly",
            "schedule": "*:0/30",
            "vmid": "101",
            "storage": "local",
            "prune-backups": "keep-last=3",
            "notes-template": "{{guestname}} on {{node}} in {{cluster}}",
            "compress": "zstd",
        },
    )
    (job,) = api.ok("GET", "/cluster/backup")
    first = int(job["next-run"])
    assert first > sim.clock.now() and time.gmtime(first).tm_min in {0, 30}
    assert time.gmtime(first).tm_sec == 0
    assert "next-run" not in api.ok("GET", "/cluster/backup/halfhourly")  # the list shows it

    sim.advance(first - sim.clock.now() + 3 * 3600)  # seven runs: first .. first + 3 h
    api.ok("GET", "/version")  # the scheduler looks on every request
    sim.advance(600)  # the run at first + 3 h is still going: let it end
    kept = backups(api, 101)
    assert [b["ctime"] for b in kept] == [first + k * 1800 for k in (4, 5, 6)]
    assert all(str(b["volid"]).endswith(".vma.zst") for b in kept)
    assert kept[0]["notes"] == "web-1 on pve in standalone node"
    stamp = time.strftime("%Y_%m_%d-%H_%M_%S", time.gmtime(first + 6 * 1800))
    assert kept[-1]["volid"] == f"local:backup/vzdump-qemu-101-{stamp}.vma.zst"
    assert backups(api, 102) == []
    runs = [t for t in api.ok("GET", "/nodes/pve/tasks") if t["type"] == "vzdump"]
    assert len(runs) == 7 and {t["user"] for t in runs} == {"root@pam"}
    log = api.log(runs[0]["upid"])
    assert "INFO: prune older backups with retention: keep-last=3" in log
    assert "INFO: adding notes to backup" in log


def test_a_disabled_job_does_not_run_but_still_covers(api: Api, sim: PveSimulator) -> None:
    api.finish(api.clone(101, name="web-1"))
    api.finish(api.clone(102, name="web-2"))
    uncovered = api.ok("GET", "/cluster/backup-info/not-backed-up")
    template = {"vmid": 9000, "type": "qemu", "name": "ubuntu-2404-cloudinit"}
    assert uncovered == [
        {"vmid": 101, "type": "qemu", "name": "web-1"},
        {"vmid": 102, "type": "qemu", "name": "web-2"},
        template,
    ]  # pve-manager skips no template: no job covers it
    api.ok(
        "POST",
        "/cluster/backup",
        data={"schedule": "hourly", "vmid": "101", "storage": "local", "enabled": 0},
    )
    (job,) = api.ok("GET", "/cluster/backup")
    assert "next-run" not in job and len(job["id"]) == 36  # a bare UUID when no id was given
    sim.advance(2 * 3600)
    assert backups(api) == []
    assert api.ok("GET", "/cluster/backup-info/not-backed-up") == [
        {"vmid": 102, "type": "qemu", "name": "web-2"},
        template,
    ]
    api.ok("POST", "/cluster/backup", data={"schedule": "hourly", "all": 1, "exclude": "102"})
    assert api.ok("GET", "/cluster/backup-info/not-backed-up") == [
        {"vmid": 102, "type": "qemu", "name": "web-2"}
    ]
    # a job bound to a node covers only that node's guests
    api.ok("POST", "/cluster/backup", data={"schedule": "hourly", "all": 1, "node": "pve2"})
    assert len(api.ok("GET", "/cluster/backup-info/not-backed-up")) == 1
    api.ok("POST", "/cluster/backup", data={"schedule": "hourly", "all": 1, "node": "pve"})
    assert api.ok("GET", "/cluster/backup-info/not-backed-up") == []


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("61", "unable to parse calendar event at '61' - date or time specification"),
        ("someday", "unable to parse calendar event at 'someday' - weekday"),
    ],
)
def test_a_bad_schedule_is_refused_as_pve_refuses_it(api: Api, schedule: str, reason: str) -> None:
    response = api.call("POST", "/cluster/backup", data={"schedule": schedule, "all": 1})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "schedule": f"invalid format - invalid calendar event '{schedule}' - {reason}\n"
    }


def test_unknown_notes_variables_only_warn(api: Api) -> None:
    api.finish(api.clone(101, name="web-1"))
    upid = api.ok(
        "POST",
        "/nodes/pve/vzdump",
        data={"vmid": "101", "storage": "local", "notes-template": "{{name}}"},
    )
    assert api.finish(upid)["exitstatus"] == "WARNINGS: 1"
    assert "WARN: unable to add notes - found unknown: name" in api.log(upid)
    (made,) = backups(api)
    assert "notes" not in made and str(made["volid"]).endswith(".vma")  # compress: none


def _volume(when: str, protected: bool = False) -> Volume:
    ctime = int(datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp())
    meta = {"protected": True} if protected else {}
    return Volume(
        volid=f"b:backup/{when}",
        storage="b",
        node="pve",
        content="backup",
        size=1,
        vmid=100,
        ctime=ctime,
        meta=meta,
    )


def test_pruning_follows_pve_storage_rules() -> None:
    days = [_volume(f"2024-01-{d:02d}T{h:02d}:00:00") for d in range(1, 11) for h in (1, 13)]
    marks = prune_marks(days, {"keep-last": 2, "keep-daily": 3})
    kept = sorted(v for v, m in marks.items() if m == "keep")
    # the two newest, then the newest of each of the three days before the ones already kept
    assert kept == [
        "b:backup/2024-01-07T13:00:00",
        "b:backup/2024-01-08T13:00:00",
        "b:backup/2024-01-09T13:00:00",
        "b:backup/2024-01-10T01:00:00",
        "b:backup/2024-01-10T13:00:00",
    ]
    # a day already kept by keep-last does not count again for keep-daily
    after_last = prune_marks(days, {"keep-last": 1, "keep-daily": 2})
    assert sorted(v for v, m in after_last.items() if m == "keep") == [
        "b:backup/2024-01-08T13:00:00",
        "b:backup/2024-01-09T13:00:00",
        "b:backup/2024-01-10T13:00:00",
    ]
    weekly = prune_marks(days, {"keep-weekly": 2})
    # 2024-01-01 is a Monday: ISO weeks 1 (1st-7th) and 2 (8th-10th), newest of each
    assert sorted(v for v, m in weekly.items() if m == "keep") == [
        "b:backup/2024-01-07T13:00:00",
        "b:backup/2024-01-10T13:00:00",
    ]
    shielded = [*days, _volume("2023-12-01T00:00:00", protected=True)]
    assert prune_marks(shielded, {"keep-last": 1})["b:backup/2023-12-01T00:00:00"] == "protected"
    assert set(prune_marks(days, {"keep-all": 1}).values()) == {"keep"}
    assert set(prune_marks(days, {}).values()) == {"keep"}
