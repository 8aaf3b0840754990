"""The scheduled etcd snapshot script, run by the real dash with the real coreutils and grep
(only crictl is a stand-in): it saves a snapshot and prunes by the same rules as
``core.backup.retention.kept``, which is checked against Proxmox's documented examples."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homelab.core.backup.calendar import parse_calendar_event
from homelab.core.backup.retention import kept
from homelab.core.render.etcd_schedule import (
    SNAPSHOT_DIR,
    WORK,
    on_calendar,
    snapshot_script,
    snapshot_units,
)
from homelab.core.spec.backup import EtcdBackup, Retention

pytestmark = pytest.mark.skipif(shutil.which("dash") is None, reason="needs dash")

CRICTL = """#!/bin/sh
# crictl stand-in: one running etcd container; exec runs etcdctl/etcdutl stand-ins
case "$1" in
  ps) [ -n "$NO_ETCD" ] || echo 4f2a9c ;;
  exec)
    shift 2
    case "$1" in
      etcdctl) for last; do :; done; [ -n "$FAIL_SAVE" ] && exit 1; printf 'snap' > "$last" ;;
      etcdutl) [ -s "$4" ] || exit 1 ;;
    esac ;;
esac
"""


def run_script(tmp: Path, etcd: EtcdBackup, existing: list[int], **env: str) -> tuple[int, str]:
    folder, work = tmp / "snapshots", tmp / "etcd" / "scheduled.db"
    folder.mkdir(exist_ok=True)
    work.parent.mkdir(exist_ok=True)
    for stamp in existing:
        (folder / f"{stamp}.db").write_bytes(b"old")
    (folder / "notes.txt").write_text("not a snapshot")
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "crictl").write_text(CRICTL)
    (bin_dir / "crictl").chmod(0o755)
    (bin_dir / "sleep").write_text('#!/bin/sh\necho "slept $1" >&2\n')
    (bin_dir / "sleep").chmod(0o755)
    script = snapshot_script(etcd)
    assert f"dir={SNAPSHOT_DIR}\n" in script and f"work={WORK}\n" in script
    script = script.replace(f"dir={SNAPSHOT_DIR}\n", f"dir={folder}\n").replace(
        f"work={WORK}\n", f"work={work}\n"
    )
    (tmp / "snap.sh").write_text(script)
    done = subprocess.run(
        ["dash", str(tmp / "snap.sh")],
        capture_output=True,
        text=True,
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "LC_ALL": "C.UTF-8",
            "TZ": "Europe/Berlin",
            **env,
        },
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def remaining(tmp: Path) -> set[int]:
    return {int(p.stem) for p in (tmp / "snapshots").glob("*.db")}


NOW = 1_764_000_000  # the stand-in snapshots are all older than the real clock's


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ages=st.lists(st.integers(min_value=60, max_value=400 * 86400), min_size=0, max_size=30),
    counts=st.dictionaries(
        st.sampled_from(["last", "hourly", "daily", "weekly", "monthly", "yearly"]),
        st.integers(min_value=1, max_value=6),
        min_size=1,
    ),
)
def test_the_script_keeps_what_proxmoxs_rules_keep(
    tmp_path_factory: pytest.TempPathFactory, ages: list[int], counts: dict[str, int]
) -> None:
    tmp = tmp_path_factory.mktemp("snap")
    etcd = EtcdBackup(retention=Retention(**{f"keep_{k}": v for k, v in counts.items()}))
    existing = sorted({NOW - age for age in ages})
    code, output = run_script(tmp, etcd, existing)
    assert code == 0, output
    left = remaining(tmp)
    new = left - set(existing)
    assert len(new) == 1, (left, output)
    assert left == kept([*existing, *new], counts), output
    assert (tmp / "snapshots" / "notes.txt").exists()
    assert not [p.name for p in (tmp / "snapshots").iterdir() if p.name.startswith(".")]
    assert oct((tmp / "snapshots" / f"{new.pop()}.db").stat().st_mode & 0o777) == "0o600"


def test_a_week_of_hourly_snapshots_pruned_to_the_default_retention(tmp_path: Path) -> None:
    etcd = EtcdBackup()  # hourly, keep-last=24, keep-daily=7
    existing = [NOW - 3600 * h for h in range(1, 24 * 10)]
    code, output = run_script(tmp_path, etcd, existing)
    assert code == 0, output
    left = remaining(tmp_path)
    assert len(left) == 24 + 7
    assert left == kept(left | set(existing), {"last": 24, "daily": 7})
    assert output.count("pruned ") == len(existing) + 1 - len(left)


def test_a_failed_save_keeps_the_old_snapshots_and_fails(tmp_path: Path) -> None:
    existing = [NOW - 3600 * h for h in range(1, 40)]
    code, _ = run_script(tmp_path, EtcdBackup(), existing, FAIL_SAVE="1")
    assert code == 1
    assert remaining(tmp_path) == set(existing)


def test_no_etcd_container_fails_without_touching_anything(tmp_path: Path) -> None:
    existing = [NOW - 60 * m for m in range(1, 40)]
    code, output = run_script(tmp_path, EtcdBackup(), existing, NO_ETCD="1")
    assert code == 1
    assert "no etcd container runs on this node after 180 s" in output
    assert output.count("slept 5") == 36
    assert remaining(tmp_path) == set(existing)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("hourly", "*-*-* *:00:00"),
        ("daily", "*-*-* 00:00:00"),
        ("mon..fri 02:30", "Mon,Tue,Wed,Thu,Fri *-*-* 02:30:00"),
        ("*/15", "*-*-* *:00,15,30,45:00"),
        ("sat 3:00 UTC", "Sat *-*-* 03:00:00 UTC"),
        ("monthly", "*-*-01 00:00:00"),
        ("2030-01-01", "2030-01-01 00:00:00"),
    ],
)
def test_on_calendar_spells_every_value_out(schedule: str, expected: str) -> None:
    assert on_calendar(parse_calendar_event(schedule)) == expected


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize(
    "schedule", ["hourly", "mon..fri 02:30", "*/15", "sat 3:00 UTC", "8..17:0/20"]
)
def test_systemd_reads_the_calendar_as_proxmox_does(schedule: str) -> None:
    """systemd-analyze's next elapses are PVE's next runs (both from the same instant)."""
    from datetime import UTC, datetime

    event = parse_calendar_event(schedule)
    text = on_calendar(event)
    done = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=5", text],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC", "LC_ALL": "C.UTF-8"},
        check=True,
    )
    got = [
        line.split(":", 1)[1].strip()
        for line in done.stdout.splitlines()
        if "Next elapse" in line or line.strip().startswith("Iter.")
    ]
    first = datetime.now(UTC)
    want = []
    moment = first
    for _ in range(5):
        nxt = event.next_run(moment)
        assert nxt is not None
        want.append(nxt.strftime("%a %Y-%m-%d %H:%M:%S UTC"))
        moment = nxt
    assert got[:5] == want, done.stdout


def test_the_units_run_the_script_and_catch_up_missed_runs() -> None:
    files = snapshot_units(EtcdBackup(schedule="daily"))
    assert [f.path for f in files] == [
        "/usr/local/sbin/homelab-etcd-snapshot",
        "/etc/systemd/system/homelab-etcd-snapshot.service",
        "/etc/systemd/system/homelab-etcd-snapshot.timer",
    ]
    assert files[0].mode == 0o755
    assert "ExecStart=/bin/sh /usr/local/sbin/homelab-etcd-snapshot\n" in files[1].text
    assert "OnCalendar=*-*-* 00:00:00\nPersistent=true\n" in files[2].text
