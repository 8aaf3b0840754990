"""pvescheduler down (``/_sim/scheduler``): nothing runs; after a start, ``repeat-missed``."""

from __future__ import annotations

from pathlib import Path

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.secret import Secret
from tests.sim.support import PASSWORD, Api

DAY = 86400
HOUR = 3600


def backup_times(api: Api, vmid: int) -> list[int]:
    """The start times of ``vmid``'s backups on ``local``, oldest first."""
    found = api.ok(
        "GET", "/nodes/pve/storage/local/content", params={"content": "backup", "vmid": vmid}
    )
    return sorted(int(b["ctime"]) for b in found)


def vzdump_starts(api: Api) -> list[int]:
    return sorted(
        t["starttime"] for t in api.ok("GET", "/nodes/pve/tasks") if t["type"] == "vzdump"
    )


def set_scheduler(api: Api, running: bool) -> None:
    assert api.ok("PUT", "/_sim/scheduler", json={"running": running}) == {"running": running}


def look(api: Api) -> None:
    """A request: the simulated pvescheduler catches up on every one."""
    api.ok("GET", "/version")


def next_2am(after: float) -> int:
    """The first 02:00 (UTC, as the simulator's calendar events) after ``after``."""
    day = int(after) // DAY * DAY
    return day + 2 * HOUR if day + 2 * HOUR > after else day + DAY + 2 * HOUR


def nightly(api: Api, job_id: str, vmid: int, **extra: object) -> int:
    """A job backing up ``vmid`` at 02:00 every day; its first run (as the list shows it)."""
    data: dict[str, object] = {"id": job_id, "schedule": "02:00", "vmid": vmid, "storage": "local"}
    api.ok("POST", "/cluster/backup", data={**data, **extra})
    (job,) = [j for j in api.ok("GET", "/cluster/backup") if j["id"] == job_id]
    return int(job.get("next-run", 0))


def move_to(api: Api, sim: PveSimulator, when: float) -> None:
    sim.advance(when - sim.clock.now())
    look(api)


def test_a_missed_job_runs_once_at_the_start_only_with_repeat_missed(
    api: Api, sim: PveSimulator
) -> None:
    for vmid in (101, 102, 103):
        api.finish(api.clone(vmid))
    first = nightly(api, "catch-up", 101, **{"repeat-missed": 1})
    assert first == next_2am(sim.clock.now())
    assert nightly(api, "skip", 102) == first
    assert nightly(api, "skip-too", 103, **{"repeat-missed": 0}) == first
    assert sim.clock.now() < first

    set_scheduler(api, False)
    move_to(api, sim, first + 3 * DAY + 5 * HOUR)  # four 02:00s missed
    assert vzdump_starts(api) == []
    restart = sim.clock.now()
    set_scheduler(api, True)
    sim.advance(1800)  # its first pass was at the start, not at the next request
    look(api)
    sim.advance(600)  # the run has ended
    assert backup_times(api, 101) == [int(restart)]
    assert backup_times(api, 102) == backup_times(api, 103) == []

    move_to(api, sim, first + 4 * DAY - 60)  # just before the next 02:00
    assert backup_times(api, 101) == [int(restart)]
    assert backup_times(api, 102) == backup_times(api, 103) == []
    move_to(api, sim, first + 4 * DAY + 600)
    assert backup_times(api, 101) == [int(restart), first + 4 * DAY]
    assert backup_times(api, 102) == backup_times(api, 103) == [first + 4 * DAY]
    assert vzdump_starts(api) == [int(restart)] + 3 * [first + 4 * DAY]


def test_a_start_with_nothing_missed_runs_nothing(api: Api, sim: PveSimulator) -> None:
    api.finish(api.clone(101))
    api.finish(api.clone(102))
    first = nightly(api, "catch-up", 101, **{"repeat-missed": 1})
    nightly(api, "skip", 102)
    move_to(api, sim, first + HOUR)  # the scheduler was up: both ran at 02:00
    assert backup_times(api, 101) == backup_times(api, 102) == [first]

    set_scheduler(api, False)
    move_to(api, sim, first + 3 * HOUR)
    set_scheduler(api, True)
    move_to(api, sim, first + DAY - 60)
    assert backup_times(api, 101) == backup_times(api, 102) == [first]
    move_to(api, sim, first + DAY + 600)
    assert backup_times(api, 101) == backup_times(api, 102) == [first, first + DAY]


