"""The rolling Kubernetes upgrade of a running cluster: which node does what, in which order.

When the spec's ``kubernetes.version`` differs from the version the lab's nodes run (the state
store records each node's version), the plan gains one upgrade step per node instead of
re-creating VMs (the seed of an existing node is first-boot only). The kubeadm procedure
(``k8s-bootstrap/UPGRADES.md`` §1), one minor at a time:

1. the first control plane: ``kubeadm upgrade plan`` then ``kubeadm upgrade apply`` (drained
   *after* apply: on a single control plane a drained node fails apply's health check);
2. the other control planes, one at a time: ``kubeadm upgrade node``, with drain;
3. the workers: ``kubeadm upgrade node``, then kubelet and kubectl with drain, one at a time
   or ``max_unavailable`` at once.

Every node's kubelet and kubectl move with its step (unhold, install the exact version, hold,
restart the kubelet); a health gate runs between nodes. Refused, with the path to take: a
skipped minor (1.29 -> 1.31: "upgrade to 1.30 first") and a downgrade. Crossing into 1.34 moves
etcd from 3.5 to 3.6, which needs every member on the newest 1.33 patch first (§4).

Pure: no I/O; the versions come from the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "APPLY",
    "NODE",
    "UpgradeStep",
    "joiners_refused",
    "next_minor_path",
    "parse_version",
    "plan_upgrade",
    "safety_steps",
    "snapshot_name",
    "step_from_dict",
]

APPLY = "apply"  # the first control plane: kubeadm upgrade plan + apply
NODE = "node"  # any other node: kubeadm upgrade node
CONTROL_PLANE = "control-plane"
#: the newest 1.33 patch (UPGRADES.md §2): etcd 3.5 -> 3.6 at 1.34 needs it first (§4)
NEWEST_133 = "1.33.13"
ETCD_36_MINOR = 34


@dataclass(frozen=True)
class UpgradeStep:
    """One node's part of the rollout, in the order it runs."""

    vm: str
    node: str
    vmid: int
    role: str
    step: str  # APPLY or NODE
    from_version: str
    to_version: str
    reason: str
    #: the node is drained around its kubelet upgrade (every node of a running cluster is)
    drain: bool = True

    @property
    def commands(self) -> tuple[str, ...]:
        """What runs on the node, as the plan shows it."""
        kubeadm = (
            ("kubeadm upgrade plan", f"kubeadm upgrade apply -y v{self.to_version}")
            if self.step == APPLY
            else ("kubeadm upgrade node",)
        )
        return (
            f"repo v{minor_of(self.to_version)}",
            f"kubeadm {self.to_version}",
            *kubeadm,
            *(("drain",) if self.drain else ()),
            f"kubelet+kubectl {self.to_version}",
            "restart kubelet",
            *(("uncordon",) if self.drain else ()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "vm": self.vm,
            "node": self.node,
            "vmid": self.vmid,
            "role": self.role,
            "step": self.step,
            "from": self.from_version,
            "to": self.to_version,
            "reason": self.reason,
            "drain": self.drain,
            "commands": list(self.commands),
        }


def step_from_dict(data: Mapping[str, Any]) -> UpgradeStep:
    return UpgradeStep(
        vm=str(data["vm"]),
        node=str(data["node"]),
        vmid=int(data["vmid"]),
        role=str(data["role"]),
        step=str(data["step"]),
        from_version=str(data["from"]),
        to_version=str(data["to"]),
        reason=str(data["reason"]),
        drain=bool(data["drain"]),
    )


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``1.29.15`` (or ``v1.29.15``) as numbers; None if it is not x.y.z."""
    parts = text.strip().lstrip("v").split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def minor_of(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


def next_minor_path(current: str, wanted: str) -> list[str]:
    """The minors to go through from ``current`` to ``wanted``, one at a time (``1.29.15`` to
    ``1.31.2`` -> ``["1.30", "1.31"]``)."""
    have, want = parse_version(current), parse_version(wanted)
    if have is None or want is None or want[:2] <= have[:2]:
        return []
    return [f"{have[0]}.{m}" for m in range(have[1] + 1, want[1] + 1)]


def version_refusal(current: str, wanted: str) -> str | None:
    """Why the cluster cannot go from ``current`` to ``wanted`` in one step, or None."""
    have, want = parse_version(current), parse_version(wanted)
    if have is None or want is None:
        return f"cannot compare Kubernetes versions {current!r} and {wanted!r}"
    if want < have:
        return (
            f"kubernetes.version {wanted} is older than the {current} the cluster runs: a "
            "downgrade is not supported (kubeadm upgrades only forwards); set kubernetes.version "
            f"back to {current}, or restore the cluster from a backup taken at {wanted}"
        )
    if want[0] != have[0]:
        return f"kubernetes.version {wanted}: only minor upgrades within {have[0]}.x are known"
    path = next_minor_path(current, wanted)
    if len(path) > 1:
        return (
            f"kubernetes.version {wanted} skips {', '.join(path[:-1])}: kubeadm upgrades one "
            f"minor at a time ({current} -> {wanted} goes through "
            f"{' -> '.join(path)}); upgrade to {path[0]} first (set kubernetes.version to the "
            f"newest {path[0]} patch, apply, then go on)"
        )
    newest_133 = parse_version(NEWEST_133)
    old_etcd = newest_133 is not None and have[:2] == (1, 33) and have < newest_133
    if want[1] == ETCD_36_MINOR and old_etcd:
        return (
            f"kubernetes.version {wanted} moves etcd from 3.5 to 3.6, which needs every member "
            f"on a recent 3.5 first: upgrade to the newest 1.33 patch ({NEWEST_133}) first"
        )
    return None


def plan_upgrade(
    wanted: str,
    versions: Mapping[str, str],
    nodes: Sequence[tuple[str, str, int, str]],
    *,
    control_planes: Sequence[str],
) -> tuple[tuple[UpgradeStep, ...], tuple[str, ...]]:
    """(steps in the order they run, errors).

    ``versions``: the version each node of the cluster runs (vm -> ``x.y.z``); ``nodes``: the
    running cluster VMs as (vm, Proxmox node, vmid, role), the control planes in
    ``control_planes`` order first. A node not in ``versions`` is not judged (it is being
    created at the spec's version).
    """
    behind = [n for n in nodes if n[0] in versions and versions[n[0]] != wanted]
    if not behind:
        return (), ()
    cluster = min(
        (versions[name] for name, *_ in behind), key=lambda v: parse_version(v) or (0, 0, 0)
    )
    newest = max(versions.values(), key=lambda v: parse_version(v) or (0, 0, 0))
    for current in dict.fromkeys((cluster, newest)):
        refusal = version_refusal(current, wanted)
        if refusal is not None:
            return (), (f"kubernetes: {refusal}",)
    rank = {name: index for index, name in enumerate(control_planes)}
    planes = sorted((n for n in behind if n[3] == CONTROL_PLANE), key=lambda n: rank[n[0]])
    workers = [n for n in behind if n[3] != CONTROL_PLANE]
    # the first control plane runs apply unless a control plane already runs the new version
    # (apply done, an interrupted rollout): then every node left runs upgrade node
    applied = any(versions.get(name) == wanted for name in control_planes)
    steps: list[UpgradeStep] = []
    for index, (vm, node, vmid, role) in enumerate([*planes, *workers]):
        first = index == 0 and role == CONTROL_PLANE and not applied
        step = APPLY if first else NODE
        why = (
            "first control plane: kubeadm upgrade plan and apply"
            if first
            else "control plane: kubeadm upgrade node"
            if role == CONTROL_PLANE
            else "worker: kubeadm upgrade node"
        )
        steps.append(
            UpgradeStep(
                vm=vm,
                node=node,
                vmid=vmid,
                role=role,
                step=step,
                from_version=versions[vm],
                to_version=wanted,
                reason=f"{versions[vm]} -> {wanted} ({why})",
            )
        )
    return tuple(steps), ()


def joiners_refused(steps: Sequence[UpgradeStep], joining: Sequence[str]) -> tuple[str, ...]:
    """Why nodes the plan creates or replaces cannot join while the cluster is being upgraded:
    a new node is born at the spec's version, and apply creates VMs before the rollout moves
    the control planes, so it would join a cluster still at the old version; kubeadm join
    refuses a kubelet newer than its control plane (preflight ``KubeletVersion``)."""
    if not steps:
        return ()
    old = min((s.from_version for s in steps), key=lambda v: parse_version(v) or (0, 0, 0))
    new = steps[0].to_version
    return tuple(
        f"vm {vm}: it would join at {new} a cluster still at {old} (kubeadm join refuses a "
        "kubelet newer than its control plane, and apply creates VMs before the rolling "
        f"upgrade). Apply the version change first and add it after, or keep "
        f"kubernetes.version at {old} while it joins"
        for vm in joining
    )


def snapshot_name(to_version: str) -> str:
    """``pre-k8s-1-30-14``: what the rollout to ``to_version`` calls its snapshots."""
    return "pre-k8s-" + re.sub(r"[^A-Za-z0-9_-]", "-", to_version)


def safety_steps(lab: str, steps: Sequence[UpgradeStep]) -> str:
    """What the rollout does before any node moves, as the plan says it: the etcd snapshot and
    a Proxmox snapshot of each control plane (the way back)."""
    planes = [s.vm for s in steps if s.role == CONTROL_PLANE]
    name = snapshot_name(steps[0].to_version) if steps else ""
    return (
        f"etcd snapshot to .homelab/{lab}/etcd/, Proxmox snapshot "
        f"{name} of {', '.join(planes) or 'no control plane'}, then the addons of the new "
        "minor if they change"
    )
