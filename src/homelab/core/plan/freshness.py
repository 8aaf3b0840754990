"""Whether a saved plan still describes the world: apply refuses a stale plan.

A plan records the digest of the spec and seeds it was made from and a fingerprint of every VM it
examined (its /cluster/resources entry). Re-observing costs one request; any difference means
the plan must be made again. Config-level changes are caught by Proxmox itself: updates send
the config ``digest`` the plan read, and Proxmox refuses them if the config changed since.

A saved plan is input too: ``saved_plan_problems`` checks it is one the planner could have made
from this spec (one action per VM, each spec VM's desired settings as the spec gives them, no
destroy of a spec VM, only VMs the plan examined), so an edited or damaged file never runs.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping

from homelab.core.backup.jobs import desired_jobs, jobs_digest
from homelab.core.desired import DesiredVm, desired_vms, spec_digest
from homelab.core.observed import Observed
from homelab.core.ownership import lab_vms
from homelab.core.plan.actions import (
    Action,
    AdoptVm,
    CreateVm,
    DestroyVm,
    NoOp,
    Plan,
    ReplaceVm,
    UpdateVm,
)
from homelab.core.plan.build import fingerprint
from homelab.core.spec.models import LabSpec


def stale_reasons(
    plan: Plan, spec: LabSpec, seed_digests: Mapping[str, str], observed: Observed
) -> tuple[str, ...]:
    """Why the plan no longer applies (empty: it is current)."""
    reasons: list[str] = []
    if plan.lab != spec.name:
        reasons.append(f"the plan is for lab {plan.lab}, the spec is lab {spec.name}")
    if plan.spec_digest != spec_digest(spec, seed_digests):
        reasons.append("the spec or the rendered seeds changed since the plan was made")
    now = {vm.vmid: fingerprint(vm) for vm in observed.vms}
    for vmid, digest in plan.observed_digests:
        if vmid not in now:
            reasons.append(f"VM {vmid} no longer exists")
        elif now[vmid] != digest:
            reasons.append(f"VM {vmid} changed since the plan was made")
    jobs = observed.backup_jobs
    if plan.jobs_digest and jobs is not None and jobs_digest(plan.lab, jobs) != plan.jobs_digest:
        reasons.append("the lab's backup jobs changed since the plan was made")
    seen = {vmid for vmid, _ in plan.observed_digests}
    reasons += [
        f"VM {vm.vmid} ({vm.name}) of lab {plan.lab} appeared since the plan was made"
        for vm in lab_vms(plan.lab, observed.vms)
        if vm.vmid not in seen
    ]
    return tuple(reasons)


def saved_plan_problems(
    plan: Plan, spec: LabSpec, seed_digests: Mapping[str, str], store: str
) -> tuple[str, ...]:
    """Why a saved apply plan is not one the planner could have made from ``spec`` (empty: it
    could). ``store`` is the id of the state store applying it."""
    problems: list[str] = []
    if plan.lab != spec.name:
        problems.append(f"the plan is for lab {plan.lab}, the spec is lab {spec.name}")
    counts = Counter(action.vm for action in plan.actions)
    problems += [f"vm {vm}: {n} actions (one per VM)" for vm, n in counts.items() if n > 1]
    desired = desired_vms(spec, seed_digests, store=store)
    examined = {vmid for vmid, _ in plan.observed_digests}
    for action in plan.actions:
        problem = action_problem(action, desired, examined)
        if problem is not None:
            problems.append(f"vm {action.vm}: {problem}")
    wanted_jobs = {job.id: job for job in desired_jobs(spec)}
    for job in plan.jobs:
        if job.kind in {"create", "update", "no-op"} and job.desired != wanted_jobs.get(job.id):
            problems.append(f"backup job {job.name}: its settings are not the spec's")
    return tuple(problems)


def action_problem(
    action: Action, desired: Mapping[str, DesiredVm], examined: set[int]
) -> str | None:
    if isinstance(action, AdoptVm):
        return "an adopt action has no place in an apply plan"
    if isinstance(action, DestroyVm):
        if action.vm in desired:
            return "a VM of the spec is to be destroyed"
    elif action.vm not in desired:
        return "not a VM of the spec"
    elif isinstance(action, CreateVm | UpdateVm | ReplaceVm) and not fits(
        action.desired, desired[action.vm]
    ):
        return "its desired settings are not the spec's"
    if isinstance(action, UpdateVm | ReplaceVm | DestroyVm | NoOp) and action.vmid not in examined:
        return f"VMID {action.vmid} is not one the plan examined"
    return None


def fits(saved: DesiredVm, want: DesiredVm) -> bool:
    """The saved desired VM is the spec's (an unpinned VM may sit on another node)."""
    return (
        dataclasses.replace(saved, node=want.node) == want
        if not want.node_pinned
        else (saved == want)
    )
