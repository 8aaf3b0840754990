"""Draining a node as ``kubectl drain`` does, through the Eviction API, and bringing it back.

``drain(node)`` cordons the node, then evicts every pod bound to it except those a drain leaves
alone: DaemonSet pods (their controller would put them straight back; they go with the node),
mirror pods of static manifests (the kubelet owns them) and pods that already finished. A pod
whose disruption budget has no disruption left answers 429: the drain waits (the budget frees up
when a replacement elsewhere becomes Ready) and asks again, until the per-node timeout; then it
stops with ``DrainBlocked``, naming the pods and the budget's own words (the caller uncordons the
node and leaves it as it was). Evicted pods are waited for until they are gone (their grace
period), as ``kubectl drain`` does. ``force=True`` is the only way past a budget: the pods still
there at the timeout are deleted outright (as ``kubectl drain --disable-eviction``).

``uncordon(node)`` makes it schedulable again; ``wait_ready(node)`` waits for its Ready
condition (after a restart); ``delete_node(node)`` deletes its Node object (the VM is gone).
Every wait runs on the connection's clock, so the simulator's virtual time means the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homelab.engine.clock import Clock
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.errors import KubeNotFound
from homelab.errors import KubeError

__all__ = ["DrainBlocked", "DrainReport", "NodeDrainer", "drainable"]

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


class DrainBlocked(KubeError):
    """Pods of the node could not be evicted before the timeout (a disruption budget, as a
    rule); nothing further was done to the node."""


@dataclass
class DrainReport:
    """What a drain did: pods evicted (``ns/name``), pods left alone and why, pods deleted by
    force, and how long it took (seconds on the drainer's clock)."""

    node: str
    evicted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    forced: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _ref(pod: dict[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name', '?')}"


def _uid(pod: dict[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or _ref(pod))


def drainable(pod: dict[str, Any]) -> tuple[bool, str]:
    """Whether a drain evicts ``pod``, and if not, why (``kubectl drain``'s own filters)."""
    meta = pod.get("metadata") or {}
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        return False, "static pod (the kubelet owns it)"
    if any(o.get("kind") == "DaemonSet" for o in meta.get("ownerReferences") or []):
        return False, "DaemonSet pod"
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False, "finished"
    return True, ""


class NodeDrainer:
    """Drains, uncordons, waits for and deletes nodes of one cluster (module docstring)."""

    def __init__(
        self,
        api: KubeApi,
        clock: Clock,
        *,
        timeout: float = 600.0,
        poll: float = 2.0,
        force: bool = False,
    ) -> None:
        self.api = api
        self.clock = clock
        self.timeout = timeout
        self.poll = poll
        self.force = force

    def exists(self, node: str) -> bool:
        return self.api.find("v1", "Node", node) is not None

    def uncordon(self, node: str) -> None:
        try:
            self.api.set_unschedulable(node, False)
        except KubeNotFound:
            return  # the node is gone: nothing to uncordon

    def drain(self, node: str) -> DrainReport:
        """Cordon ``node`` and evict its pods (see the module docstring).

        As ``kubectl drain``, the pods to move are those bound to the node once it is cordoned;
        a pod created there afterwards (one that tolerates the cordon's taint) is not chased."""
        started = self.clock.monotonic()
        deadline = started + self.timeout
        report = DrainReport(node)
        self.api.set_unschedulable(node, True)
        pending: dict[str, dict[str, Any]] = {}
        for pod in self.api.pods_on(node):
            evict, why = drainable(pod)
            if evict:
                pending[_uid(pod)] = pod
            else:
                report.skipped[_ref(pod)] = why
        evicted: dict[str, str] = {}  # uid -> ref, until the pod is gone
        while True:
            left: dict[str, str] = {}
            for uid, pod in list(pending.items()):
                meta = pod["metadata"]
                answer = self.api.evict(meta.get("namespace", "default"), meta["name"])
                if answer.evicted or answer.gone:
                    del pending[uid]
                    if answer.evicted:
                        report.evicted.append(_ref(pod))
                        evicted[uid] = _ref(pod)
                else:
                    left[_ref(pod)] = answer.refusal
            if evicted:
                there = {_uid(pod) for pod in self.api.pods_on(node)}
                evicted = {uid: ref for uid, ref in evicted.items() if uid in there}
            if not pending and not evicted:
                report.seconds = self.clock.monotonic() - started
                return report
            if self.clock.monotonic() >= deadline:
                left.update(dict.fromkeys(evicted.values(), "still terminating"))
                if not self.force:
                    raise self._blocked(node, left)
                self._delete(left, report)
                report.seconds = self.clock.monotonic() - started
                return report
            self.clock.sleep(self.poll)

    def _delete(self, left: dict[str, str], report: DrainReport) -> None:
        for ref in left:
            namespace, _, name = ref.partition("/")
            try:
                self.api.delete("v1", "Pod", name, namespace)
            except KubeNotFound:
                continue
            report.forced.append(ref)

    def _blocked(self, node: str, left: dict[str, str]) -> DrainBlocked:
        first, why = next(iter(left.items()))
        more = f" (and {len(left) - 1} more pod(s))" if len(left) > 1 else ""
        return DrainBlocked(
            f"cannot drain node {node}: pod {first}{more} still cannot be evicted after "
            f"{self.timeout:.0f} s: {why}",
            hint=(
                "a PodDisruptionBudget allows no disruption now: scale the workload up, relax "
                "the budget, or pass --force to delete the pods anyway"
            ),
        )

    def wait_ready(self, node: str, timeout: float) -> None:
        """Wait until ``node`` reports Ready (after a restart); KubeError when it does not."""
        deadline = self.clock.monotonic() + timeout
        last = "not registered"
        while True:
            found = self.api.find("v1", "Node", node)
            if found is not None:
                conditions = (found.get("status") or {}).get("conditions") or []
                ready = next((c for c in conditions if c.get("type") == "Ready"), None)
                if ready is not None and ready.get("status") == "True":
                    return
                last = (ready or {}).get("message") or "not Ready"
            if self.clock.monotonic() >= deadline:
                raise KubeError(f"node {node} is not Ready after {timeout:.0f} s: {last}")
            self.clock.sleep(self.poll)

    def delete_node(self, node: str) -> None:
        try:
            self.api.delete("v1", "Node", node)
        except KubeNotFound:
            return
