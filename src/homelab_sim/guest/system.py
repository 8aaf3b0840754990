"""One simulated Ubuntu 24.04 guest's operating-system state: files, kernel, services, apt.

``GuestSystem`` is what cloud-init, the shell commands and kubeadm read and change: a file
system (path -> ``GuestFile``; directories are implied by the paths below them, plus the
ones created explicitly), loaded kernel modules, sysctl values, whether swap is on, systemd
unit states (and timers: ``systemd``) and the apt state (the repositories seen at the last
``apt-get update``, the installed packages with their versions, the held ones). It is plain
data and round-trips through ``to_dict``/``from_dict``, so the simulator's ``--state`` keeps
it across restarts.

A fresh guest is the stock Ubuntu 24.04 cloud image: ``/swap.img`` listed in ``/etc/fstab``
(swap is on at boot until ``swapoff -a``), ``/etc/apt/keyrings`` present, the base packages
installed (curl, gpg, ca-certificates, ...), no containerd, no Kubernetes packages.

``apt_holds`` are the apt/dpkg lock files other processes hold, each until a virtual time:
at first boot ``apt-daily.service`` (``apt-get update``: the lists lock) and
``apt-daily-upgrade.service`` (``unattended-upgrade``: the dpkg frontend, dpkg and archives
locks) may run for a while; ``hold_apt_at_boot`` models that (``apt`` honours the holds).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

BASE_PACKAGES = {
    "ca-certificates": "20240203",
    "cloud-init": "24.1.3-0ubuntu3",
    "coreutils": "9.4-3ubuntu6",
    "curl": "8.5.0-2ubuntu10.4",
    "gpg": "2.4.4-2ubuntu17",
    "kmod": "31+20240202-2ubuntu7",
    "linux-image-6.8.0-45-generic": "6.8.0-45.45",
    "linux-image-generic": "6.8.0-45.45",
    "openssh-server": "1:9.6p1-3ubuntu13.5",
    "openssl": "3.0.13-0ubuntu3.1",
    "procps": "2:4.0.4-4ubuntu3.2",
    "sed": "4.9-2build1",
    "systemd": "255.4-1ubuntu8.4",
}
STOCK_FSTAB = (
    "LABEL=cloudimg-rootfs\t/\text4\tdiscard,errors=remount-ro\t0 1\n"
    "/swap.img\tnone\tswap\tsw\t0 0\n"
)
# the directories an Ubuntu 24.04 cloud image has before cloud-init writes anything (its
# filesystem hierarchy: base-files' layout, apt's sources and keyrings)
STOCK_DIRS = (
    "/boot",
    "/etc",
    "/etc/apt",
    "/etc/apt/keyrings",
    "/etc/apt/sources.list.d",
    "/home",
    "/media",
    "/mnt",
    "/opt",
    "/root",
    "/run",
    "/srv",
    "/tmp",  # noqa: S108 - the guest's, not ours
    "/usr",
    "/usr/local",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/tmp",  # noqa: S108
)
FRONTEND_LOCK = "/var/lib/dpkg/lock-frontend"
DPKG_LOCK = "/var/lib/dpkg/lock"
ARCHIVES_LOCK = "/var/cache/apt/archives/lock"
LISTS_LOCK = "/var/lib/apt/lists/lock"
# apt-daily's update takes this long at most (its lists lock); unattended-upgrade holds the
# dpkg locks for the whole hold
APT_DAILY_UPDATE = 60.0
APT_DAILY_PID = 702
UNATTENDED_PID = 731
AGENT_UNIT = "qemu-guest-agent"
#: ``vm.guest`` key (and start-task argument): seconds apt is busy at the VM's next boot
APT_BUSY = "apt_busy_at_boot"
# sysctl keys that exist only once the module is loaded
MODULE_SYSCTLS = {"net.bridge.": "br_netfilter"}


@dataclass
class GuestFile:
    content: bytes
    mode: int = 0o644
    owner: str = "root:root"


@dataclass
class AptHold:
    """Another process holds the fcntl lock on ``path`` until virtual time ``until``.
    ``process`` is its name as /proc/PID/comm has it (15 characters at most)."""

    path: str
    pid: int
    process: str
    until: float

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "pid": self.pid, "process": self.process, "until": self.until}


@dataclass
class GuestSystem:
    """The mutable OS state of one guest (see the module docstring)."""

    files: dict[str, GuestFile] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)
    sysctl: dict[str, str] = field(default_factory=dict)
    swap_on: bool = True
    units: dict[str, str] = field(default_factory=dict)  # unit -> enabled|masked|disabled
    active: set[str] = field(default_factory=set)  # running units
    apt_lists: list[str] = field(default_factory=list)  # repositories at the last update
    installed: dict[str, str] = field(default_factory=dict)  # package -> version
    held: set[str] = field(default_factory=set)
    users: list[str] = field(default_factory=list)
    hostname: str = "ubuntu"
    apt_holds: list[AptHold] = field(default_factory=list)
    # timer unit -> its loaded settings, start and last trigger (see systemd.py)
    timers: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # units whose last run failed

    @classmethod
    def stock(cls) -> GuestSystem:
        system = cls(installed=dict(BASE_PACKAGES), units={"ssh": "enabled"})
        system.dirs.update(STOCK_DIRS)
        system.write("/etc/fstab", STOCK_FSTAB.encode())
        system.sysctl["net.ipv4.ip_forward"] = "0"
        return system

    # ------------------------------------------------------------------ files

    def write(self, path: str, content: bytes, mode: int = 0o644, owner: str = "root:root") -> None:
        path = posixpath.normpath(path)
        self.files[path] = GuestFile(content, mode, owner)
        self.mkdirs(posixpath.dirname(path))

    def read(self, path: str) -> bytes | None:
        entry = self.files.get(posixpath.normpath(path))
        return entry.content if entry is not None else None

    def text(self, path: str) -> str | None:
        data = self.read(path)
        return data.decode("utf-8", "replace") if data is not None else None

    def exists(self, path: str) -> bool:
        path = posixpath.normpath(path)
        return path in self.files or self.is_dir(path)

    def is_dir(self, path: str) -> bool:
        path = posixpath.normpath(path)
        if path == "/" or path in self.dirs:
            return True
        prefix = path.rstrip("/") + "/"
        return any(name.startswith(prefix) for name in self.files)

    def mkdirs(self, path: str) -> None:
        path = posixpath.normpath(path)
        while path not in ("/", "", "."):
            self.dirs.add(path)
            path = posixpath.dirname(path)

    def listdir(self, path: str) -> list[str]:
        """Direct children (files and directories) of ``path``."""
        prefix = posixpath.normpath(path).rstrip("/") + "/"
        names = {
            entry[len(prefix) :].split("/", 1)[0]
            for entry in [*self.files, *self.dirs]
            if entry.startswith(prefix)
        }
        return sorted(names)

    def remove_tree(self, path: str) -> None:
        path = posixpath.normpath(path)
        prefix = path.rstrip("/") + "/"
        self.files = {k: v for k, v in self.files.items() if k != path and not k.startswith(prefix)}
        self.dirs = {d for d in self.dirs if d != path and not d.startswith(prefix)}

    def copy_tree(self, src: str, dst: str) -> None:
        src, dst = posixpath.normpath(src), posixpath.normpath(dst)
        prefix = src.rstrip("/") + "/"
        self.mkdirs(dst)
        for name, entry in list(self.files.items()):
            if name == src:
                self.files[dst] = GuestFile(entry.content, entry.mode, entry.owner)
            elif name.startswith(prefix):
                self.write(dst + "/" + name[len(prefix) :], entry.content, entry.mode, entry.owner)
        for name in list(self.dirs):
            if name.startswith(prefix):
                self.dirs.add(dst + "/" + name[len(prefix) :])

    # ------------------------------------------------------------------ apt locks

    def hold_apt_at_boot(self, now: float, seconds: float) -> None:
        """apt-daily and unattended-upgrades run from ``now``: the lists lock for a short
        update, the dpkg locks for ``seconds`` (virtual)."""
        if seconds <= 0:
            return
        update_end = now + min(seconds, APT_DAILY_UPDATE)
        self.apt_holds = [
            AptHold(LISTS_LOCK, APT_DAILY_PID, "apt-get", update_end),
            *(
                AptHold(path, UNATTENDED_PID, "unattended-upgr", now + seconds)
                for path in (FRONTEND_LOCK, DPKG_LOCK, ARCHIVES_LOCK)
            ),
        ]

    def apt_holder(self, path: str, now: float) -> AptHold | None:
        """Who holds the lock on ``path`` at ``now`` (None: it is free)."""
        for hold in self.apt_holds:
            if hold.path == path and now < hold.until:
                return hold
        return None

    # ------------------------------------------------------------------ kernel

    def set_sysctl(self, key: str, value: str) -> bool:
        """Set a kernel parameter; False if its /proc/sys entry does not exist (module absent)."""
        for prefix, module in MODULE_SYSCTLS.items():
            if key.startswith(prefix) and module not in self.modules:
                return False
        self.sysctl[key] = value
        return True

    def proc_sys(self, key: str) -> str | None:
        """The content of /proc/sys/<key as path>, None if the entry does not exist."""
        for prefix, module in MODULE_SYSCTLS.items():
            if key.startswith(prefix) and module not in self.modules:
                return None
        return self.sysctl.get(key, "0")

    def fstab_has_swap(self) -> bool:
        for line in (self.text("/etc/fstab") or "").splitlines():
            fields = line.split()
            if len(fields) >= 3 and not fields[0].startswith("#") and fields[2] == "swap":
                return True
        return False

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": {
                path: {"content": f.content.decode("latin-1"), "mode": f.mode, "owner": f.owner}
                for path, f in self.files.items()
            },
            "dirs": sorted(self.dirs),
            "modules": sorted(self.modules),
            "sysctl": dict(self.sysctl),
            "swap_on": self.swap_on,
            "units": dict(self.units),
            "active": sorted(self.active),
            "apt_lists": list(self.apt_lists),
            "installed": dict(self.installed),
            "held": sorted(self.held),
            "users": list(self.users),
            "hostname": self.hostname,
            "apt_holds": [hold.to_dict() for hold in self.apt_holds],
            "timers": {unit: dict(state) for unit, state in self.timers.items()},
            "failed": sorted(self.failed),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuestSystem:
        files = {
            path: GuestFile(f["content"].encode("latin-1"), int(f["mode"]), str(f["owner"]))
            for path, f in data.get("files", {}).items()
        }
        return cls(
            files=files,
            dirs=set(data.get("dirs", [])),
            modules=set(data.get("modules", [])),
            sysctl=dict(data.get("sysctl", {})),
            swap_on=bool(data.get("swap_on", True)),
            units=dict(data.get("units", {})),
            active=set(data.get("active", [])),
            apt_lists=list(data.get("apt_lists", [])),
            installed=dict(data.get("installed", {})),
            held=set(data.get("held", [])),
            users=list(data.get("users", [])),
            hostname=str(data.get("hostname", "ubuntu")),
            apt_holds=[
                AptHold(str(h["path"]), int(h["pid"]), str(h["process"]), float(h["until"]))
                for h in data.get("apt_holds", [])
            ],
            timers={str(u): dict(v) for u, v in (data.get("timers") or {}).items()},
            failed=set(data.get("failed", [])),
        )
