"""One booted guest carrying out its user-data on the virtual clock.

A ``Machine`` owns a VM's ``GuestSystem``, its cloud-init progress (the step list of
``cloudinit.program`` and the index of the next step), its kubeadm phase, last error and log.
It runs as a generator of virtual seconds: ``advance()`` runs it up to its next pause and
moves the machine's own time forward by the pause, so the scheduler (``model.ClusterGuest``)
can always run the machine that is furthest behind, which keeps cause before effect between
guests (a worker's curl sees the API exactly when the control plane's init brought it up).

Everything a machine must remember is in ``to_dict()``, kept in the VM's ``vm.guest``; after a
simulator restart a machine resumes at the start of the step it was in (the renderer's runcmd
steps are written to be re-run: waits and reset-and-retry loops).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import shlex
from collections.abc import Callable, Generator
from typing import Any

from homelab_sim.guest import cloudinit, kubeadm, kubeadm_upgrade, systemd, yamlio
from homelab_sim.guest.blockdev import RootDisk
from homelab_sim.guest.clusters import ClusterBook
from homelab_sim.guest.commands import CommandTable
from homelab_sim.guest.crictl import ETCD_DB, LIVE_DB, MAGIC, WAL
from homelab_sim.guest.kubeadm_checks import installed_containerd, kube_vip_pull_error
from homelab_sim.guest.shell import BufferSink, Gen, Shell, Streams
from homelab_sim.guest.system import GuestSystem
from homelab_sim.kube import SimCluster

LOG_KEEP = 400
BOOT_TO_CLOUD_INIT = 8.0
# a configured node's kubelet runs its static pods (etcd, kube-apiserver) this long after the
# VM booted: containerd, then the kubelet, then the containers **[unc]**
STATIC_PODS_AFTER_BOOT = 30.0
MANIFESTS = "/etc/kubernetes/manifests"
KUBE_VIP_MANIFEST = f"{MANIFESTS}/kube-vip.yaml"
CONTROL_PODS = ("kube-apiserver.yaml", "etcd.yaml")
KUBEADM_MANIFESTS = {
    "kube-apiserver.yaml",
    "kube-controller-manager.yaml",
    "kube-scheduler.yaml",
    "etcd.yaml",
}


class _LogSink:
    def __init__(self, machine: Machine, prefix: str = "") -> None:
        self.machine = machine
        self.prefix = prefix
        self.pending = ""

    def write(self, text: str) -> None:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.machine.log(self.prefix + line)


class Machine:
    def __init__(
        self,
        *,
        name: str,
        book: ClusterBook,
        cpus: int,
        mem_mib: int,
        user_data: str,
        instance_id: str,
        start: float,
        saved: dict[str, Any] | None = None,
        boot_disk: Callable[[], tuple[str, int] | None] | None = None,
    ) -> None:
        self.name = name
        self.book = book
        self.cpus = cpus
        self.mem_mib = mem_mib
        self.instance_id = instance_id
        saved = saved or {}
        self.system = (
            GuestSystem.from_dict(saved["system"]) if "system" in saved else GuestSystem.stock()
        )
        self.lines: list[str] = list(saved.get("log", []))
        fresh = {"status": "running", "stage": "boot", "module": None}
        self.cloud_init: dict[str, Any] = dict(saved.get("cloud_init") or fresh)
        self.kubeadm_state: dict[str, Any] = dict(
            saved.get("kubeadm") or {"phase": None, "error": None, "failed_phase": None}
        )
        self.next_step = int(saved.get("next_step", 0))
        self.time = float(saved.get("time", start + BOOT_TO_CLOUD_INIT))
        self.booted_at = float(saved.get("booted_at", start))
        self.last_error: str | None = saved.get("last_error")
        self.membership: dict[str, str] = dict(saved.get("membership") or {})
        self.disk = _root_disk(boot_disk, saved.get("disk"))
        self.reboot_requested = False
        self.table = CommandTable(self)
        self.shell = Shell(self.table.lookup, self.table.write_file, self.table.file_kind)
        self.steps: list[cloudinit.Step] = []
        self._run: Generator[float, None, None] | None = None
        self._load(user_data)

    # ------------------------------------------------------------------ program

    def _load(self, user_data: str) -> None:
        if self.cloud_init.get("status") in {"done", "error", "disabled"}:
            return
        try:
            config = cloudinit.parse_user_data(user_data)
        except cloudinit.UserDataError as exc:
            self.log(f"cloud-init: {exc}")
            self.cloud_init = {"status": "error", "stage": "init", "module": "schema"}
            self.last_error = str(exc)
            return
        skipped = cloudinit.unmodelled_keys(config)
        if skipped and self.next_step == 0:
            self.log("cloud-init (simulated): keys not modelled, skipped: " + ", ".join(skipped))
        self.steps = cloudinit.program(config)
        self._run = self._program()

    def _program(self) -> Generator[float, None, None]:
        status = 0
        while self.next_step < len(self.steps):
            step = self.steps[self.next_step]
            if step.label:
                self.log(f"+ {step.label}")
            status = yield from step.run(self)
            if status:
                what = f"{step.module}: {step.label or step.module} (exit {status})"
                self.log(f"cloud-init: {what}")
                self.last_error = (
                    self.last_error or f"{step.module} failed with exit status {status}"
                )
                self.cloud_init["failed"] = [*self.cloud_init.get("failed", []), what]
            self.next_step += 1
        failed = bool(self.cloud_init.get("failed"))
        self.cloud_init["status"] = "error" if failed or status else "done"
        self.log(f"Cloud-init v. 24.1.3 finished: status {self.cloud_init['status']}")

    def runnable(self) -> bool:
        return self._run is not None

    def advance(self) -> None:
        """Run to the next pause; the machine's clock moves by the pause."""
        if self._run is None:
            return
        try:
            self.time += max(0.0, next(self._run))
        except StopIteration:
            self._run = None

    # ------------------------------------------------------------------ for the steps

    def now(self) -> float:
        return self.time

    def agent_exec(self, argv: list[str], stdin: bytes) -> tuple[int, str, str, float]:
        """What qemu-guest-agent's ``guest-exec`` runs: ``argv`` (``sh -c SCRIPT`` runs the
        script) in the guest's shell, now; (exit code, stdout, stderr, virtual seconds taken)."""
        script = (
            argv[2]
            if argv[:2] in (["sh", "-c"], ["/bin/sh", "-c"]) and len(argv) > 2
            else (shlex.join(argv))
        )
        out, err = BufferSink(), BufferSink()
        seconds = 0.0
        run = self.shell.run_script(script, Streams(out, err))
        try:
            while True:
                seconds += next(run)
        except StopIteration as done:
            status = int(done.value or 0)
        return status, out.value(), err.value(), seconds

    def run_timers(self, until: float) -> bool:
        """Run the services of this machine's active timers that elapse up to ``until``, in
        order, on the machine's clock; True if any ran."""
        ran = False
        while True:
            due = [
                (at, unit)
                for unit, state in self.system.timers.items()
                if unit in self.system.active and (at := systemd.next_due(state, until)) is not None
            ]
            if not due:
                return ran
            at, unit = min(due)
            state = self.system.timers[unit]
            systemd.triggered(state, at)
            self.time = max(self.time, at)
            self._run_service(str(state["service"]), [str(a) for a in state["exec"]])
            ran = True

    def _run_service(self, service: str, argv: list[str]) -> None:
        """A oneshot service: ``argv`` in the guest's shell, its output in the journal."""
        name = service.removesuffix(".service")
        self.log(f"systemd[1]: Starting {service}...")
        sink = _LogSink(self, f"{name}: ")
        run = self.shell.run_argv(argv, Streams(sink, sink))
        try:
            while True:
                self.time += max(0.0, next(run))
        except StopIteration as done:
            status = int(done.value or 0)
        if status:
            self.system.failed.add(service)
            self.log(f"systemd[1]: {service}: Main process exited, code=exited, status={status}")
            self.log(f"systemd[1]: {service}: Failed with result 'exit-code'.")
        else:
            self.system.failed.discard(service)
            self.log(f"systemd[1]: Finished {service}.")

    def request_reboot(self) -> None:
        """``reboot``: systemd stops the units and restarts the machine (``ClusterGuest``)."""
        self.reboot_requested = True
        self.log("systemd-logind[1]: The system will reboot now!")

    def log(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) > LOG_KEEP:
            del self.lines[: len(self.lines) - LOG_KEEP]

    def streams(self) -> Streams:
        return Streams(_LogSink(self), _LogSink(self))

    def set_cloud_init(self, stage: str, module: str) -> None:
        self.cloud_init.update({"stage": stage, "module": module})

    def set_kubeadm(self, phase: str, *, error: str | None = None) -> None:
        """Record kubeadm's phase; a failure (``error``) is kept until a run ends in "done"."""
        state = self.kubeadm_state
        history = [*state.get("history", []), [round(self.time, 3), phase]][-60:]
        if error is not None:
            state.update(failed_phase=phase, error=error)
            self.last_error = error
        else:
            self.log(f"[kubeadm] {phase}")
            state["phase"] = phase
        if phase == "done":
            state.update(failed_phase=None, error=None)
            self.last_error = None
        state["history"] = history

    def registered(self, cluster: str, node: str) -> None:
        self.membership = {"cluster": cluster, "node": node}
        for name in self.system.listdir(MANIFESTS):
            if name not in CONTROL_PODS:
                self.static_pod(f"{MANIFESTS}/{name}")
        known = self._cluster()
        if known is not None and self.system.exists(f"{MANIFESTS}/etcd.yaml"):
            known.etcd_members.add(node)  # kubeadm added its etcd member
            if node in known.stopped_planes:
                known.control_plane_stopped(node, False)  # a fresh member (kubeadm join again)

    def etcd_members(self) -> list[dict[str, object]] | None:
        cluster = self._cluster()
        if cluster is None or self.membership["node"] not in cluster.etcd_members:
            return None
        out: list[dict[str, object]] = []
        for name in sorted(cluster.etcd_members):
            info = cluster.nodes.get(name)
            ip = info.ip if info is not None else "127.0.0.1"
            out.append(
                {
                    "ID": etcd_id(cluster.name, name),
                    "name": name,
                    "peerURLs": [f"https://{ip}:2380"],
                    "clientURLs": [f"https://{ip}:2379"],
                }
            )
        return out

    def etcd_health(self) -> list[tuple[str, bool, bool]] | None:
        """Each member's client URL, whether it commits a linearizable read now (what
        ``etcdctl endpoint health`` asks) and whether it is this node's; None when this node
        serves no etcd.

        A member serves once its VM is up, its etcd pod runs and it has caught up with the
        leader (``SimCluster.etcd_member_serving``); without a quorum of serving members there
        is no leader and none answers."""
        cluster = self._cluster()
        if cluster is None or self.membership["node"] not in cluster.etcd_members:
            return None
        quorum = cluster.etcd_quorum()
        out = []
        for name in sorted(cluster.etcd_members):
            info = cluster.nodes.get(name)
            url = f"https://{info.ip if info is not None else '127.0.0.1'}:2379"
            own = name == self.membership["node"]
            out.append((url, quorum and cluster.etcd_member_serving(name), own))
        return out

    def etcd_remove(self, member: int) -> tuple[int, str]:
        """``etcdctl member remove ID`` on this node's etcd: (exit status, what it prints).

        etcd's strict reconfiguration check (on by default) refuses a removal that leaves
        fewer started members than the new, smaller cluster's quorum."""
        cluster = self._cluster()
        if cluster is None or self.membership["node"] not in cluster.etcd_members:
            return 1, "Error: context deadline exceeded\n"
        names = {etcd_id(cluster.name, n): n for n in cluster.etcd_members}
        name = names.get(member)
        if name is None:
            return 1, "Error: etcdserver: member not found\n"
        now = cluster.clock.now()
        down = cluster.state.kubelet_down
        started = [
            n for n in cluster.etcd_members if n != name and (n not in down or down[n][1] <= now)
        ]
        if len(started) < (len(cluster.etcd_members) - 1) // 2 + 1:
            return (
                1,
                "Error: etcdserver: re-configuration failed due to not enough started members\n",
            )
        cluster.etcd_members.discard(name)
        return 0, f"Member {member:16x} removed from cluster {etcd_id(cluster.name, ''):16x}\n"

    def _cluster(self) -> SimCluster | None:
        if not self.membership:
            return None
        record = self.book.records.get(self.membership["cluster"])
        return self.book.cluster(record) if record is not None else None

    def static_pod_stopped(self, path: str) -> None:
        """The kubelet stops a static pod whose manifest left the directory; without its
        kube-apiserver or etcd this control plane serves nothing."""
        cluster = self._cluster()
        if cluster is not None and posixpath.basename(path) in CONTROL_PODS:
            cluster.control_plane_stopped(self.membership["node"], True)
            self.log(f"kubelet: stopped static pod {posixpath.basename(path)}")

    def _control_plane_started(self, cluster: SimCluster) -> None:
        """kube-apiserver and etcd manifests are both back: etcd opens its data directory.

        ``LIVE_DB``: the member it was. A restored snapshot (``etcdutl snapshot restore``):
        the cluster's objects become the snapshot's, if the restored member is this node
        (its name and peer URL); otherwise etcd exits and the API stays down. No data at all:
        the only control plane starts a new, empty cluster (everything is lost); one of
        several cannot rejoin its peers and exits."""
        node = self.membership["node"]
        planes = [n.name for n in cluster.nodes.values() if n.role == "control-plane"]
        data = self.system.read(ETCD_DB)
        if data == LIVE_DB:
            cluster.control_plane_stopped(node, False)
            return
        if data is not None and data.startswith(MAGIC):
            raw = self.system.text(f"/var/lib/etcd/{WAL}") or "{}"
            wal = json.loads(raw)
            info = cluster.nodes.get(node)
            peer = f"https://{info.ip}:2380" if info is not None else ""
            if wal.get("name") != node or wal.get("peer") != peer:
                self.log(
                    f"etcd: the restored member is {wal.get('name')!r} at {wal.get('peer')!r}, "
                    f"not this node ({node!r} at {peer!r}): etcd exits, the API stays down"
                )
                cluster.control_plane_stopped(node, True)
                return
            cluster.restore_store(json.loads(data[len(MAGIC) :]), int(wal.get("bump", 0)))
            cluster.etcd_members = {node}  # a one-member cluster, as restored
            for other in planes:
                if other != node:  # their etcd belongs to a cluster that is gone
                    cluster.control_plane_stopped(other, True)
            self.system.write(ETCD_DB, LIVE_DB, 0o600)
            cluster.control_plane_stopped(node, False)
            self.log("etcd: started on the restored data directory")
            return
        if planes == [node]:
            cluster.restore_store({"revision": 1, "objects": []})
            cluster.etcd_members = {node}
            self.system.write(ETCD_DB, LIVE_DB, 0o600)
            cluster.control_plane_stopped(node, False)
            self.log("etcd: empty data directory: started a new, empty cluster")
            return
        self.log("etcd: no data directory and peers that do not know it: etcd exits")
        cluster.control_plane_stopped(node, True)

    def static_pods_up(self) -> bool:
        """Whether the kubelet has started its static pods since the boot (containerd keeps
        them across a kubelet restart)."""
        return self.time >= self.booted_at + STATIC_PODS_AFTER_BOOT

    def kubelet_restarted(self) -> None:
        cluster = self._cluster()
        if cluster is not None:
            cluster.reregister(self.membership["node"])
            kubelet = self.system.installed.get("kubelet", "").split("-", 1)[0]
            runtime = installed_containerd(self.system)
            if not kubeadm_upgrade.kubelet_restarted(
                cluster, self.membership["node"], kubelet, runtime
            ):
                self.system.active.discard("kubelet")
                self.log(
                    f"kubelet: v{kubelet} exited: the container runtime containerd {runtime} "
                    "does not implement the CRI RuntimeConfig call"
                )

    def etcd_snapshot(self) -> bytes | None:
        """The store of the cluster this machine is a node of (its etcd's data), when any."""
        if not self.membership:
            return None
        record = self.book.records.get(self.membership["cluster"])
        cluster = self.book.cluster(record) if record is not None else None
        if cluster is None:
            return None
        with cluster.lock:
            body = json.dumps(cluster.state.store.to_dict(), sort_keys=True)
        return MAGIC + body.encode()

    def static_pod(self, path: str) -> None:
        """A manifest landed in /etc/kubernetes/manifests: the kubelet runs it (not kubeadm's
        own control-plane pods, which the kube simulator already mirrors)."""
        if self.membership and posixpath.basename(path) in CONTROL_PODS:
            cluster = self._cluster()
            present = all(self.system.exists(f"{MANIFESTS}/{n}") for n in CONTROL_PODS)
            if cluster is not None and present:
                self._control_plane_started(cluster)
        if not self.membership or posixpath.basename(path) in KUBEADM_MANIFESTS:
            return
        record = self.book.records.get(self.membership["cluster"])
        cluster = self.book.cluster(record) if record is not None else None
        text = self.system.text(path)
        if cluster is None or text is None:
            return
        try:
            pod = yamlio.load(text)
        except yamlio.YAMLError:
            self.log(f"kubelet: {path}: invalid static pod manifest")
            return
        if isinstance(pod, dict) and pod.get("kind") == "Pod":
            cluster.add_static_pod(self.membership["node"], pod)

    def probe_api(self, host: str, port: int, path: str, ca_pem: str | None) -> tuple[int, str]:
        result = self.book.probe(host, port, ca_pem)
        return result.status, result.message

    def kubeadm(self, args: list[str], io: Streams) -> Gen:
        if args[:1] == ["upgrade"]:
            return (yield from kubeadm_upgrade.run(self, args[1:], io))
        return (yield from kubeadm.run(self, args, io))

    def kube_vip(self) -> tuple[str, str] | None:
        """(VIP, kubeconfig path) of this machine's kube-vip static pod, if it has one."""
        return kube_vip_of(self.system)

    # ------------------------------------------------------------------ reporting

    def report(self, *, log_lines: int = 40) -> dict[str, Any]:
        return {
            "cloud_init": dict(self.cloud_init),
            "kubeadm": dict(self.kubeadm_state),
            "last_error": self.last_error,
            "time": self.time,
            "log": self.lines[-log_lines:] if log_lines else [],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "system": self.system.to_dict(),
            "log": self.lines,
            "cloud_init": self.cloud_init,
            "kubeadm": self.kubeadm_state,
            "next_step": self.next_step,
            "time": self.time,
            "booted_at": self.booted_at,
            "last_error": self.last_error,
            "membership": self.membership,
            "disk": self.disk.to_dict() if self.disk is not None else None,
        }


