"""Running a plan: each action's chain in a thread pool, under the runtime's limits.

Creates, updates and replaces run in parallel (bounded per Proxmox node by the runtime's
semaphores, full clones serialised per storage, workers starting after the control planes);
destroys run after all of them, workers before control planes, so new capacity joins before old
capacity leaves. Templates are resolved before anything starts: a missing template stops the
apply with nothing made.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from homelab.core.observed import Observed
from homelab.core.plan.actions import Action, CreateVm, DestroyVm, Plan, ReplaceVm
from homelab.core.secret import Secret
from homelab.engine.apply.chains import Gate, VmOutcome, run_action
from homelab.engine.apply.jobs import JobOutcome, apply_jobs
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import Template, find_vm_template

__all__ = ["ApplyReport", "execute_plan"]

MAX_WORKERS = 64


@dataclass(frozen=True)
class ApplyReport:
    """The outcome of every changing action, in plan order."""

    outcomes: tuple[VmOutcome, ...]
    jobs: tuple[JobOutcome, ...] = ()

    @property
    def failed(self) -> tuple[VmOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    @property
    def failed_jobs(self) -> tuple[JobOutcome, ...]:
        return tuple(o for o in self.jobs if not o.ok)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.failed_jobs


def resolve_templates(plan: Plan, observed: Observed) -> dict[str, Template]:
    """The template each create/replace clones from (MissingTemplate before anything starts)."""
    return {
        action.vm: Template(action.source.node, action.source.vmid)
        if action.source is not None
        else find_vm_template(observed, action.desired)
        for action in plan.changes
        if isinstance(action, CreateVm | ReplaceVm)
    }


def execute_plan(
    rt: Runtime, plan: Plan, observed: Observed, pbs_secret: Secret | None = None
) -> ApplyReport:
    """Run every change of ``plan``; failures are in the report, not raised."""
    templates = resolve_templates(plan, observed)
    building = [a for a in plan.changes if not isinstance(a, DestroyVm)]
    destroys = [a for a in plan.changes if isinstance(a, DestroyVm)]
    gate = Gate({a.vm for a in building if a.role == "control-plane"})
    outcomes: dict[str, VmOutcome] = {}
    outcomes.update(_run_parallel(rt, building, templates, gate))
    outcomes.update(_run_parallel(rt, [a for a in destroys if a.role != "control-plane"], {}, None))
    outcomes.update(_run_parallel(rt, [a for a in destroys if a.role == "control-plane"], {}, None))
    vms = tuple(outcomes[a.vm] for a in plan.changes if a.vm in outcomes)
    return ApplyReport(vms, apply_jobs(rt.client, plan.lab, plan.jobs, plan.storage, pbs_secret))


def _run_parallel(
    rt: Runtime, actions: Sequence[Action], templates: dict[str, Template], gate: Gate | None
) -> dict[str, VmOutcome]:
    if not actions:
        return {}
    # Control planes first: the pool runs tasks in order, so workers waiting at the gate can
    # never hold every thread while a control plane is still queued.
    ordered = sorted(actions, key=lambda a: a.role != "control-plane")
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(actions))) as pool:
        futures = {a.vm: pool.submit(run_action, rt, a, templates, gate) for a in ordered}
        return {vm: future.result() for vm, future in futures.items()}
