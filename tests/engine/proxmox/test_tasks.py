"""UPIDs and waiting for tasks: OK, WARNINGS, failures with the log tail, lock timeouts."""

from __future__ import annotations

import httpx
import pytest

from homelab.core.pve_reply import InvalidUpid, TaskStatus, parse_task_status, parse_upid
from homelab.engine.proxmox import errors as e
from homelab.engine.proxmox.tasks import TaskWaits

from .scripted import UPID_CLONE, ScriptedPve, fail, make_client, ok

STATUS = f"/nodes/pve1/tasks/{UPID_CLONE}/status"
LOG = f"/nodes/pve1/tasks/{UPID_CLONE}/log"
RUNNING = ok({"status": "running", "upid": UPID_CLONE})


def stopped(exitstatus: str) -> httpx.Response:
    return ok({"status": "stopped", "exitstatus": exitstatus, "upid": UPID_CLONE})


def test_upid_parts_are_decoded() -> None:
    upid = parse_upid(UPID_CLONE)
    assert (upid.node, upid.type, upid.id, upid.user) == (
        "pve1",
        "qmclone",
        "9000",
        "root@pam!homelab",
    )
    assert (upid.pid, upid.pstart, upid.starttime) == (0x3A1F2, 0x1B2C3D4, 0x66A1B2C3)
    assert str(upid) == UPID_CLONE


def test_upid_with_empty_id_and_nine_digit_pstart() -> None:
    upid = parse_upid("UPID:pve-2:000012AB:1B2C3D4E5:66A1B2C3:imgcopy::root@pam:")
    assert upid.node == "pve-2" and upid.id == "" and upid.type == "imgcopy"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "UPID:pve1:0003A1F2:01B2C3D4:66A1B2C3:qmclone:9000:root@pam",  # no trailing colon
        "UPID:-pve:0003A1F2:01B2C3D4:66A1B2C3:qmclone:9000:root@pam:",
        "UPID:pve1:3A1F2:01B2C3D4:66A1B2C3:qmclone:9000:root@pam:",
        "UPID:pve1:0003A1F2:01B2C3D4:66A1B2C3:qm clone:9000:root@pam:",
        "null",
    ],
)
def test_malformed_upids_are_refused(raw: str) -> None:
    with pytest.raises(InvalidUpid):
        parse_upid(raw)


@pytest.mark.parametrize(
    ("exitstatus", "success"),
    [
        ("OK", True),
        ("WARNINGS: 3", True),
        ("WARNINGS: x", False),
        ("ok", False),
        ("unexpected status", False),
        ("clone failed: boom", False),
    ],
)
def test_success_test_matches_proxmox(exitstatus: str, success: bool) -> None:
    status = parse_task_status({"status": "stopped", "exitstatus": exitstatus})
    assert status.stopped and status.ok is success
    assert status.warnings == (3 if exitstatus == "WARNINGS: 3" else 0)


def test_a_running_task_is_not_stopped() -> None:
    assert parse_task_status({"data": {"status": "running"}}) == TaskStatus(stopped=False)


def test_wait_polls_the_node_in_the_upid_until_stopped() -> None:
    pve = ScriptedPve().on("GET", STATUS, RUNNING, RUNNING, RUNNING, stopped("OK"))
    client, clock, _ = make_client(pve)
    result = client.wait_task(UPID_CLONE, TaskWaits(timeout=60, poll=1.0))
    assert result.exitstatus == "OK" and result.warnings == 0
    assert result.upid.node == "pve1"
    assert len(pve.calls("GET", STATUS)) == 4
    assert clock.sleeps == [1.0, 1.5, 2.25]


def test_poll_interval_is_capped() -> None:
    pve = ScriptedPve().on("GET", STATUS, *([RUNNING] * 12), stopped("OK"))
    client, clock, _ = make_client(pve)
    client.wait_task(UPID_CLONE, TaskWaits(timeout=600, poll=1.0))
    assert max(clock.sleeps) == 5.0


def test_apply_waits_poll_fast_with_a_low_cap() -> None:
    pve = ScriptedPve().on("GET", STATUS, *([RUNNING] * 5), stopped("OK"))
    client, clock, _ = make_client(pve)
    client.wait_task(UPID_CLONE, TaskWaits(timeout=60, poll=0.25, poll_cap=0.5))
    assert clock.sleeps == [0.25, 0.375, 0.5, 0.5, 0.5]


def test_warnings_are_a_success_with_a_count() -> None:
    pve = ScriptedPve().on("GET", STATUS, stopped("WARNINGS: 2"))
    client, _, _ = make_client(pve)
    assert client.wait_task(UPID_CLONE).warnings == 2


def test_failure_carries_the_log_tail() -> None:
    lines = [{"n": i, "t": f"line {i}"} for i in range(31, 51)]
    lines[-1] = {"n": 50, "t": "TASK ERROR: clone failed: storage 'fast' does not exist"}
    pve = (
        ScriptedPve()
        .on("GET", STATUS, stopped("clone failed: storage 'fast' does not exist"))
        .on("GET", LOG, ok([{"n": 1, "t": "create full clone"}], total=50), ok(lines, total=50))
    )
    client, _, _ = make_client(pve)
    with pytest.raises(e.TaskFailed) as caught:
        client.wait_task(UPID_CLONE)
    error = caught.value
    assert type(error) is e.TaskFailed and not error.transient
    assert error.exitstatus == "clone failed: storage 'fast' does not exist"
    assert len(error.log_tail) == 20 and error.log_tail[-1].startswith("TASK ERROR")
    assert "TASK ERROR: clone failed" in error.message
    second = pve.calls("GET", LOG)[1]
    assert second.url.params["start"] == "30" and second.url.params["limit"] == "20"