def _root_disk(
    boot_disk: Callable[[], tuple[str, int] | None] | None, saved: dict[str, Any] | None
) -> RootDisk | None:
    """The machine's root disk, its size read live from the VM (None: no disk modelled)."""
    found = boot_disk() if boot_disk is not None else None
    if boot_disk is None or found is None:
        return None
    read = boot_disk

    def size() -> int:
        now = read()
        return now[1] if now is not None and now[0] == found[0] else 0

    disk = RootDisk(found[0], size)
    disk.restore(saved)
    return disk


def kube_vip_of(system: GuestSystem) -> tuple[str, str] | None:
    """(VIP, kubeconfig path) of the kube-vip static pod, if it has one the kubelet can run."""
    text = system.text(KUBE_VIP_MANIFEST)
    if text is None or kube_vip_pull_error(system) is not None:
        return None
    try:
        pod = yamlio.load(text) or {}
        container = pod["spec"]["containers"][0]
        env = {e.get("name"): e.get("value") for e in container.get("env") or []}
        volumes = pod["spec"].get("volumes") or []
        paths = [v["hostPath"]["path"] for v in volumes if "hostPath" in v]
    except (KeyError, IndexError, TypeError, AttributeError, yamlio.YAMLError):
        return None
    address = env.get("address") or env.get("vip_address")
    if not address or not paths:
        return None
    return str(address), str(paths[0])


def etcd_id(cluster: str, member: str) -> int:
    """A stable 64-bit etcd ID for a member (``member`` "" gives the cluster's own ID)."""
    digest = hashlib.sha256(f"{cluster}/{member}".encode()).digest()
    return int.from_bytes(digest[:8], "big") | 1
