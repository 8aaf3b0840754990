"""The simulated guest's `apt-get upgrade` / `dist-upgrade`, `uname -r` and the reboot-required
flag, on a stock Ubuntu 24.04 guest (no wire: the guest model alone)."""

from __future__ import annotations

from homelab_sim.guest import patching
from homelab_sim.guest.apt import ARCHIVE
from homelab_sim.guest.shell import BufferSink, Gen, Streams
from homelab_sim.guest.system import FRONTEND_LOCK, AptHold, GuestSystem


def drive(run: Gen) -> int:
    try:
        while True:
            next(run)
    except StopIteration as done:
        return int(done.value or 0)


def upgrade(system: GuestSystem, *args: str, dist: bool) -> tuple[int, str, str]:
    out, err = BufferSink(), BufferSink()
    status = drive(patching.upgrade(system, list(args), Streams(out, err), lambda: 0.0, dist=dist))
    return status, out.value(), err.value()


def stock() -> GuestSystem:
    system = GuestSystem.stock()
    system.apt_lists = [ARCHIVE]
    return system


def test_upgrade_keeps_the_new_kernel_back_and_dist_upgrade_installs_it() -> None:
    system = stock()
    status, out, _ = upgrade(system, "-y", "upgrade", dist=False)
    assert status == 0
    assert "The following packages have been kept back:\n  linux-image-generic\n" in out
    assert "linux-image-6.8.0-51-generic" not in system.installed
    assert system.installed["openssl"] == "3.0.13-0ubuntu3.4"
    assert not system.exists(patching.REBOOT_REQUIRED)
    status, out, _ = upgrade(system, "-y", "dist-upgrade", dist=True)
    assert status == 0
    assert "The following NEW packages will be installed:\n  linux-image-6.8.0-51-generic\n" in out
    assert "1 upgraded, 1 newly installed, 0 to remove and 0 not upgraded." in out
    assert system.text(patching.REBOOT_REQUIRED) == "*** System restart required ***\n"
    assert system.text(patching.REBOOT_PKGS) == "linux-image-6.8.0-51-generic\n"
    assert patching.running_kernel(system) == "6.8.0-45-generic"
    patching.booted(system, "second boot")
    assert patching.running_kernel(system) == "6.8.0-51-generic"
    assert not system.exists(patching.REBOOT_REQUIRED)


def test_holds_are_kept_back_and_simulation_changes_nothing() -> None:
    system = stock()
    system.held.add("openssl")
    before = dict(system.installed)
    status, out, _ = upgrade(system, "-s", "dist-upgrade", dist=True)
    assert status == 0 and system.installed == before
    assert "The following packages have been kept back:\n  openssl\n" in out
    assert "Inst linux-image-generic [6.8.0-45.45] (6.8.0-51.52 " in out
    assert "Inst openssl" not in out
    status, out, _ = upgrade(system, "-y", "dist-upgrade", dist=True)
    assert system.installed["openssl"] == before["openssl"]


def test_without_the_lock_timeout_apt_fails_while_dpkg_is_locked() -> None:
    system = stock()
    system.apt_holds = [AptHold(FRONTEND_LOCK, 731, "unattended-upgr", 100.0)]
    status, _, err = upgrade(system, "-y", "dist-upgrade", dist=True)
    assert status == 100
    assert "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 731" in err
    assert "linux-image-6.8.0-51-generic" not in system.installed
    status, out, _ = upgrade(
        system, "-o", "DPkg::Lock::Timeout=600", "-y", "dist-upgrade", dist=True
    )
    assert status == 0 and "Waiting for cache lock" in out
    assert "linux-image-6.8.0-51-generic" in system.installed
