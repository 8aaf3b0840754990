"""OS patching of the lab's nodes through the guest channel, one node at a time, journaled.

Per node (control planes first, one at a time; then the workers, ``max_unavailable`` at once):

1. ``plan``: the Kubernetes packages held (``apt-mark hold``: kubelet, kubeadm, kubectl,
   cri-tools, kubernetes-cni and the container runtime the node's minor runs: a patch run never
   moves them, ``apply`` does), ``apt-get update`` (retried as the seed does: apt never waits
   for the lists lock), the running kernel (``uname -r``) and what ``apt-get -s dist-upgrade``
   would change (its ``Inst`` lines: package, old and new version). ``dist-upgrade``, because
   ``upgrade`` keeps back the kernel metapackage (its new version pulls a new package);
2. ``upgraded``: drained (``engine.apply.drains.drained``: journaled, uncordoned after), the
   upgrade itself (``DPkg::Lock::Timeout`` as the seed: unattended-upgrades may hold dpkg);
3. ``rebooting``: ``--reboot auto`` reboots when ``/var/run/reboot-required`` exists (Ubuntu's
   update-notifier writes it), ``always`` reboots, ``never`` reports the pending reboot. The
   reboot is seen done when the guest's boot id changed; then the kernel is read again;
4. the node Ready (then uncordoned) and its kube-system pods Running;
5. a control plane: etcd healthy again (``etcdctl endpoint health --cluster`` in its etcd
   container exits 0: every member answers a linearizable read, which a restarted member does
   only once it has caught up with the leader's commit index). The same check runs before a
   control plane is drained. On a 3-member cluster two members down or behind is a lost quorum:
   the API stops. A Ready node and Running etcd pod do not say it (the pod's probe reads
   ``/health?serializable=true``, the member's own, possibly stale, view), so the next control
   plane waits for etcd's word, as ``kubeadm upgrade`` waits for the etcd cluster.

A node with nothing to upgrade and no reboot to do is not drained. Every phase reached is in the
journal (``patch/<vm>``) and the finished nodes' reports in ``patch/run``: a rerun after a kill
resumes the interrupted run, never repeats a finished node, and first uncordons a node an
interrupted drain left cordoned. A failure stops the run (``PatchFailed``): the node is
uncordoned if it is Ready again, else left cordoned and the message says so.
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from homelab.core.render.bootstrap import apt_update
from homelab.core.render.cloudinit import APT_GET, APT_LOCK_TIMEOUT, K8S_PACKAGES
from homelab.engine.apply.drains import DRAIN_PREFIX, drained, resolve_drain
from homelab.engine.apply.runtime import Runtime
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.etcd import EtcdHost
from homelab.engine.kube.client import KubeApi
from homelab.errors import LabError

__all__ = [
    "PATCH_PREFIX",
    "REBOOT_MODES",
    "RUN_KEY",
    "NodeReport",
    "PatchFailed",
    "PatchRun",
    "PatchTarget",
    "interrupted",
    "parse_simulation",
]

PATCH_PREFIX = "patch/"
RUN_KEY = PATCH_PREFIX + "run"
REBOOT_MODES = ("auto", "always", "never")
REBOOT_REQUIRED = "/var/run/reboot-required"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
RUNTIME_PACKAGES = ("cri-tools", "kubernetes-cni")
COMMAND_TIMEOUT = 1800.0
UPGRADE = [
    *APT_GET,
    "-o",
    f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}",
    "-o",
    "Dpkg::Options::=--force-confold",
    "-y",
    "dist-upgrade",
]
_INST = re.compile(r"^Inst (\S+) (?:\[(\S+)\] )?\((\S+)")


def interrupted(rt: Runtime) -> bool:
    """Whether the journal holds a patch run that did not finish."""
    return RUN_KEY in rt.journal.all()


class PatchFailed(LabError):
    """A node's patching failed: the run stopped there."""