def test_a_stopped_scheduler_runs_nothing(api: Api, sim: PveSimulator) -> None:
    api.finish(api.clone(101))
    assert api.ok("GET", "/_sim/scheduler") == {"running": True}
    api.ok("POST", "/cluster/backup", data={"schedule": "*:0/30", "vmid": 101, "storage": "local"})
    assert api.ok("PUT", "/_sim/scheduler", data={"running": "0"}) == {"running": False}
    assert api.ok("GET", "/_sim/scheduler") == {"running": False}
    set_scheduler(api, False)  # stopping a stopped one changes nothing
    for _ in range(4):
        sim.advance(6 * HOUR)
        look(api)
    sim.settle()  # nor does the background ticker's pass
    assert vzdump_starts(api) == [] and backup_times(api, 101) == []


def test_disabled_jobs_do_not_run_at_the_start_and_count_as_run_without_repeat_missed(
    api: Api, sim: PveSimulator
) -> None:
    api.finish(api.clone(101))
    api.finish(api.clone(102))
    first = next_2am(sim.clock.now())
    assert nightly(api, "off", 101, enabled=0) == 0  # no next-run when disabled
    nightly(api, "off-catch-up", 102, enabled=0, **{"repeat-missed": 1})
    set_scheduler(api, False)
    move_to(api, sim, first + 2 * DAY + HOUR)
    set_scheduler(api, True)
    move_to(api, sim, first + 2 * DAY + 2 * HOUR)
    assert vzdump_starts(api) == []
    # enabled again: the job without repeat-missed counted as run at the start
    api.ok("PUT", "/cluster/backup/off", data={"enabled": 1})
    move_to(api, sim, first + 2 * DAY + 3 * HOUR)
    assert backup_times(api, 101) == []
    move_to(api, sim, first + 3 * DAY + 600)
    assert backup_times(api, 101) == [first + 3 * DAY]


def test_the_stopped_scheduler_and_a_pending_start_survive_a_restart(tmp_path: Path) -> None:
    config = SimConfig(time_scale=0, state_dir=tmp_path, password=Secret(PASSWORD))
    sim = PveSimulator(config)
    api = Api(sim)
    api.finish(api.clone(101))
    first = nightly(api, "catch-up", 101, **{"repeat-missed": 1})
    set_scheduler(api, False)

    again = PveSimulator(config)
    api = Api(again)
    assert api.ok("GET", "/_sim/scheduler") == {"running": False}
    move_to(api, again, first + DAY + HOUR)
    assert vzdump_starts(api) == []
    restart = again.clock.now()
    set_scheduler(api, True)  # no request after it: the first pass is still to come

    third = PveSimulator(config)
    api = Api(third)
    assert api.ok("GET", "/_sim/scheduler") == {"running": True}
    third.advance(600)
    look(api)
    assert backup_times(api, 101) == [int(restart)]


def test_the_scheduler_control_needs_sys_audit_and_sys_modify(sim: PveSimulator) -> None:
    observer = Api(sim, sim.add_token("ci@pve!ro", {"/": ["Sys.Audit"]}))
    assert observer.ok("GET", "/_sim/scheduler") == {"running": True}
    denied = observer.call("PUT", "/_sim/scheduler", json={"running": False})
    assert denied.status_code == 403
    assert denied.reason_phrase == "Permission check failed (/, Sys.Modify)"
    assert sim.state.scheduler.running

    nobody = Api(sim, sim.add_token("ci@pve!none", {"/vms": ["VM.Audit"]}))
    blind = nobody.call("GET", "/_sim/scheduler")
    assert blind.status_code == 403
    assert blind.reason_phrase == "Permission check failed (/, Sys.Audit)"


def test_the_scheduler_control_wants_true_or_false(api: Api, sim: PveSimulator) -> None:
    for body in ({}, {"running": "maybe"}, {"running": [True]}, {"running": 2}):
        refused = api.call("PUT", "/_sim/scheduler", json=body)
        assert refused.status_code == 400
        assert refused.json()["errors"] == {"running": "true or false is required"}
    assert sim.state.scheduler.running
