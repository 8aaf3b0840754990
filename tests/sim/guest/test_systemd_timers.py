"""The simulated guests' systemd timers: calendar elapses (checked against the real
``systemd-analyze calendar``), start, daemon-reload, Persistent=true, failed runs."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest

from homelab_sim.guest import systemd
from homelab_sim.guest.cluster_guest import boot_timers
from homelab_sim.guest.clusters import ClusterBook
from homelab_sim.guest.machine import Machine

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z, a Monday
TIMER = "snap.timer"


def machine(saved: dict[str, Any] | None = None) -> Machine:
    m = Machine(
        name="node",
        book=ClusterBook(None),
        cpus=2,
        mem_mib=2048,
        user_data="#cloud-config\n{}\n",
        instance_id="iid-1",
        start=T0,
        saved=saved,
    )
    if saved is None:
        m.time = T0
    return m


def install(m: Machine, calendar: str, *, persistent: bool = True, script: str = "") -> None:
    m.system.write("/usr/local/bin/snap", (script or "date -u +%s >> /var/log/snap\n").encode())
    m.system.write(
        "/etc/systemd/system/snap.service",
        b"[Unit]\nDescription=snap\n\n[Service]\nType=oneshot\n"
        b"ExecStart=/bin/sh /usr/local/bin/snap\n",
    )
    m.system.write(
        f"/etc/systemd/system/{TIMER}",
        f"[Timer]\nOnCalendar={calendar}\nPersistent={'true' if persistent else 'false'}\n\n"
        "[Install]\nWantedBy=timers.target\n".encode(),
    )


def sh(m: Machine, script: str) -> tuple[int, str, str]:
    code, out, err, _ = m.agent_exec(["sh", "-c", script], b"")
    return code, out, err


def runs(m: Machine) -> list[int]:
    return [int(line) for line in (m.system.text("/var/log/snap") or "").split()]


@pytest.mark.parametrize(
    "calendar",
    [
        "*-*-* *:00,30:00",
        "Mon,Tue,Wed,Thu,Fri *-*-* 02:30:00",
        "Sat,Sun,Mon *-*-01,15 03:00:00",
        "Tue..Thu *-*-* 03:00:00",
        "*-02-29 12:00:00",
        "2030-01-01 00:00:00 UTC",
        "*-*-* 08..17:00:00",
    ],
)
def test_elapses_are_systemds(calendar: str) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("needs systemd-analyze")
    base = datetime.fromtimestamp(T0, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    done = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=4", f"--base-time={base}", calendar],
        capture_output=True,
        text=True,
        env={"TZ": "UTC", "LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    if "--base-time" in done.stderr:
        pytest.skip("this systemd-analyze has no --base-time")
    assert done.returncode == 0, done.stderr
    want = [
        line.split(":", 1)[1].strip()
        for line in done.stdout.splitlines()
        if line.strip().startswith(("Next elapse:", "Iter. #"))
    ]
    parsed = systemd.parse_calendar(calendar)
    got, at = [], T0
    for _ in range(len(want)):
        nxt = parsed.next_elapse(at)
        assert nxt is not None
        got.append(datetime.fromtimestamp(nxt, UTC).strftime("%a %Y-%m-%d %H:%M:%S UTC"))
        at = nxt
    assert want and got == want, done.stdout


@pytest.mark.parametrize(
    "calendar",
    [
        "hourly",
        "*:0/15",
        "*-*-* 02:00",
        "Mon 25:00:00",
        "Foo *-*-* 1:2:3",
        "Sat..Mon *-*-* 03:00:00",
    ],
)
def test_forms_not_modelled_or_invalid_are_refused(calendar: str) -> None:
    with pytest.raises(systemd.UnitError, match="Failed to parse calendar specification"):
        systemd.parse_calendar(calendar)


def test_a_timer_runs_its_service_at_each_elapse_in_order() -> None:
    m = machine()
    install(m, "*-*-* *:00,30:00")
    assert sh(m, f"systemctl daemon-reload && systemctl enable --now {TIMER}")[0] == 0
    assert sh(m, f"systemctl is-active {TIMER}")[1] == "active\n"
    m.run_timers(T0 + 7200 + 10)
    assert runs(m) == [int(T0) + 1800 * k for k in range(1, 5)]
    assert "systemd[1]: Finished snap.service." in m.lines


def test_a_changed_file_counts_only_after_daemon_reload() -> None:
    m = machine()
    install(m, "*-*-* *:00,30:00")
    sh(m, f"systemctl enable --now {TIMER}")
    install(m, "*-*-* *:00:00")  # hourly now, but not reloaded
    m.run_timers(T0 + 3600 + 10)
    assert runs(m) == [int(T0) + 1800, int(T0) + 3600]
    m.time = T0 + 3600 + 10
    sh(m, "systemctl daemon-reload")
    m.run_timers(T0 + 3 * 3600 + 10)
    assert runs(m)[2:] == [int(T0) + 7200, int(T0) + 3 * 3600]


def test_persistent_timers_catch_up_once_at_boot_others_do_not() -> None:
    for persistent, expected in ((True, 1), (False, 0)):
        m = machine()
        install(m, "*-*-* *:00,30:00", persistent=persistent)
        sh(m, f"systemctl enable --now {TIMER}")
        m.run_timers(T0 + 1800)
        assert len(runs(m)) == 1
        m.system.active.clear()  # the VM is off for three hours
        boot = T0 + 1800 + 3 * 3600 + 60
        m.system.active = {u for u, s in m.system.units.items() if s == "enabled"}
        boot_timers(m.system, boot)
        m.run_timers(boot + 5)
        assert runs(m)[1:] == [int(boot)] * expected, persistent


def test_a_failing_service_is_failed_until_it_succeeds() -> None:
    m = machine()
    install(m, "*-*-* *:00,30:00", script="exit 3\n")
    sh(m, f"systemctl enable --now {TIMER}")
    m.run_timers(T0 + 1800)
    assert sh(m, "systemctl is-failed snap.service")[:2] == (0, "failed\n")
    assert "systemd[1]: snap.service: Failed with result 'exit-code'." in m.lines
    install(m, "*-*-* *:00,30:00")
    m.run_timers(T0 + 3600)
    assert sh(m, "systemctl is-failed snap.service")[0] == 1


def test_a_bad_timer_does_not_start_and_unknown_units_are_inactive() -> None:
    m = machine()
    install(m, "*:0/15")
    code, _, err = sh(m, f"systemctl enable --now {TIMER}")
    assert code == 1 and "has a bad unit file setting" in err
    assert TIMER not in m.system.active
    assert sh(m, "systemctl is-active nothing.timer")[:2] == (3, "inactive\n")


def test_timers_survive_the_state_round_trip() -> None:
    m = machine()
    install(m, "*-*-* *:00,30:00")
    sh(m, f"systemctl enable --now {TIMER}")
    m.run_timers(T0 + 1800)
    saved = m.to_dict()
    assert saved["system"]["timers"][TIMER]["last"] == T0 + 1800
    again = machine(saved)
    again.run_timers(T0 + 3600)
    assert runs(again) == [int(T0) + 1800, int(T0) + 3600]


def test_a_restart_without_daemon_reload_keeps_the_loaded_schedule_and_warns() -> None:
    m = machine()
    install(m, "*-*-* *:00,30:00")
    sh(m, f"systemctl enable --now {TIMER}")
    install(m, "*-*-* *:00:00")
    code, _, err = sh(m, f"systemctl restart {TIMER}")
    assert code == 0
    assert f"Warning: The unit file, source configuration file or drop-ins of {TIMER}" in err
    m.run_timers(T0 + 3600 + 10)
    assert runs(m) == [int(T0) + 1800, int(T0) + 3600]  # still half-hourly
    assert sh(m, f"systemctl daemon-reload && systemctl restart {TIMER}")[2] == ""
    m.time = T0 + 3600 + 10
    m.run_timers(T0 + 3 * 3600 + 10)
    assert runs(m)[2:] == [int(T0) + 7200, int(T0) + 3 * 3600]
