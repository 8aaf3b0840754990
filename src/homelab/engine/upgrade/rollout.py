"""Running the rolling upgrade: the kubeadm procedure on each node through the guest channel.

Per node (``homelab.core.plan.upgrade`` orders them), journaled under ``upgrade/<vm>`` with the
phase reached, so a rerun after a kill skips what is done and never repeats a finished node:

1. ``kubeadm``: the node's pkgs.k8s.io repository switched to the target minor, ``apt-get
   update``, kubeadm unheld, installed at the exact version, held again;
2. ``control-plane``: ``kubeadm upgrade plan`` and ``kubeadm upgrade apply -y vX`` on the first
   control plane, ``kubeadm upgrade node`` elsewhere (kubeadm's own steps are idempotent);
3. ``kubelet``: drained (``engine.apply.drains.drained``: journaled, uncordoned after), the
   container runtime the target wants (containerd.io 2.x from 1.34, its config), kubelet
   and kubectl unheld, installed, held (on a control plane of a lab with a VIP, kube-vip's
   static pod moved to the target's version), ``systemctl daemon-reload`` and ``restart kubelet``;
   then the health gate: the Node Ready and reporting the new kubeletVersion, the kube-system
   pods Running, the API server answering ``/readyz``; on a control plane also every etcd
   member healthy (``EtcdHost.wait_healthy``: caught up with the leader) before the next one.

Control planes go one at a time, workers ``max_unavailable`` drained at once, drains in the
plan's order; phases 1 and 2 of the next nodes run ahead while others are drained (``Rollout.run``).
The node's version is recorded (``versions.NodeVersions``) once its gate passed. A failed step
raises ``UpgradeFailed``: the rollout stops there; the drain context uncordons the node.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from homelab.core.plan.upgrade import APPLY, CONTROL_PLANE, UpgradeStep, minor_of
from homelab.core.render.bootstrap import KUBE_VIP_MANIFEST, KUBE_VIP_STAGED, install_apt_key
from homelab.core.render.cloudinit import DOCKER_KEYRING, KEYRING, containerd_config
from homelab.core.render.versions import (
    DOCKER_APT_KEY_URL,
    DOCKER_APT_REPO,
    DOCKER_APT_SUITE,
    ComponentVersions,
    versions_for,
)
from homelab.engine.apply.drains import drained
from homelab.engine.apply.runtime import Runtime
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.etcd import EtcdHost
from homelab.engine.kube.client import KubeApi
from homelab.engine.upgrade.versions import NodeVersions
from homelab.errors import LabError

__all__ = ["UPGRADE_PREFIX", "Rollout", "UpgradeFailed"]

UPGRADE_PREFIX = "upgrade/"
REPO_FILE = "/etc/apt/sources.list.d/kubernetes.list"
DOCKER_LIST = "/etc/apt/sources.list.d/docker.list"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
APT = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]
PHASES = ("kubeadm", "control-plane", "kubelet")
COMMAND_TIMEOUT = 900.0


class UpgradeFailed(LabError):
    """A step of the rollout failed: the rollout stopped there."""


@dataclass
class Rollout:
    """The rollout of one lab (``rt`` gives the journal, the drainer, clock and progress)."""

    rt: Runtime
    channel: GuestChannel
    api: KubeApi
    versions: NodeVersions
    gate_timeout: float = 600.0
    #: the lab's kube-vip static pod (YAML) at a minor's versions; None: the lab has no VIP
    kube_vip: Callable[[ComponentVersions], bytes] | None = None

    def run(self, steps: Sequence[UpgradeStep]) -> list[str]:
        """Every step: the control planes one at a time, then the workers ``max_unavailable``
        drained at once; returns the nodes upgraded.

        What does not disturb a node runs ahead of the drains (kubeadm's own order for a node is
        kubeadm, ``upgrade node``, then drain for the kubelet): the next control plane's kubeadm
        package is fetched while the previous one's kubelet phase runs (never its ``upgrade``,
        which restarts its control-plane pods), the first worker's while the last control
        plane's runs, and the next workers are prepared (kubeadm and ``upgrade node``, which
        only writes the kubelet's config for its next restart) while others are drained. Drains
        still start in the plan's order, never more than ``max_unavailable`` at once.
        """
        planes = [s for s in steps if s.role == CONTROL_PLANE]
        workers = [s for s in steps if s.role != CONTROL_PLANE]
        done = self._planes(planes, workers[0] if workers else None)
        return done + self._workers(workers)

    def _planes(self, planes: Sequence[UpgradeStep], after: UpgradeStep | None) -> list[str]:
        done: list[str] = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as ahead:
            fetched: concurrent.futures.Future[None] | None = None
            for index, step in enumerate(planes):
                if fetched is not None:
                    fetched.result()  # this node's kubeadm, fetched ahead: its failure stops here
                    fetched = None
                nxt = planes[index + 1] if index + 1 < len(planes) else after

                def fetch_next(nxt: UpgradeStep | None = nxt) -> None:
                    nonlocal fetched
                    if nxt is not None:
                        fetched = ahead.submit(self.phases, nxt, "kubeadm")

                self.phases(step, before_kubelet=fetch_next)
                done.append(step.vm)
            if fetched is not None:
                fetched.result()
        return done

    def _workers(self, workers: Sequence[UpgradeStep]) -> list[str]:
        width = max(1, self.rt.limits.max_unavailable)
        stop = threading.Event()  # the first failure: no further node starts or is drained
        turns = _Turns(width, stop)

        def worker(index: int, step: UpgradeStep) -> bool:
            if stop.is_set():
                return False
            try:
                self.phases(step, "control-plane")
                with turns.drain(index) as admitted:
                    if not admitted:
                        return False
                    self.phases(step)
            except BaseException:
                turns.halt()
                raise
            return True

        done: list[str] = []
        # ``width`` drained and as many being prepared
        with concurrent.futures.ThreadPoolExecutor(max_workers=2 * width) as pool:
            futures = {pool.submit(worker, i, step): step.vm for i, step in enumerate(workers)}
            errors: list[BaseException] = []
            for future in concurrent.futures.as_completed(futures):
                try:
                    if future.result():
                        done.append(futures[future])
                except BaseException as exc:
                    errors.append(exc)
            if errors:
                raise errors[0]
        return done

    def phases(
        self,
        step: UpgradeStep,
        until: str = PHASES[-1],
        *,
        before_kubelet: Callable[[], None] | None = None,
    ) -> None:
        """The node's phases not yet journaled as done, up to ``until``; the node's version is
        recorded and its journal entry removed once the last is done."""
        key = UPGRADE_PREFIX + step.vm
        entry = self.rt.journal.all().get(key) or {}
        reached = str(entry.get("phase", "")) if entry.get("to") == step.to_version else ""
        start = PHASES.index(reached) + 1 if reached else 0
        for phase in PHASES[start : PHASES.index(until) + 1]:
            if phase == "kubelet" and before_kubelet is not None:
                before_kubelet()
            self.rt.emit(step.vm, f"upgrade {phase}", "running")
            try:
                {"kubeadm": self.kubeadm, "control-plane": self.control_plane}.get(
                    phase, self.kubelet
                )(step)
            except LabError as exc:
                self.rt.emit(step.vm, f"upgrade {phase}", "failed", exc.message.splitlines()[0])
                raise
            self.rt.journal.put(
                key, {"op": "upgrade", "vm": step.vm, "to": step.to_version, "phase": phase}
            )
            self.rt.emit(step.vm, f"upgrade {phase}", "done")
        if until == PHASES[-1]:
            self.versions.record(step.vm, step.to_version)
            self.rt.journal.remove(key)

    # ------------------------------------------------------------------ phases

    def kubeadm(self, step: UpgradeStep) -> None:
        target = versions_for(minor_of(step.to_version))
        repo = f"deb [signed-by={KEYRING}] {target.apt_repo} /\n"
        self.channel.write_file(step.node, step.vmid, REPO_FILE, repo.encode())
        package = target.package_version(step.to_version)
        self.sh(step, [*APT, "update"], "apt-get update")
        self.sh(step, ["apt-mark", "unhold", "kubeadm"], "apt-mark unhold kubeadm")
        self.sh(step, [*APT, "install", "-y", f"kubeadm={package}"], f"install kubeadm {package}")
        self.sh(step, ["apt-mark", "hold", "kubeadm"], "apt-mark hold kubeadm")

    def control_plane(self, step: UpgradeStep) -> None:
        if step.step == APPLY:
            self.sh(step, ["kubeadm", "upgrade", "plan"], "kubeadm upgrade plan")
            version = f"v{step.to_version}"
            self.sh(step, ["kubeadm", "upgrade", "apply", "-y", version], "kubeadm upgrade apply")
        else:
            self.sh(step, ["kubeadm", "upgrade", "node"], "kubeadm upgrade node")

    def kubelet(self, step: UpgradeStep) -> None:
        target = versions_for(minor_of(step.to_version))
        package = target.package_version(step.to_version)
        plane = step.role == CONTROL_PLANE
        with drained(self.rt, step.vm, step.node, gone=False, control_plane=plane):
            self.containerd(step)
            if plane:
                self.vip(step)
            self.sh(step, ["apt-mark", "unhold", "kubelet", "kubectl"], "apt-mark unhold")
            self.sh(
                step,
                [*APT, "install", "-y", f"kubelet={package}", f"kubectl={package}"],
                f"install kubelet and kubectl {package}",
            )
            self.sh(step, ["apt-mark", "hold", "kubelet", "kubectl"], "apt-mark hold")
            self.sh(step, ["systemctl", "daemon-reload"], "systemctl daemon-reload")
            self.sh(step, ["systemctl", "restart", "kubelet"], "systemctl restart kubelet")
            self.gate(step)
            if plane:  # the next control plane moves only once every etcd member caught up
                host = EtcdHost(self.channel, step.vm, step.node, step.vmid, UpgradeFailed)
                host.wait_healthy(self.rt.clock, self.gate_timeout)

    def containerd(self, step: UpgradeStep) -> None:
        """The runtime the target minor wants, on the drained node: from 1.34 Docker's
        containerd.io 2.x replaces Ubuntu's containerd 1.7 (the kubelet of 1.36 no longer runs
        on 1.x); the config (its pause image, its version 2 or 3 format) rewritten when it
        changes. containerd restarts with ``KillMode=process``: the containers keep running."""
        old = versions_for(minor_of(step.from_version))
        new = versions_for(minor_of(step.to_version))
        if old.containerd_package != new.containerd_package and new.containerd_from_docker:
            docker = (
                f"deb [signed-by={DOCKER_KEYRING}] {DOCKER_APT_REPO} {DOCKER_APT_SUITE} stable\n"
            )
            self.channel.write_file(step.node, step.vmid, DOCKER_LIST, docker.encode())
            self.sh(step, install_apt_key(DOCKER_APT_KEY_URL, DOCKER_KEYRING), "Docker's apt key")
            self.sh(step, [*APT, "update"], "apt-get update")
            self.sh(step, [*APT, "install", "-y", new.containerd_package], "install containerd.io")
        config = containerd_config(new)
        if config != containerd_config(old) or old.containerd_package != new.containerd_package:
            self.channel.write_file(step.node, step.vmid, CONTAINERD_CONFIG, config.encode())
            self.sh(step, ["systemctl", "restart", "containerd"], "systemctl restart containerd")

    def vip(self, step: UpgradeStep) -> None:
        """kube-vip's static pod at the target minor's version, on the drained control plane
        (the kubelet restarts the pod; the VIP's lease moves to another control plane's
        kube-vip meanwhile), and the staged copy a rejoin installs (``homelab restore``)."""
        if self.kube_vip is None:
            return
        old = self.kube_vip(versions_for(minor_of(step.from_version)))
        new = self.kube_vip(versions_for(minor_of(step.to_version)))
        if old == new:
            return
        # the staged copy first, then installed as the bootstrap does (kubelet reads a whole file)
        self.channel.write_file(step.node, step.vmid, KUBE_VIP_STAGED, new)
        self.sh(step, ["chmod", "0600", KUBE_VIP_STAGED], "chmod kube-vip's staged manifest")
        install = ["install", "-D", "-m", "0600", KUBE_VIP_STAGED, KUBE_VIP_MANIFEST]
        self.sh(step, install, "install kube-vip's manifest")

    # ------------------------------------------------------------------ helpers

    def sh(self, step: UpgradeStep, argv: list[str], what: str) -> str:
        result = self.channel.run(step.node, step.vmid, argv, timeout=COMMAND_TIMEOUT)
        if not result.ok:
            detail = (result.stderr.strip() or result.stdout.strip())[-600:]
            raise UpgradeFailed(f"vm {step.vm}: {what} failed (exit {result.exitcode}): {detail}")
        return result.stdout

    def gate(self, step: UpgradeStep) -> None:
        """The health gate: the node reports the new version and is Ready, the kube-system pods
        run, the API answers; waited for up to ``gate_timeout``."""
        problem = self.rt.clock.wait_for(lambda: self.health(step), self.gate_timeout, 1.0)
        if problem is not None:
            raise UpgradeFailed(
                f"vm {step.vm}: the health gate did not pass in {self.gate_timeout:.0f} s: "
                f"{problem}"
            )

    def health(self, step: UpgradeStep) -> str | None:
        try:
            ready, said = self.api.readyz()
            if not ready:
                return f"the API server is not ready ({said})"
            node: Any = self.api.find("v1", "Node", step.vm)
            pods = self.api.pods("kube-system")
        except LabError as exc:
            return f"the API server does not answer: {exc.message}"
        if node is None:
            return f"node {step.vm} is not registered"
        version = node["status"]["nodeInfo"]["kubeletVersion"]
        if version != f"v{step.to_version}":
            return f"node {step.vm} reports kubelet {version}, not v{step.to_version}"
        if not _ready(node):
            return f"node {step.vm} is not Ready"
        stuck = sorted(
            p["metadata"]["name"]
            for p in pods
            if p["status"].get("phase") not in {"Running", "Succeeded"}
        )
        if stuck:
            return f"kube-system pods not Running: {', '.join(stuck[:5])}"
        return None


def _ready(node: Any) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class _Turns:
    """Drains admitted in the plan's order, ``width`` at a time: ``drain(i)`` waits until every
    earlier worker was admitted and a slot is free; it admits nobody once halted."""

    def __init__(self, width: int, stop: threading.Event) -> None:
        self._width, self._stop = width, stop
        self._next = 0
        self._running = 0
        self._cond = threading.Condition()

    def halt(self) -> None:
        with self._cond:
            self._stop.set()
            self._cond.notify_all()

    @contextlib.contextmanager
    def drain(self, index: int) -> Iterator[bool]:
        with self._cond:
            self._cond.wait_for(
                lambda: self._stop.is_set() or (self._next == index and self._running < self._width)
            )
            if self._stop.is_set():
                admitted = False
            else:
                admitted = True
                self._next += 1
                self._running += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()
