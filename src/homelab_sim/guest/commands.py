"""The external commands a simulated guest can run, each modelled on its real behaviour.

``CommandTable(host)`` maps a command name to a generator function ``(args, streams, stdin)``
(see ``shell.Command``). The set is what a kubeadm node's first boot runs: modprobe, sysctl,
swapoff/swapon, the file commands of ``files`` (sed -i, install, mkdir, rm, cp, mv, chmod,
cat, touch), systemctl, curl, gpg, apt-get, apt-mark, kubeadm, kubectl, crictl and sha256sum;
and what the scheduled etcd snapshot script runs, the commands of ``textutils``: date (on the
guest's clock), ls, basename, grep and ``sh FILE``; and the root disk's lsblk, findmnt,
growpart and resize2fs (``blockdev``). A command the table does not know is not
run: the shell answers ``not found`` (status 127), so a renderer emitting something the model
does not implement fails visibly instead of passing silently.

Network access goes through ``Host.probe_api`` (the Kubernetes API endpoints the simulator
knows) and the apt repositories' key URLs (pkgs.k8s.io, Docker's); any other URL does not
resolve, as in an offline lab.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from functools import partial
from typing import Protocol
from urllib.parse import urlsplit

from homelab_sim.guest import apt, patching, systemd
from homelab_sim.guest.blockdev import BlockCommands, RootDisk
from homelab_sim.guest.crictl import Crictl
from homelab_sim.guest.files import FileCommands
from homelab_sim.guest.shell import Command, Gen, Streams
from homelab_sim.guest.system import GuestSystem
from homelab_sim.guest.textutils import TextUtils

KERNEL = "6.8.0-45-generic"
MODULES = {
    "8021q",
    "br_netfilter",
    "dm_thin_pool",
    "ip_vs",
    "ip_vs_rr",
    "ip_vs_sh",
    "ip_vs_wrr",
    "iscsi_tcp",
    "nf_conntrack",
    "overlay",
    "rbd",
    "wireguard",
}
STATIC_UNITS = {"ssh", "swap.target", "systemd-resolved", "cloud-init"}


class Host(Protocol):
    """What commands need from the machine they run on."""

    system: GuestSystem
    disk: RootDisk | None

    def request_reboot(self) -> None: ...

    def now(self) -> float:
        """The machine's virtual time (it moves on as commands pause)."""

    def probe_api(self, host: str, port: int, path: str, ca_pem: str | None) -> tuple[int, str]:
        """(curl exit status, curl's error line or "") for an HTTPS GET of a cluster API."""

    def kubeadm(self, args: list[str], io: Streams) -> Gen:
        """Run ``kubeadm ARGS``."""

    def static_pod(self, path: str) -> None:
        """A file was written under /etc/kubernetes/manifests (the kubelet watches it)."""

    def static_pod_stopped(self, path: str) -> None:
        """A manifest left /etc/kubernetes/manifests: the kubelet stops that static pod."""

    def kubelet_restarted(self) -> None:
        """``systemctl restart kubelet`` (the kubelet registers its Node again if it is gone)."""

    def etcd_snapshot(self) -> bytes | None:
        """The etcd store of the cluster this node serves, as a snapshot file's bytes."""

    def etcd_members(self) -> list[dict[str, object]] | None:
        """``etcdctl member list`` of the etcd this node serves (None: it serves none)."""

    def etcd_remove(self, member: int) -> tuple[int, str]:
        """``etcdctl member remove ID`` on the etcd this node serves: (status, output)."""

    def etcd_health(self) -> list[tuple[str, bool, bool]] | None:
        """Per member of the etcd this node serves: client URL, whether it commits reads,
        whether it is this node's."""

    def static_pods_up(self) -> bool:
        """Whether the kubelet runs its static pods yet (not in the first seconds of a boot)."""


