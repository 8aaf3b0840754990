"""Patching a simulated Ubuntu 24.04 guest: the pending updates of noble-updates, ``apt-get
upgrade`` / ``dist-upgrade`` (apt 2.7.14's texts), Ubuntu's reboot-required flag, ``uname -r``
and ``reboot``.

The catalogue (``noble.NOBLE_UPDATES``) is the simulator's, from Ubuntu's archive: the GA kernel of
the cloud image is ``linux-image-6.8.0-45-generic`` (6.8.0-45.45); noble-updates carries the
``linux-image-generic`` metapackage 6.8.0-51.52, which depends on the new package
``linux-image-6.8.0-51-generic``, plus userland fixes (openssl, systemd). The archive's own
versions (``catalogue.UBUNTU_ARCHIVE``: curl, gpg...) are newer than the image's too.

What apt does with them (apt-private/private-upgrade.cc, apt-pkg/upgrade.cc):

- ``upgrade`` never installs a new package: an upgrade that needs one (the kernel metapackage)
  is "kept back"; ``dist-upgrade`` (``full-upgrade``) installs it;
- a held package (``apt-mark hold``) is never upgraded by either: it is "kept back";
- both take the dpkg locks as ``install`` does (``DPkg::Lock::Timeout``); ``-s`` simulates
  (``Inst``/``Conf`` lines, no lock, nothing changed).

A kernel image's postinst runs ``/etc/kernel/postinst.d/update-notifier``, which writes
``/var/run/reboot-required`` ("*** System restart required ***") and adds the package to
``/var/run/reboot-required.pkgs``. ``reboot`` asks the machine to restart (``booted``: the
newest installed kernel runs, ``/run`` is empty again, a new boot id).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from homelab_sim.guest import apt
from homelab_sim.guest.noble import KERNEL_META, STOCK_KERNEL
from homelab_sim.guest.shell import Gen, Streams
from homelab_sim.guest.system import ARCHIVES_LOCK, GuestSystem

#: packages an upgrade of the key newly installs (its new dependencies)
NEW_DEPENDS: dict[str, tuple[str, ...]] = {KERNEL_META: ("linux-image-6.8.0-51-generic",)}
REBOOT_REQUIRED = "/var/run/reboot-required"
REBOOT_PKGS = "/var/run/reboot-required.pkgs"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
KERNEL_SYSCTL = "kernel.osrelease"
KERNEL_IMAGE = re.compile(r"^linux-image-(\d+\.\d+\.\d+-\d+)-generic$")
HEADER = (
    "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
    "Calculating upgrade...\n"
)
Clock = Callable[[], float]


def running_kernel(system: GuestSystem) -> str:
    return system.sysctl.get(KERNEL_SYSCTL, STOCK_KERNEL)


def booted(system: GuestSystem, seed: str) -> None:
    """A boot: the newest installed kernel image runs, /run starts empty, a new boot id."""
    kernels = sorted(
        (tuple(int(p) for p in re.split(r"[.-]", m.group(1))), m.group(1))
        for name in system.installed
        if (m := KERNEL_IMAGE.match(name))
    )
    system.sysctl[KERNEL_SYSCTL] = f"{kernels[-1][1]}-generic" if kernels else STOCK_KERNEL
    for path in (REBOOT_REQUIRED, REBOOT_PKGS):
        system.files.pop(path, None)
    digest = hashlib.sha256(seed.encode()).hexdigest()
    boot_id = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
    system.write(BOOT_ID, f"{boot_id}\n".encode(), mode=0o444)


def uname(system: GuestSystem, args: list[str], io: Streams, stdin: bytes) -> Gen:
    if args == ["-r"]:
        io.out.write(f"{running_kernel(system)}\n")
    elif args in ([], ["-s"]):
        io.out.write("Linux\n")
    else:
        io.err.write(f"uname: invalid option -- '{' '.join(args).lstrip('-')[:1]}'\n")
        io.err.write("Try 'uname --help' for more information.\n")
        return 1
    return 0
    yield 0.0  # pragma: no cover


def reboot(request: Callable[[], None], args: list[str], io: Streams, stdin: bytes) -> Gen:
    """``reboot``: systemd starts reboot.target; the machine restarts."""
    request()
    return 0
    yield 0.0  # pragma: no cover


def _candidates(system: GuestSystem) -> dict[str, str]:
    """Installed package -> the newer version the repositories of the last update offer."""
    available = apt._available(system)
    out: dict[str, str] = {}
    for name, installed in sorted(system.installed.items()):
        versions = available.get(name) or []
        if not versions:
            continue
        newest = versions[-1]
        if installed in versions and versions.index(installed) >= versions.index(newest):
            continue
        if newest != installed:
            out[name] = newest
    return out


def upgrade(system: GuestSystem, args: list[str], io: Streams, now: Clock, *, dist: bool) -> Gen:
    simulate = any(a in {"-s", "--simulate", "--dry-run", "--just-print", "--no-act"} for a in args)
    if not simulate:
        status = yield from apt.lock_dpkg(system, io, now, apt.lock_timeout(apt.options(args)))
        if status:
            return status
    offered = _candidates(system)
    available = apt._available(system)
    kept = sorted(n for n in offered if n in system.held)
    if not dist:
        kept = sorted({*kept, *(n for n in offered if n in NEW_DEPENDS)})
    upgraded = {n: v for n, v in offered.items() if n not in kept}
    new = {
        dep: (available.get(dep) or [""])[-1]
        for name in upgraded
        for dep in NEW_DEPENDS.get(name, ())
        if dep not in system.installed
    }
    io.out.write(HEADER)
    if new:
        io.out.write("The following NEW packages will be installed:\n  " + " ".join(new) + "\n")
    if kept:
        io.out.write("The following packages have been kept back:\n  " + " ".join(kept) + "\n")
    if upgraded:
        io.out.write(
            "The following packages will be upgraded:\n  " + " ".join(sorted(upgraded)) + "\n"
        )
    io.out.write(
        f"{len(upgraded)} upgraded, {len(new)} newly installed, 0 to remove and "
        f"{len(kept)} not upgraded.\n"
    )
    if simulate:
        for name, version in sorted(new.items()):
            io.out.write(f"Inst {name} ({version} Ubuntu:24.04/noble-updates [amd64])\n")
        for name, version in sorted(upgraded.items()):
            io.out.write(
                f"Inst {name} [{system.installed[name]}] ({version} Ubuntu:24.04/noble-updates "
                "[amd64])\n"
            )
        for name, version in sorted({**new, **upgraded}.items()):
            io.out.write(f"Conf {name} ({version} Ubuntu:24.04/noble-updates [amd64])\n")
        return 0
    if not upgraded:
        return 0
    if not apt._lock_at_once(system, ARCHIVES_LOCK, "/var/cache/apt/archives/", now(), io):
        return 100
    yield apt.SECONDS_PER_PACKAGE * (len(upgraded) + len(new))
    for name, version in sorted(new.items()):
        io.out.write(f"Selecting previously unselected package {name}.\n")
        io.out.write(f"Unpacking {name} ({version}) ...\n")
    for name, version in sorted(upgraded.items()):
        io.out.write(f"Unpacking {name} ({version}) over ({system.installed[name]}) ...\n")
    for name, version in sorted({**new, **upgraded}.items()):
        system.installed[name] = version
        io.out.write(f"Setting up {name} ({version}) ...\n")
        if KERNEL_IMAGE.match(name):
            _notify_reboot_required(system, name)
    return 0


def _notify_reboot_required(system: GuestSystem, package: str) -> None:
    """update-notifier's notify-reboot-required, run by the kernel's postinst.d hook."""
    system.write(REBOOT_REQUIRED, b"*** System restart required ***\n")
    listed = (system.text(REBOOT_PKGS) or "").splitlines()
    if package not in listed:
        system.write(REBOOT_PKGS, "".join(f"{p}\n" for p in [*listed, package]).encode())
