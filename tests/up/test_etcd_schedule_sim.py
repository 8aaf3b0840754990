"""Scheduled etcd snapshots on the simulator: `up` installs the timer on the control plane, the
simulated systemd runs the script on the virtual clock, the retention prunes, a VM that was off
at a scheduled time takes the missed snapshot at boot, and the schedule follows the spec."""

from __future__ import annotations

from pathlib import Path

from homelab.core.render.etcd_schedule import SNAPSHOT_DIR, TIMER
from homelab.engine.guest.channel import GuestChannel
from homelab.simulated.site import SimulatedSite
from homelab.verbs.etcd_schedule import SnapshotSchedule, schedule_snapshots
from homelab.verbs.lab import prepare_lab
from tests.up.simlab import Upped, config_map, copy_example, upped

BACKUP = """
backup:
  storage: {existing: local}
  etcd: {schedule: "*:0/30", retention: {keep_last: 3}}
"""
MAGIC = b"SIMETCD1"


def _spec(tmp_path: Path, backup: str = BACKUP) -> Path:
    spec = copy_example("home-lab.yaml", tmp_path)
    spec.write_text(spec.read_text() + backup)
    return spec


def _site(lab: Upped) -> SimulatedSite:
    site = lab.conn.site
    assert isinstance(site, SimulatedSite)
    return site


def _master(lab: Upped) -> tuple[GuestChannel, str, int]:
    vm = next(v for v in lab.conn.client.cluster_vms() if v.name == "k8s-master-1")
    return GuestChannel(lab.conn.client, lab.conn.clock), vm.node, vm.vmid


def _snapshots(lab: Upped) -> list[int]:
    channel, node, vmid = _master(lab)
    listed = channel.run(node, vmid, ["ls", "-1", SNAPSHOT_DIR], timeout=60)
    if listed.exitcode == 2 and "No such file or directory" in listed.stderr:
        return []  # no run made the directory yet
    assert listed.exitcode == 0, listed.stderr
    return sorted(int(name.removesuffix(".db")) for name in listed.stdout.split())


def _schedule_with(lab: Upped, spec: Path) -> SnapshotSchedule:
    """What `up` does to the timers after the spec was edited."""
    ctx = prepare_lab(spec)
    try:
        return schedule_snapshots(lab.conn, ctx, lambda _s: None)
    finally:
        ctx.close()


def _now(lab: Upped) -> float:
    """The simulator's virtual time."""
    return _site(lab).advance_clock(0)


def test_the_control_plane_snapshots_etcd_on_schedule_and_keeps_the_newest(
    tmp_path: Path,
) -> None:
    with upped(_spec(tmp_path)) as lab:
        assert lab.outcome.etcd_snapshots.nodes == {"k8s-master-1": "installed"}
        assert lab.outcome.etcd_snapshots.schedule == "*:0/30"
        # the virtual clock starts at the wall time: the end of `up` (after the timer was
        # installed) may have crossed a half hour, and that run is the only one so far
        early = _snapshots(lab)
        assert len(early) <= 1 and all(t % 1800 < 60 for t in early), early
        with lab.api() as api:
            api.apply(config_map("before-the-snapshots"))

        _site(lab).advance_clock(3 * 3600 + 60)
        taken = _snapshots(lab)
        assert len(taken) == 3  # keep_last: 3 of the six (or seven) half-hourly runs
        assert not set(early) & set(taken)  # the older ones were pruned
        assert all(t % 1800 < 60 for t in taken)  # named by the script's clock, just after
        assert taken[-1] > _now(lab) - 1800 - 60
        channel, node, vmid = _master(lab)
        newest = channel.read_file(node, vmid, f"{SNAPSHOT_DIR}/{taken[-1]}.db")
        assert newest.startswith(MAGIC) and b"before-the-snapshots" in newest
        listed = channel.run(node, vmid, ["ls", "-a", SNAPSHOT_DIR], timeout=60).stdout.split()
        assert sorted(listed) == sorted([".", "..", *(f"{t}.db" for t in taken)])

        # a second up finds the timer as the spec wants it
        again = schedule_snapshots(lab.conn, lab.ctx, lambda _s: None)
        assert again.nodes == {"k8s-master-1": "unchanged"} and not again.changed


def test_a_control_plane_that_was_off_takes_the_missed_snapshot_at_boot(tmp_path: Path) -> None:
    with upped(_spec(tmp_path)) as lab:
        client = lab.conn.client
        _, node, vmid = _master(lab)
        client.wait_task(client.shutdown(node, vmid))
        off = _now(lab)
        # four runs missed while off; the VM boots a minute after a half hour, so no run is due
        # in the five minutes the test then waits
        before_boot = _site(lab).advance_clock((off // 1800 + 4) * 1800 + 60 - off)
        client.wait_task(client.start(node, vmid))
        _site(lab).advance_clock(300)  # not yet the next half hour
        # (a run before the shutdown is possible: `up` may have crossed a half hour)
        taken = [t for t in _snapshots(lab) if t > off]
        assert len(taken) == 1, taken  # Persistent=true: one catch-up run, not four
        # once etcd runs again, 30 s after the boot (the simulated clock also runs with time)
        assert before_boot + 30 <= taken[0] <= before_boot + 360


def test_the_timer_follows_the_spec_and_goes_with_it(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    with upped(spec) as lab:
        spec.write_text(spec.read_text().replace('"*:0/30"', "hourly"))
        changed = _schedule_with(lab, spec)
        assert changed.nodes == {"k8s-master-1": "updated"}
        # the virtual clock starts at the wall time: `up` may have crossed a half hour, and the
        # two hours ahead hold 2 full hours, or 3 when they start in an hour's last minute
        earlier = set(_snapshots(lab))
        before = _site(lab).advance_clock(0)
        after = _site(lab).advance_clock(2 * 3600 + 60)
        hours = int(after // 3600 - before // 3600)
        assert hours in (2, 3)
        new = [t for t in _snapshots(lab) if t not in earlier]
        assert all(t % 3600 < 60 for t in new)
        assert len(new) == hours

        spec.write_text(spec.read_text().split("\nbackup:")[0] + "\n")
        removed = _schedule_with(lab, spec)
        assert removed.nodes == {"k8s-master-1": "removed"}
        channel, node, vmid = _master(lab)
        state = channel.run(node, vmid, ["systemctl", "is-active", TIMER], timeout=60)
        assert state.stdout.strip() == "inactive"
        kept = _snapshots(lab)
        _site(lab).advance_clock(2 * 3600)
        assert _snapshots(lab) == kept  # no more snapshots, the old ones stay