class CommandTable(FileCommands):
    def __init__(self, host: Host) -> None:
        super().__init__(host.system)
        self.host = host
        text = TextUtils(self, host.now)
        block = BlockCommands(lambda: host.disk)
        self._table: dict[str, Callable[[list[str], Streams, bytes], Gen]] = {
            "modprobe": self.modprobe,
            "sysctl": self.sysctl,
            "swapoff": self.swapoff,
            "swapon": self.swapon,
            "sed": self.sed,
            "systemctl": self.systemctl,
            "install": self.install,
            "mkdir": self.mkdir,
            "rm": self.rm,
            "cp": self.cp,
            "mv": self.mv,
            "chmod": self.chmod,
            "cat": self.cat,
            "touch": self.touch,
            "curl": self.curl,
            "gpg": self.gpg,
            "apt-get": self.apt_get,
            "apt-mark": self.apt_mark,
            "uname": partial(patching.uname, host.system),
            "reboot": partial(patching.reboot, host.request_reboot),
            "kubeadm": self.kubeadm,
            "kubectl": self.kubectl,
            "crictl": Crictl(
                host.system,
                host.etcd_snapshot,
                host.etcd_members,
                host.static_pods_up,
                host.etcd_remove,
                host.etcd_health,
            ),
            "sha256sum": self.sha256sum,
            "date": text.date,
            "ls": text.ls,
            "basename": text.basename,
            "grep": text.grep,
            "sh": text.sh,
            "lsblk": block.lsblk,
            "findmnt": block.findmnt,
            "growpart": block.growpart,
            "resize2fs": block.resize2fs,
        }

    def manifest_written(self, path: str) -> None:
        self.host.static_pod(path)

    def manifest_removed(self, path: str) -> None:
        self.host.static_pod_stopped(path)

    def lookup(self, name: str) -> Command | None:
        return self._table.get(posixpath.basename(name))

    def write_file(self, path: str, text: str, append: bool) -> bool:
        old = (self.system.read(path) or b"") if append else b""
        self.system.write(path, old + text.encode())
        return True

    # ------------------------------------------------------------------ kernel

    def modprobe(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.2
        for name in (a for a in args if not a.startswith("-")):
            if name not in MODULES:
                io.err.write(
                    f"modprobe: FATAL: Module {name} not found in directory /lib/modules/{KERNEL}\n"
                )
                return 1
            self.system.modules.add(name)
        return 0

    def sysctl(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.2
        if args[:1] == ["--system"]:
            names = sorted(self.system.listdir("/etc/sysctl.d"))
            files = [f"/etc/sysctl.d/{n}" for n in names if n.endswith(".conf")]
            return self._sysctl_files([*files, "/etc/sysctl.conf"], io)
        if args[:1] == ["-p"]:
            return self._sysctl_files(args[1:] or ["/etc/sysctl.conf"], io)
        status = 0
        for arg in (a for a in args if a != "-w"):
            key, sep, value = arg.partition("=")
            if sep and not self.system.set_sysctl(key.strip(), value.strip()):
                io.err.write(
                    f"sysctl: cannot stat /proc/sys/{key.replace('.', '/')}: No such file\n"
                )
                status = 255
            elif not sep:
                current = self.system.proc_sys(key)
                if current is None:
                    io.err.write(f"sysctl: cannot stat /proc/sys/{key.replace('.', '/')}\n")
                    status = 255
                else:
                    io.out.write(f"{key} = {current}\n")
        return status

    def _sysctl_files(self, paths: list[str], io: Streams) -> int:
        status = 0
        for path in paths:
            text = self.system.text(path)
            if text is None:
                continue
            io.out.write(f"* Applying {path} ...\n")
            for line in text.splitlines():
                line = line.strip()
                if not line or line.startswith(("#", ";")) or "=" not in line:
                    continue
                key, _, value = (part.strip() for part in line.partition("="))
                if not self.system.set_sysctl(key, value):
                    proc = "/proc/sys/" + key.replace(".", "/")
                    io.err.write(f"sysctl: cannot stat {proc}: No such file or directory\n")
                    status = 255
                else:
                    io.out.write(f"{key} = {value}\n")
        return status

    def swapoff(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.5
        self.system.swap_on = False
        return 0

    def swapon(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.5
        self.system.swap_on = self.system.fstab_has_swap()
        return 0

    # ------------------------------------------------------------------ services

    def systemctl(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.5
        now = "--now" in args
        words = [a for a in args if not a.startswith("-")]
        if not words:
            io.err.write("systemctl: missing verb\n")
            return 1
        verb, units = words[0], [u.removesuffix(".service") for u in words[1:]]
        if verb == "daemon-reload":
            self._reload_timers(io)
            return 0
        for unit in units:
            status = yield from self._unit(verb, unit, now, io)
            if status:
                return status
        return 0

    def _reload_timers(self, io: Streams) -> None:
        """``daemon-reload``: every loaded timer reads its unit files again; a running one
        whose settings changed starts over with them."""
        for unit in sorted(self.system.timers):
            state = self.system.timers[unit]
            try:
                settings = systemd.load_timer(self.system.files, self.system.text, unit)
            except systemd.UnitError:
                # a bad or removed file: systemd logs it to the journal, not to systemctl; an
                # inactive timer is unloaded (its stamp stays), a running one keeps going
                if unit not in self.system.active:
                    for key in systemd.SETTINGS:
                        state.pop(key, None)
                continue
            if all(state.get(key) == value for key, value in settings.items()):
                continue
            if unit in self.system.active:
                systemd.start_timer(state, settings, self.host.now())
            else:
                state.update(settings)

    def _start_timer(self, unit: str, io: Streams) -> int:
        """Start (or restart) a timer with the settings systemd has loaded: those read at the
        last daemon-reload, or the file's when it was never loaded."""
        state = self.system.timers.setdefault(unit, {})
        on_disk: dict[str, object] | None = None
        problem = ""
        try:
            on_disk = systemd.load_timer(self.system.files, self.system.text, unit)
        except systemd.UnitError as exc:
            problem = str(exc)
        loaded = {key: state[key] for key in systemd.SETTINGS if key in state}
        if len(loaded) < len(systemd.SETTINGS):
            if on_disk is None:
                io.err.write(
                    f"Failed to start {unit}: Unit {unit} has a bad unit file setting.\n"
                    f"See system logs and 'systemctl status {unit}' for details. ({problem})\n"
                )
                return 1
            loaded = on_disk
        elif on_disk != loaded:
            io.err.write(
                f"Warning: The unit file, source configuration file or drop-ins of {unit} "
                "changed on disk. Run 'systemctl daemon-reload' to reload units.\n"
            )
        systemd.start_timer(state, loaded, self.host.now())
        self.system.active.add(unit)
        return 0

    def _unit(self, verb: str, unit: str, now: bool, io: Streams) -> Gen:
        has_file = systemd.unit_path(self.system.files, _unit_file(unit)) is not None
        known = unit in self.system.units or unit in STATIC_UNITS or has_file
        if verb == "is-active" and not known:
            io.out.write("inactive\n")
            return 3
        if verb == "is-failed":
            failed = _unit_file(unit) in self.system.failed
            active = unit in self.system.active
            io.out.write("failed\n" if failed else "active\n" if active else "inactive\n")
            return 0 if failed else 1
        if verb == "mask":
            self.system.units[unit] = "masked"
            self.system.active.discard(unit)
            io.err.write(f"Created symlink /etc/systemd/system/{_unit_file(unit)} -> /dev/null.\n")
            return 0
        if not known:
            what = "enable unit" if verb in {"enable", "disable"} else f"{verb} {_unit_file(unit)}"
            tail = f"Unit file {_unit_file(unit)} does not exist."
            if verb not in {"enable", "disable"}:
                tail = f"Unit {_unit_file(unit)} not found."
            io.err.write(f"Failed to {what}: {tail}\n")
            return 1 if verb in {"enable", "disable"} else 5
        if self.system.units.get(unit) == "masked" and verb in {"enable", "start", "restart"}:
            io.err.write(
                f"Failed to {verb} {_unit_file(unit)}: Unit {_unit_file(unit)} is masked.\n"
            )
            return 1
        if verb in {"enable", "disable"}:
            self.system.units[unit] = "enabled" if verb == "enable" else "disabled"
            if has_file and unit.endswith(".timer"):
                link = f"/etc/systemd/system/timers.target.wants/{unit}"
                if verb == "enable":
                    io.err.write(f"Created symlink {link} \u2192 /etc/systemd/system/{unit}.\n")
                else:
                    io.err.write(f'Removed "{link}".\n')
            if now:
                verb = "start" if verb == "enable" else "stop"
        if unit.endswith(".timer") and verb in {"start", "restart"}:
            yield 0.2
            if verb == "start" and unit in self.system.active:
                return 0
            return self._start_timer(unit, io)
        if verb in {"start", "restart", "reload"}:
            yield 1.0
            self.system.active.add(unit)
            if unit in ("kubelet", "kubelet.service") and verb != "reload":
                self.host.kubelet_restarted()
        elif verb == "stop":
            self.system.active.discard(unit)
        elif verb == "is-active":
            active = unit in self.system.active
            io.out.write("active\n" if active else "inactive\n")
            return 0 if active else 3
        elif verb not in {"enable", "disable", "status"}:
            io.err.write(f"systemctl: unsupported verb {verb} in the simulated guest\n")
            return 1
        return 0

    # ------------------------------------------------------------------ network

    def curl(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        opts = _curl_options(args)
        url = opts.get("url")
        if url is None:
            io.err.write("curl: no URL specified\n")
            return 2
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        if host in {"pkgs.k8s.io", "download.docker.com"}:  # the apt repositories' keys
            yield 1.0
            key = apt.signing_key(url)
            if key is None:
                io.err.write("curl: (22) The requested URL returned error: 404\n")
                return 22
            io.out.write(key[0])
            return 0
        ca_pem = None
        if "cacert" in opts:
            ca_pem = self.system.text(opts["cacert"])
            if ca_pem is None:
                io.err.write(f"curl: (77) error setting certificate file: {opts['cacert']}\n")
                return 77
        elif "insecure" not in opts:
            ca_pem = ""  # the system trust store: no lab CA in it
        status, message = self.host.probe_api(host, port, parts.path, ca_pem)
        if status == 28:
            yield float(opts.get("max-time", "60"))
        else:
            yield 0.1
        if status:
            if "silent" not in opts or "show-error" in opts:
                io.err.write(message + "\n")
            return status
        if "output" not in opts:
            io.out.write("ok")
        return 0

    def gpg(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.2
        if "--dearmor" not in args:
            io.err.write("gpg: the simulated guest's gpg only does --dearmor\n")
            return 2
        data = apt.dearmor(stdin)
        if data is None:
            io.err.write("gpg: no valid OpenPGP data found.\n")
            return 2
        if "-o" in args:
            target = args[args.index("-o") + 1]
            if self.system.exists(target) and "--yes" not in args:
                io.err.write(f"File '{target}' exists. Overwrite? (y/N) gpg: canceled\n")
                return 2
            if not self.system.is_dir(posixpath.dirname(target)):
                io.err.write(f"gpg: can't create '{target}': No such file or directory\n")
                return 2
            self.system.write(target, data)
        else:
            io.out.write(data.decode("latin-1"))
        return 0

    # ------------------------------------------------------------------ packages, kubernetes

    def apt_get(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        verb = (apt._strip_options(args) or [""])[0]
        if verb in {"upgrade", "dist-upgrade", "full-upgrade"}:
            dist = verb != "upgrade"
            return (yield from patching.upgrade(self.system, args, io, self.host.now, dist=dist))
        return (yield from apt.apt_get(self.system, args, io, self.host.now))

    def apt_mark(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        return (yield from apt.apt_mark(self.system, args, io))

    def kubeadm(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        if "kubeadm" not in self.system.installed:
            io.err.write("sh: 1: kubeadm: not found\n")
            return 127
        if args[:1] == ["reset"] and not _forced(args[1:]):
            # kubeadm's reset preflight asks first and reads one line of stdin (phases/reset)
            io.err.write(
                "[reset] WARNING: Changes made to this host by 'kubeadm init' or "
                "'kubeadm join' will be reverted.\n"
            )
            io.out.write("[reset] Are you sure you want to proceed? [y/N]: ")
            if stdin.decode("utf-8", "replace").split("\n", 1)[0].lower() != "y":
                io.err.write(
                    "error execution phase preflight: aborted reset operation\n"
                    "To see the stack trace of this error execute with --v=5\n"
                )
                return 1
        return (yield from self.host.kubeadm(args, io))

    def sha256sum(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.1
        if not args:
            io.out.write(f"{hashlib.sha256(stdin).hexdigest()}  -\n")
            return 0
        status = 0
        for path in args:
            data = self.system.read(path)
            if data is None:
                io.err.write(f"sha256sum: {path}: No such file or directory\n")
                status = 1
                continue
            io.out.write(f"{hashlib.sha256(data).hexdigest()}  {path}\n")
        return status

    def kubectl(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.2
        version = self.system.installed.get("kubectl")
        if version is None:
            io.err.write("sh: 1: kubectl: not found\n")
            return 127
        if args[:2] == ["version", "--client"]:
            io.out.write(f"Client Version: v{version.split('-')[0]}\n")
            return 0
        io.err.write(
            "error: the simulated guest's kubectl runs only 'version --client'; "
            "talk to the simulated API server from the host instead\n"
        )
        return 1


def _unit_file(unit: str) -> str:
    return unit if "." in unit else f"{unit}.service"


def _curl_options(args: list[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    with_value = {
        "--max-time": "max-time",
        "--cacert": "cacert",
        "-o": "output",
        "--retry": "retry",
    }
    flags = {"f": "fail", "s": "silent", "S": "show-error", "L": "location", "k": "insecure"}
    rest = iter(args)
    for arg in rest:
        if arg in with_value:
            opts[with_value[arg]] = next(rest, "")
        elif arg == "--insecure":
            opts["insecure"] = ""
        elif arg.startswith("-") and not arg.startswith("--"):
            for letter in arg[1:]:
                if letter in flags:
                    opts[flags[letter]] = ""
        elif not arg.startswith("-"):
            opts["url"] = arg
    return opts


def _forced(args: list[str]) -> bool:
    """Whether ``kubeadm reset`` was told not to ask (``-f``, ``--force``, ``--force=true``)."""
    return any(a in ("-f", "--force", "--force=true", "-f=true") for a in args)
