"""The day-2 rule: a running cluster is never re-created or cut implicitly.

Every action that disrupts a running VM of the lab (an update that needs a restart, a replace, a
destroy of a VM the spec dropped) is one of:

- **with drain** (workers; control planes of an HA lab for restarts): apply cordons the node,
  evicts its pods through the Eviction API (DaemonSet pods skipped, disruption budgets
  respected), then disrupts it, and afterwards uncordons it once Ready (update) or deletes its
  Node object (replace, destroy). Drains run one node at a time.
- **refused** unless the user says so explicitly (``Flags.recreate_cluster``, the CLI's
  ``--recreate-cluster``), with the reason in the plan:
  - replacing the only control plane runs ``kubeadm init`` again: a new, empty cluster;
  - replacing a control plane of an HA lab (the new VM cannot join while the old etcd member
    stays): the plan says to remove it, apply, then add it back;
  - removing more than one control plane of an HA lab at once (etcd loses one member at a
    time), or one when no other control plane runs to remove its etcd member on.

A control plane removed from an HA lab is drained, then its etcd member is removed on a control
plane that stays and runs (``DestroyVm.etcd_peer``: ``etcdctl member remove``, which etcd itself
refuses if too few members would be left started), then its VM goes and its Node is deleted.

An adopted VM that runs is restarted only with ``Flags.restart_adopted``
(``--restart-adopted``): a change that needs its restart is a plan error otherwise.

A VM that is not running holds no running pods: nothing to drain. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from homelab.core.ownership import Flags
from homelab.core.plan.actions import Action, DestroyVm, EtcdPeer, NoOp, ReplaceVm, UpdateVm

__all__ = ["CONTROL_PLANE", "apply_day2_rule"]

CONTROL_PLANE = "control-plane"
RECREATE_FLAG = "--recreate-cluster"
RESTART_ADOPTED_FLAG = "--restart-adopted"


def apply_day2_rule(
    actions: Sequence[Action], running: Mapping[int, bool], flags: Flags
) -> tuple[list[Action], list[str], list[str]]:
    """(actions with ``drain`` set, errors, warnings) under the rule of the module docstring.

    ``running`` maps an observed VMID to whether the VM runs.
    """
    adopted = [
        f"vm {a.vm}: it was adopted and {', '.join(c.key for c in a.changes if c.restart)} "
        "only takes effect after a restart, which homelab does to an adopted VM only when told "
        f"(its first boot was not homelab's). Pass {RESTART_ADOPTED_FLAG}, or change it back"
        for a in actions
        if isinstance(a, UpdateVm)
        and a.desired.adopted
        and a.restart
        and running.get(a.vmid, False)
        and not flags.restart_adopted
    ]
    staying = {a.vm for a in actions if isinstance(a, NoOp | UpdateVm) and a.role == CONTROL_PLANE}
    peer = _etcd_peer(actions, running)
    leaving = sorted(a.vm for a in actions if isinstance(a, DestroyVm) and a.role == CONTROL_PLANE)
    problems = {
        action.vm: problem
        for action in actions
        if isinstance(action, ReplaceVm | DestroyVm)
        and (
            problem := _refusal(
                action, running.get(action.vmid, False), staying - {action.vm}, leaving, peer
            )
        )
    }
    errors = [
        f"vm {vm}: {problem}. Pass {RECREATE_FLAG} if that is what you want"
        for vm, problem in problems.items()
        if not flags.recreate_cluster
    ]
    warnings = [
        f"vm {vm}: {problem} ({RECREATE_FLAG} given)"
        for vm, problem in problems.items()
        if flags.recreate_cluster
    ]
    if problems or adopted:
        # refused, or the user lets the cluster go: nothing to drain into
        return list(actions), errors + adopted, warnings
    out: list[Action] = []
    for action in actions:
        if isinstance(action, DestroyVm) and action.role == CONTROL_PLANE and staying:
            action = dataclasses.replace(action, etcd_peer=peer)
        if (
            isinstance(action, UpdateVm | ReplaceVm | DestroyVm)
            and running.get(action.vmid, False)
            and (not isinstance(action, UpdateVm) or action.restart)
        ):
            out.append(dataclasses.replace(action, drain=True))
        else:
            out.append(action)
    return out, [], []


def _etcd_peer(actions: Sequence[Action], running: Mapping[int, bool]) -> EtcdPeer | None:
    """The control plane that stays and runs, on whose etcd a leaving member is removed: one
    the apply leaves alone if there is one (an update's restart comes before removals, but a
    control plane that is not restarted is the safer witness), the first by name."""
    stays = [
        a
        for a in actions
        if isinstance(a, NoOp | UpdateVm) and a.role == CONTROL_PLANE and running.get(a.vmid, False)
    ]
    stays.sort(key=lambda a: (isinstance(a, UpdateVm) and a.restart, a.vm))
    return EtcdPeer(stays[0].vm, stays[0].node, stays[0].vmid) if stays else None


def _refusal(
    action: ReplaceVm | DestroyVm,
    live: bool,
    others: set[str],
    leaving: list[str],
    peer: EtcdPeer | None,
) -> str | None:
    """Why the rule refuses ``action`` (``others``: the control planes that stay; ``leaving``:
    those the plan removes; ``peer``: where their etcd members are removed), or None."""
    if action.role != CONTROL_PLANE:
        return None
    if not others:
        if not live:
            return None  # not running: no cluster serves from it (a failed first boot, say)
        if isinstance(action, ReplaceVm):
            return (
                "replacing the only control plane runs kubeadm init again: a new, empty "
                "cluster (every object and workload in the old one is lost; workers must "
                "re-join)"
            )
        return (
            "removing the last control plane ends the cluster (every object and workload in "
            "it is lost)"
        )
    if isinstance(action, ReplaceVm):
        return (
            "replacing a control plane of an HA lab is not done in one step: the new VM "
            "cannot join while the old etcd member stays. Remove it from the spec and apply "
            "(homelab removes its etcd member), then add it back and apply"
        )
    if len(leaving) > 1 and action.vm != leaving[0]:
        return (
            f"removing {len(leaving)} control planes at once: etcd loses one member at a time "
            f"here, so remove {leaving[0]} first (apply), then plan again"
        )
    if peer is None:
        return (
            "no other control plane runs to remove its etcd member from (etcd would lose a "
            "member it cannot confirm): start one first"
        )
    return None