@dataclass(frozen=True)
class PatchTarget:
    vm: str
    node: str
    vmid: int
    control_plane: bool
    #: the container runtime package the node runs (held with the Kubernetes packages)
    runtime: str


@dataclass
class NodeReport:
    """What patching did to one node."""

    vm: str
    packages: list[dict[str, str]] = field(default_factory=list)  # name, from, to
    held: list[str] = field(default_factory=list)
    kernel_before: str = ""
    kernel_after: str = ""
    drained: bool = False
    rebooted: bool = False
    reboot_pending: bool = False

    @classmethod
    def of(cls, data: dict[str, Any]) -> NodeReport:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def parse_simulation(stdout: str) -> list[dict[str, str]]:
    """The changes ``apt-get -s`` prints (``Inst NAME [OLD] (NEW ...)``); ``from`` is empty for
    a newly installed package."""
    out = []
    for line in stdout.splitlines():
        match = _INST.match(line)
        if match:
            out.append({"name": match[1], "from": match[2] or "", "to": match[3]})
    return out


@dataclass
class PatchRun:
    """One patch run of a lab (``rt``: journal, drainer, clock, progress)."""

    rt: Runtime
    channel: GuestChannel
    api: KubeApi
    reboot: str = "auto"
    reboot_timeout: float = 900.0
    pods_timeout: float = 600.0
    _guard: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ the run

    def resume_or_start(self, targets: Sequence[PatchTarget]) -> tuple[list[PatchTarget], str]:
        """The targets of an interrupted run (and a note), or these, journaled as a new run."""
        journal = self.rt.journal.all()
        for key, data in journal.items():
            if key.startswith(DRAIN_PREFIX):
                resolve_drain(self.rt, key, data)  # drained again below if still needed
        run = journal.get(RUN_KEY)
        if run is not None:
            self.reboot = str(run.get("reboot", self.reboot))
            resumed = [PatchTarget(**t) for t in run["targets"]]
            done = sorted(run.get("done") or {})
            note = "resumed the interrupted patch run" + (
                f" ({', '.join(done)} already patched)" if done else ""
            )
            return resumed, note
        self.rt.journal.put(
            RUN_KEY,
            {"op": "patch", "reboot": self.reboot, "targets": [asdict(t) for t in targets]},
        )
        return list(targets), ""

    def run(self, targets: Sequence[PatchTarget]) -> list[NodeReport]:
        """Every target not yet done: control planes one at a time, then the workers."""
        finished = {k: NodeReport.of(v) for k, v in self._run_entry().get("done", {}).items()}
        todo = [t for t in targets if t.vm not in finished]
        for target in [t for t in todo if t.control_plane]:
            finished[target.vm] = self.node(target)
        workers = [t for t in todo if not t.control_plane]
        stop = threading.Event()

        def one(target: PatchTarget) -> NodeReport | None:
            if stop.is_set():
                return None
            try:
                return self.node(target)
            except BaseException:
                stop.set()
                raise

        width = max(1, self.rt.limits.max_unavailable)
        with concurrent.futures.ThreadPoolExecutor(max_workers=width) as pool:
            futures = [pool.submit(one, t) for t in workers]
            errors: list[BaseException] = []
            for future in futures:
                try:
                    report = future.result()
                except BaseException as exc:
                    errors.append(exc)
                    continue
                if report is not None:
                    finished[report.vm] = report
            if errors:
                raise errors[0]
        self.rt.journal.remove(RUN_KEY)
        return [finished[t.vm] for t in targets if t.vm in finished]

    def _run_entry(self) -> dict[str, Any]:
        return self.rt.journal.all().get(RUN_KEY) or {}

    # ------------------------------------------------------------------ one node

    def node(self, target: PatchTarget) -> NodeReport:
        key = PATCH_PREFIX + target.vm
        entry = self.rt.journal.all().get(key) or {}
        phase = str(entry.get("phase", ""))
        report = NodeReport.of(entry["report"]) if "report" in entry else NodeReport(target.vm)
        try:
            if not phase:
                self.plan(target, report)
                phase = self._save(key, target, "planned", report)
            reboot = self.reboot == "always" or (self.reboot == "auto" and report.reboot_pending)
            if report.packages or reboot or phase != "planned":
                if target.control_plane:
                    self.etcd_healthy(target, announce=False)  # no member behind: go
                report.drained = True
                with drained(
                    self.rt, target.vm, target.node, gone=False, control_plane=target.control_plane
                ):
                    self.disruptive(target, report, key, phase)
                self.pods(target)
                if target.control_plane:
                    self.etcd_healthy(target)
            else:
                self.rt.emit(target.vm, "patch", "done", "nothing to upgrade")
        except LabError as exc:
            self.rt.emit(target.vm, "patch", "failed", exc.message.splitlines()[0])
            raise self._failed(target, exc) from exc
        self.rt.journal.remove(key)
        with self._guard:
            run = self._run_entry()
            run.setdefault("done", {})[target.vm] = asdict(report)
            self.rt.journal.put(RUN_KEY, run)
        return report

    def _save(
        self, key: str, target: PatchTarget, phase: str, report: NodeReport, **extra: str
    ) -> str:
        data = {"op": "patch", "vm": target.vm, "node": target.node, "vmid": target.vmid}
        self.rt.journal.put(key, {**data, **extra, "phase": phase, "report": asdict(report)})
        return phase

    def plan(self, target: PatchTarget, report: NodeReport) -> None:
        self.rt.emit(target.vm, "patch plan", "running")
        report.held = [*K8S_PACKAGES, *RUNTIME_PACKAGES, target.runtime]
        self.sh(target, ["apt-mark", "hold", *report.held], "apt-mark hold")
        self.sh(target, apt_update(APT_GET), "apt-get update")
        report.kernel_before = self.sh(target, ["uname", "-r"], "uname -r").strip()
        simulated = self.sh(target, [*APT_GET, "-s", "dist-upgrade"], "apt-get -s dist-upgrade")
        report.packages = parse_simulation(simulated)
        report.reboot_pending = self.reboot_required(target)
        held = set(report.held)
        moved = [p["name"] for p in report.packages if p["name"] in held]
        if moved:
            raise PatchFailed(f"vm {target.vm}: apt would upgrade held packages: {moved}")
        self.rt.emit(target.vm, "patch plan", "done", f"{len(report.packages)} package(s)")

    def disruptive(self, target: PatchTarget, report: NodeReport, key: str, phase: str) -> None:
        if phase == "planned":
            if report.packages:
                self.rt.emit(target.vm, "upgrade", "running")
                self.sh(target, UPGRADE, "apt-get dist-upgrade")
                self.rt.emit(target.vm, "upgrade", "done", f"{len(report.packages)} package(s)")
            phase = self._save(key, target, "upgraded", report)
        if phase == "upgraded":
            required = self.reboot_required(target)
            if self.reboot == "always" or (self.reboot == "auto" and required):
                boot_id = self.boot_id(target)
                phase = self._save(key, target, "rebooting", report, boot_id=boot_id)
            else:
                report.reboot_pending = required
                report.kernel_after = report.kernel_before
                return
        if phase == "rebooting":
            before = str(self.rt.journal.all()[key].get("boot_id", ""))
            self.reboot_node(target, before)
            report.rebooted = True
            report.reboot_pending = False
            report.kernel_after = self.sh(target, ["uname", "-r"], "uname -r").strip()
            self._save(key, target, "rebooted", report)
        else:  # rebooted before the kill
            report.kernel_after = report.kernel_after or report.kernel_before

    def reboot_required(self, target: PatchTarget) -> bool:
        script = f"if [ -e {REBOOT_REQUIRED} ]; then echo yes; else echo no; fi"
        return self.sh(target, ["sh", "-c", script], "reboot-required").strip() == "yes"

    def boot_id(self, target: PatchTarget) -> str:
        return self.sh(target, ["cat", BOOT_ID], "read the boot id").strip()

    def reboot_node(self, target: PatchTarget, before: str) -> None:
        """Reboot unless the boot id already changed; wait until the agent answers from the new
        boot (a guest that still answers with the old id has not gone down yet)."""
        clock = self.rt.clock
        deadline = clock.monotonic() + self.reboot_timeout
        self.rt.emit(target.vm, "reboot", "running")
        if self.boot_id(target) == before:
            # not waited for: the agent goes down with the guest
            self.channel.start(target.node, target.vmid, ["reboot"])
        while True:
            left = deadline - clock.monotonic()
            if left <= 0:
                raise PatchFailed(
                    f"vm {target.vm}: did not come back from its reboot in "
                    f"{self.reboot_timeout:.0f} s"
                )
            result = self.channel.run(target.node, target.vmid, ["cat", BOOT_ID], timeout=left)
            if result.ok and result.stdout.strip() not in {before, ""}:
                self.rt.emit(target.vm, "reboot", "done")
                return
            clock.sleep(min(5.0, max(0.0, deadline - clock.monotonic())))

    def pods(self, target: PatchTarget) -> None:
        """The node's kube-system pods Running again (its static pods and DaemonSets)."""

        def stuck() -> str | None:
            try:
                pods = self.api.pods("kube-system")
            except LabError as exc:
                return f"(the API server does not answer: {exc.message})"
            names = sorted(
                p["metadata"]["name"]
                for p in pods
                if (p.get("spec") or {}).get("nodeName") == target.vm
                and p["status"].get("phase") not in {"Running", "Succeeded"}
            )
            return ", ".join(names[:5]) or None

        left = self.rt.clock.wait_for(stuck, self.pods_timeout, 2.0)
        if left is not None:
            raise PatchFailed(
                f"vm {target.vm}: kube-system pods not Running after "
                f"{self.pods_timeout:.0f} s: {left}"
            )

    def etcd_healthy(self, target: PatchTarget, *, announce: bool = True) -> None:
        """Wait until every etcd member commits proposals again (see the module docstring)."""
        host = EtcdHost(self.channel, target.vm, target.node, target.vmid, error=PatchFailed)
        if announce:
            self.rt.emit(target.vm, "etcd", "running")
        members = host.wait_healthy(self.rt.clock, self.reboot_timeout)
        if announce:
            self.rt.emit(target.vm, "etcd", "done", f"{members} member(s) healthy")

    # ------------------------------------------------------------------ helpers

    def sh(self, target: PatchTarget, argv: list[str], what: str) -> str:
        result = self.channel.run(target.node, target.vmid, argv, timeout=COMMAND_TIMEOUT)
        if not result.ok:
            detail = (result.stderr.strip() or result.stdout.strip())[-600:]
            raise PatchFailed(f"vm {target.vm}: {what} failed (exit {result.exitcode}): {detail}")
        return result.stdout

    def _failed(self, target: PatchTarget, exc: LabError) -> PatchFailed:
        """Uncordon the node if it is Ready (safe), and say what was left."""
        left = "it is not cordoned"
        key = DRAIN_PREFIX + target.vm
        if key in self.rt.journal.all() and self.rt.nodes is not None:
            try:
                self.rt.nodes.wait_ready(target.vm, 0.0)
                self.rt.nodes.uncordon(target.vm)
                self.rt.journal.remove(key)
                left = "it is Ready and was uncordoned"
            except LabError:
                left = "it is not Ready and stays cordoned (the rerun uncordons it)"
        return PatchFailed(
            f"patching stopped at vm {target.vm}: {exc.message.splitlines()[0]}; {left}",
            hint="the other nodes were not touched and the cluster still serves; fix the cause "
            "and run `homelab patch` again (finished nodes are not repeated)",
        )
