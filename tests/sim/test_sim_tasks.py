"""Tasks (UPIDs, status, log, list) and backups (vzdump, backup jobs, restore)."""

from __future__ import annotations

import re

from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.pve.tasks import UPID_RE
from tests.sim.support import Api


def test_upid_format_status_and_log(api: Api, sim: PveSimulator) -> None:
    upid = api.clone(101)
    assert UPID_RE.match(upid)
    assert upid.endswith(":root@pam!sim:")
    running = api.ok("GET", f"/nodes/pve/tasks/{upid}/status")
    assert running["status"] == "running" and "exitstatus" not in running
    assert (running["user"], running["tokenid"], running["type"]) == ("root@pam", "sim", "qmclone")
    stopped = api.finish(upid)
    assert stopped["exitstatus"] == "OK" and stopped["upid"] == upid
    log = api.call("GET", f"/nodes/pve/tasks/{upid}/log", params={"start": 1, "limit": 1})
    body = log.json()
    assert body["total"] == 3
    assert body["data"] == [{"n": 2, "t": '  Logical volume "vm-101-disk-0" created.'}]
    assert api.log(upid)[-1] == "TASK OK"


def test_failed_task_log_and_unknown_upids(api: Api, sim: PveSimulator) -> None:
    upid = api.ok("POST", "/nodes/pve/qemu/9000/status/start")
    api.finish(upid)
    assert api.log(upid)[-1] == "TASK ERROR: you can't start a vm if it's a template"
    other_node = upid.replace("UPID:pve:", "UPID:pve2:")
    wrong = api.call("GET", f"/nodes/pve/tasks/{other_node}/status")
    assert wrong.status_code == 400 and wrong.json()["errors"] == {"upid": "no such task"}
    garbage = api.call("GET", "/nodes/pve/tasks/UPID:nope/status")
    assert garbage.status_code == 400


def test_task_list(api: Api) -> None:
    first = api.clone(101)
    api.finish(first)
    api.clone(102)
    archive = api.ok("GET", "/nodes/pve/tasks")
    assert [t["upid"] for t in archive] == [first]
    assert archive[0]["status"] == "OK" and archive[0]["endtime"] >= archive[0]["starttime"]
    everything = api.ok(
        "GET", "/nodes/pve/tasks", params={"source": "all", "typefilter": "qmclone"}
    )
    assert len(everything) == 2


def test_vzdump_creates_a_backup_and_restore_uses_it(api: Api, sim: PveSimulator) -> None:
    api.finish(api.clone(101, name="web-1"))
    upid = api.ok(
        "POST",
        "/nodes/pve/vzdump",
        data={"vmid": "101", "storage": "local", "mode": "snapshot", "compress": "zstd"},
    )
    assert upid.split(":")[5:7] == ["vzdump", "101"]
    assert api.ok("GET", "/nodes/pve/qemu/101/config")["lock"] == "backup"
    assert api.finish(upid)["exitstatus"] == "OK"
    assert "lock" not in api.ok("GET", "/nodes/pve/qemu/101/config")
    backups = api.ok("GET", "/nodes/pve/storage/local/content", params={"content": "backup"})
    assert len(backups) == 1
    assert re.match(
        r"^local:backup/vzdump-qemu-101-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.vma\.zst$",
        backups[0]["volid"],
    )
    assert "INFO: Backup job finished successfully" in api.log(upid)
    restore = api.ok("POST", "/nodes/pve/qemu", data={"vmid": 150, "archive": backups[0]["volid"]})
    assert restore.split(":")[5] == "qmrestore"
    api.finish(restore)
    assert api.ok("GET", "/nodes/pve/qemu/150/config")["name"] == "web-1"


def test_backup_jobs_crud(api: Api) -> None:
    assert (
        api.ok(
            "POST",
            "/cluster/backup",
            data={"id": "nightly", "schedule": "02:30", "vmid": "101", "storage": "local"},
        )
        is None
    )
    job = api.ok("GET", "/cluster/backup/nightly")
    assert job["schedule"] == "02:30" and job["type"] == "vzdump" and job["enabled"] == 1
    api.ok("PUT", "/cluster/backup/nightly", data={"enabled": 0, "comment": "weekdays"})
    updated = api.ok("GET", "/cluster/backup/nightly")
    assert (updated["enabled"], updated["comment"]) == (0, "weekdays")
    duplicate = api.call("POST", "/cluster/backup", data={"id": "nightly", "schedule": "daily"})
    assert duplicate.reason_phrase == "Job 'nightly' already exists"
    unscheduled = api.call("POST", "/cluster/backup", data={"id": "weekly"})
    assert unscheduled.reason_phrase == "neither 'starttime' nor 'schedule' were set"
    api.ok("POST", "/cluster/backup", data={"schedule": "sun 01:00"})
    assert len(api.ok("GET", "/cluster/backup")) == 2
    api.ok("DELETE", "/cluster/backup/nightly")
    gone = api.call("GET", "/cluster/backup/nightly")
    assert gone.status_code == 400 and gone.json()["errors"] == {"id": "No such job 'nightly'"}


def test_pools(api: Api) -> None:
    api.ok("POST", "/pools", data={"poolid": "lab", "comment": "k8s"})
    api.finish(api.clone(101, pool="lab"))
    pools = api.ok("GET", "/pools")
    assert pools == [{"poolid": "lab", "comment": "k8s"}]
    members = api.ok("GET", "/pools", params={"poolid": "lab"})[0]["members"]
    assert [m["vmid"] for m in members] == [101]
    resources = {r["id"]: r for r in api.ok("GET", "/cluster/resources")}
    assert "/pool/lab" in resources


def test_pool_updates(api: Api) -> None:
    api.ok("POST", "/pools", data={"poolid": "a"})
    api.ok("POST", "/pools", data={"poolid": "b"})
    api.finish(api.clone(101))
    api.ok("PUT", "/pools/a", data={"vms": "101", "storage": "local"})
    moved = api.call("PUT", "/pools/b", data={"vms": "101"})
    assert moved.reason_phrase == "VM 101 belongs already to pool 'a'"
    api.ok("PUT", "/pools/b", data={"vms": "101", "allow-move": 1})
    assert [m["vmid"] for m in api.ok("GET", "/pools/b")["members"]] == [101]
    not_empty = api.call("DELETE", "/pools/b")
    assert not_empty.reason_phrase == "pool is not empty (cannot delete)"
    api.ok("PUT", "/pools/b", data={"vms": "101", "delete": 1})
    api.ok("PUT", "/pools/a", data={"storage": "local", "delete": 1})
    api.ok("DELETE", "/pools/b")
    api.ok("DELETE", "/pools/a")
    assert api.ok("GET", "/pools") == []
