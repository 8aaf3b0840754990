"""Cluster health as the tool checks it: every expected node Ready, the system pods Running.

``check_health`` reads nodes and pods once and returns a ``HealthReport`` (pure data, JSON-able):
each expected node with its role, IP, kubelet version and Ready state, and each system component
with how many pods run against how many it needs:

- CoreDNS (``kube-system``, ``k8s-app=kube-dns``): at least one;
- kube-proxy (``kube-system``): one per node;
- calico-node (``calico-system``): one per node; calico-kube-controllers: at least one;
- MetalLB (``metallb-system``), when the lab has a LoadBalancer pool: the controller, and a
  speaker per node.

A pod counts when its phase is Running and its Ready condition (if reported) is True. Pods are
recognised by their upstream labels, or by their upstream name prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homelab.engine.kube.client import KubeApi

__all__ = ["ExpectedNode", "HealthReport", "NodeHealth", "PodGroup", "check_health"]


@dataclass(frozen=True)
class ExpectedNode:
    """A node the spec says the cluster has."""

    name: str
    role: str
    ip: str


@dataclass(frozen=True)
class NodeHealth:
    name: str
    role: str
    ip: str
    version: str
    ready: bool
    registered: bool
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "ip": self.ip,
            "version": self.version,
            "ready": self.ready,
            "registered": self.registered,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PodGroup:
    """One system component: how many of its pods run, how many it needs, where some lack."""

    component: str
    namespace: str
    running: int
    needed: int
    missing_on: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.running >= self.needed and not self.missing_on

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "namespace": self.namespace,
            "running": self.running,
            "needed": self.needed,
            "missing_on": list(self.missing_on),
            "ok": self.ok,
        }


@dataclass(frozen=True)
class HealthReport:
    nodes: tuple[NodeHealth, ...]
    pods: tuple[PodGroup, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(n.ready for n in self.nodes) and all(p.ok for p in self.pods)

    @property
    def not_ready(self) -> list[NodeHealth]:
        return [n for n in self.nodes if not n.ready]

    def problems(self) -> list[str]:
        """One line per thing that is not healthy yet."""
        lines = [
            f"node {n.name}: " + (n.reason or ("NotReady" if n.registered else "not registered"))
            for n in self.not_ready
        ]
        for group in self.pods:
            if group.ok:
                continue
            where = f" (none on {', '.join(group.missing_on)})" if group.missing_on else ""
            lines.append(
                f"{group.namespace}/{group.component}: {group.running} of {group.needed} "
                f"running{where}"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "nodes": [n.to_dict() for n in self.nodes],
            "system_pods": [p.to_dict() for p in self.pods],
        }


@dataclass(frozen=True)
class _Component:
    name: str
    namespace: str
    labels: dict[str, str]
    prefix: str
    per_node: bool


COMPONENTS = (
    _Component("coredns", "kube-system", {"k8s-app": "kube-dns"}, "coredns-", False),
    _Component("kube-proxy", "kube-system", {"k8s-app": "kube-proxy"}, "kube-proxy-", True),
    _Component("calico-node", "calico-system", {"k8s-app": "calico-node"}, "calico-node-", True),
    _Component(
        "calico-kube-controllers",
        "calico-system",
        {"k8s-app": "calico-kube-controllers"},
        "calico-kube-controllers-",
        False,
    ),
)
METALLB = (
    _Component(
        "metallb-controller",
        "metallb-system",
        {"app": "metallb", "component": "controller"},
        "controller-",
        False,
    ),
    _Component(
        "metallb-speaker",
        "metallb-system",
        {"app": "metallb", "component": "speaker"},
        "speaker-",
        True,
    ),
)


def check_health(
    api: KubeApi, expected: list[ExpectedNode], *, load_balancer: bool
) -> HealthReport:
    """One look at nodes and system pods (two list requests)."""
    nodes = {str(n["metadata"]["name"]): n for n in api.nodes()}
    pods = api.pods()
    node_health = tuple(_node_health(e, nodes.get(e.name)) for e in expected)
    names = [e.name for e in expected]
    components = COMPONENTS + (METALLB if load_balancer else ())
    groups = tuple(_pod_group(c, pods, names) for c in components)
    return HealthReport(node_health, groups)


def _node_health(expected: ExpectedNode, node: dict[str, Any] | None) -> NodeHealth:
    if node is None:
        return NodeHealth(expected.name, expected.role, expected.ip, "", False, False)
    status = node.get("status") or {}
    ready = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {"status": ""}
    )
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    version = (status.get("nodeInfo") or {}).get("kubeletVersion", "")
    is_ready = ready.get("status") == "True"
    reason = "" if is_ready else str(ready.get("message") or ready.get("reason") or "NotReady")
    return NodeHealth(
        name=expected.name,
        role=expected.role,
        ip=str(addresses.get("InternalIP") or expected.ip),
        version=str(version),
        ready=is_ready,
        registered=True,
        reason=reason,
    )


def _pod_group(component: _Component, pods: list[dict[str, Any]], nodes: list[str]) -> PodGroup:
    mine = [p for p in pods if _belongs(p, component)]
    running = [p for p in mine if _running(p)]
    if not component.per_node:
        return PodGroup(component.name, component.namespace, len(running), 1)
    hosts = {(p.get("spec") or {}).get("nodeName") for p in running}
    missing = tuple(n for n in nodes if n not in hosts)
    return PodGroup(component.name, component.namespace, len(running), len(nodes), missing)


def _belongs(pod: dict[str, Any], component: _Component) -> bool:
    meta = pod.get("metadata") or {}
    if meta.get("namespace") != component.namespace:
        return False
    labels = meta.get("labels") or {}
    if all(labels.get(k) == v for k, v in component.labels.items()):
        return True
    return str(meta.get("name", "")).startswith(component.prefix)


def _running(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    return not ready or ready[0].get("status") == "True"