def test_lock_timeout_in_exitstatus_is_transient() -> None:
    status = "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"
    pve = (
        ScriptedPve()
        .on("GET", STATUS, stopped(status))
        .on("GET", LOG, ok([{"n": 1, "t": "TASK ERROR: " + status}], total=1))
    )
    client, _, _ = make_client(pve)
    with pytest.raises(e.LockTimeoutError) as caught:
        client.wait_task(UPID_CLONE)
    assert isinstance(caught.value, e.TaskLockTimeout) and caught.value.transient


def test_failure_without_a_readable_log_still_reports_the_exitstatus() -> None:
    pve = ScriptedPve().on("GET", STATUS, stopped("unexpected status"))
    client, _, _ = make_client(pve)
    with pytest.raises(e.TaskFailed, match="unexpected status") as caught:
        client.wait_task(UPID_CLONE)
    assert caught.value.log_tail == ()


def test_timeout_leaves_the_task_running() -> None:
    pve = ScriptedPve().on("GET", STATUS, RUNNING)
    client, clock, _ = make_client(pve)
    with pytest.raises(e.TaskTimeout) as caught:
        client.wait_task(UPID_CLONE, TaskWaits(timeout=10, poll=1.0))
    assert caught.value.upid == UPID_CLONE
    assert sum(clock.sleeps) == pytest.approx(10.0)


def test_task_not_visible_right_after_dispatch_is_tolerated() -> None:
    no_task = fail(
        400, "Parameter verification failed.", {"data": None, "errors": {"upid": "no such task"}}
    )
    pve = ScriptedPve().on("GET", STATUS, no_task, no_task, stopped("OK"))
    client, _, _ = make_client(pve)
    assert client.wait_task(UPID_CLONE).exitstatus == "OK"


def test_task_never_visible_fails_as_not_found() -> None:
    no_task = fail(
        400, "Parameter verification failed.", {"data": None, "errors": {"upid": "no such task"}}
    )
    pve = ScriptedPve().on("GET", STATUS, no_task)
    client, _, _ = make_client(pve)
    with pytest.raises(e.NotFoundError, match="no such task"):
        client.wait_task(UPID_CLONE)


def test_run_task_restarts_a_task_that_failed_on_a_lock() -> None:
    status = "VM is locked (clone)"
    pve = (
        ScriptedPve()
        .on("POST", "/nodes/pve1/qemu/9000/clone", ok(UPID_CLONE))
        .on("GET", STATUS, stopped(status), stopped("OK"))
        .on("GET", LOG, ok([{"n": 1, "t": "TASK ERROR: " + status}], total=1))
    )
    client, _, waits = make_client(pve)
    result = client.run_task(
        lambda: client.clone("pve1", 9000, 201, name="a", full=True),
        what="clone",
        waits=TaskWaits(timeout=60),
    )
    assert result is not None and result.exitstatus == "OK"
    assert len(pve.calls("POST", "/nodes/pve1/qemu/9000/clone")) == 2
    assert len(waits) == 1


def test_run_task_does_not_restart_a_real_failure() -> None:
    pve = (
        ScriptedPve()
        .on("POST", "/nodes/pve1/qemu/9000/clone", ok(UPID_CLONE))
        .on("GET", STATUS, stopped("clone failed: out of space"))
        .on("GET", LOG, ok([], total=0))
    )
    client, _, waits = make_client(pve)
    with pytest.raises(e.TaskFailed):
        client.run_task(lambda: client.clone("pve1", 9000, 201, name="a", full=True), what="clone")
    assert len(pve.calls("POST", "/nodes/pve1/qemu/9000/clone")) == 1 and waits == []


def test_run_task_starts_again_when_dispatch_proves_nothing_was_done() -> None:
    pve = ScriptedPve().on("GET", STATUS, stopped("OK"))
    client, _, waits = make_client(pve)
    outcomes: list[str] = []

    def dispatch() -> str:
        outcomes.append("sent")
        if len(outcomes) == 1:
            raise e.NotDone("clone of a did not happen; sending it again")
        return UPID_CLONE

    result = client.run_task(dispatch, what="clone")
    assert result is not None and result.exitstatus == "OK"
    assert outcomes == ["sent", "sent"] and len(waits) == 1


def test_run_task_does_not_start_again_after_an_ambiguous_error() -> None:
    pve = ScriptedPve().on("POST", "/nodes/pve1/qemu/9000/clone", fail(500, "got unexpected reply"))
    client, _, waits = make_client(pve)
    with pytest.raises(e.ServerError):
        client.run_task(lambda: client.clone("pve1", 9000, 201, name="a", full=True), what="x")
    assert len(pve.calls("POST", "/nodes/pve1/qemu/9000/clone")) == 1 and waits == []
