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
  - replacing or removing a control plane of an HA lab leaves its etcd member behind (a new
    VM at the same address cannot join; one member fewer brings etcd closer to losing quorum).
    homelab does not remove etcd members yet, so it stops and says how to do it by hand.

An adopted VM that runs is restarted only with ``Flags.restart_adopted``
(``--restart-adopted``): a change that needs its restart is a plan error otherwise.

A VM that is not running holds no running pods: nothing to drain. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from homelab.core.ownership import Flags
from homelab.core.plan.actions import Action, DestroyVm, NoOp, ReplaceVm, UpdateVm

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
    problems = {
        action.vm: problem
        for action in actions
        if isinstance(action, ReplaceVm | DestroyVm)
        and (problem := _refusal(action, running.get(action.vmid, False), staying - {action.vm}))
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
        if (
            isinstance(action, UpdateVm | ReplaceVm | DestroyVm)
            and running.get(action.vmid, False)
            and (not isinstance(action, UpdateVm) or action.restart)
        ):
            out.append(dataclasses.replace(action, drain=True))
        else:
            out.append(action)
    return out, [], []


def _refusal(action: ReplaceVm | DestroyVm, live: bool, others: set[str]) -> str | None:
    """Why the rule refuses ``action`` (``others``: the control planes that stay), or None."""
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
    verb = "replacing" if isinstance(action, ReplaceVm) else "removing"
    return (
        f"{verb} a control plane of an HA lab leaves its etcd member behind, which homelab "
        "does not remove yet: first drain it (kubectl drain), run `kubeadm reset -f` on it and "
        "`etcdctl member remove` its member from another control plane, then plan again"
    )
