"""The lab's use cases that change Proxmox: apply, destroy, adopt. No printing here.

Each takes the lab's lock in the state store (a second apply on the same lab gets a clear
StateLockedError), first resolves what a crashed run left in the journal, then acts. ``confirm``
is called with what is about to happen and returns whether to go on (the CLI asks, or ``--yes``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from homelab.core.desired import desired_vms, is_seed_volume_of, lab_tag, managed_subset
from homelab.core.observed import Observed, ObservedVm, volume_filename
from homelab.core.plan.actions import DestroyVm, Plan
from homelab.core.plan.freshness import stale_reasons
from homelab.engine.apply.executor import ApplyReport, execute_plan
from homelab.engine.apply.progress import ProgressSink, Silent
from homelab.engine.apply.reconcile import reconcile_journal
from homelab.engine.apply.runtime import Limits, Runtime
from homelab.engine.apply.seeds import delete_volume
from homelab.engine.apply.steps import VmRef, read_config
from homelab.engine.apply.vmconfig import desired_description, desired_tags
from homelab.engine.apply.vmids import VmidAllocator
from homelab.engine.observe import observe_settled
from homelab.errors import LabError
from homelab.verbs.connection import Connection
from homelab.verbs.lab import LabContext, make_plan

__all__ = [
    "Aborted",
    "AdoptChange",
    "ApplyOutcome",
    "DestroyOutcome",
    "PlanRefused",
    "adopt_lab",
    "apply_lab",
    "destroy_lab",
]


class Aborted(LabError):
    """The user said no."""


class PlanRefused(LabError):
    """The plan cannot be applied: it has errors, or a saved plan is stale."""


@dataclass
class ApplyOutcome:
    plan: Plan
    report: ApplyReport | None
    notes: list[str] = field(default_factory=list)


def new_runtime(
    conn: Connection, ctx: LabContext, progress: ProgressSink, limits: Limits
) -> Runtime:
    reserved = [vm.vmid for vm in ctx.spec.vms.values() if vm.vmid is not None]
    return Runtime(
        client=conn.client,
        journal=ctx.store.intents(ctx.lab),
        lab=ctx.lab,
        iso_storage=ctx.spec.proxmox.iso_storage,
        seeds=ctx.artifacts.seeds,
        allocator=VmidAllocator(ctx.spec.proxmox.vmids, reserved),
        limits=limits,
        clock=conn.clock,
        progress=progress,
    )


def apply_lab(
    conn: Connection,
    ctx: LabContext,
    *,
    confirm: Callable[[Plan], bool],
    saved: Plan | None = None,
    progress: ProgressSink | None = None,
    limits: Limits | None = None,
) -> ApplyOutcome:
    """Reconcile the journal, plan (or check a saved plan is current), confirm, execute."""
    with ctx.store.lock(ctx.lab, purpose="apply"):
        rt = new_runtime(conn, ctx, progress or Silent(), limits or Limits())
        notes = reconcile_journal(rt)
        plan, observed = make_plan(conn, ctx)
        if saved is not None:
            check_saved(saved, ctx, observed, notes)
            plan = saved
        if not plan.is_final:
            raise PlanRefused(
                "the plan is incomplete: VMs changed while their configs were read "
                f"({', '.join(plan.needs_configs)})",
                hint="run the command again",
            )
        if plan.errors:
            raise PlanRefused(
                f"the plan has {len(plan.errors)} error(s): {plan.errors[0]}",
                hint="run `homelab plan SPEC` to see them all",
            )
        if not plan.has_changes:
            return ApplyOutcome(plan, None, notes)
        if not confirm(plan):
            raise Aborted("apply cancelled; nothing was changed")
        for vm in observed.vms:
            rt.allocator.mark_taken(vm.vmid)
        report = execute_plan(rt, plan, observed)
        record(ctx, "apply", plan, report)
        return ApplyOutcome(plan, report, notes)


def check_saved(saved: Plan, ctx: LabContext, observed: Observed, notes: list[str]) -> None:
    reasons = list(stale_reasons(saved, ctx.spec, ctx.seed_digests, observed))
    if notes:
        reasons.append("an interrupted apply was resolved first")
    if not saved.is_final:
        reasons.append("the saved plan is not final")
    if reasons:
        raise PlanRefused(
            f"the saved plan is stale: {reasons[0]}"
            + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""),
            hint="make a new plan with `homelab plan SPEC --out FILE`",
        )


def record(ctx: LabContext, event: str, plan: Plan, report: ApplyReport) -> None:
    ctx.store.history(ctx.lab).append(
        event,
        {
            "spec_digest": plan.spec_digest,
            "outcomes": [
                {"vm": o.vm, "kind": o.kind, "vmid": o.vmid, "ok": o.ok, "error": o.error}
                for o in report.outcomes
            ],
        },
    )


# ---- destroy --------------------------------------------------------------------------------


@dataclass
class DestroyOutcome:
    targets: list[ObservedVm]
    skipped: list[ObservedVm]
    report: ApplyReport | None
    seeds_removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def destroy_targets(
    ctx: LabContext, observed: Observed
) -> tuple[list[ObservedVm], list[ObservedVm]]:
    """VMs with this lab's tag and a name of the spec; and lab VMs left alone (other names)."""
    tag = lab_tag(ctx.lab)
    ours = [vm for vm in observed.vms if vm.has_tag(tag) and not vm.template]
    targets = [vm for vm in ours if vm.name in ctx.spec.vms]
    return targets, [vm for vm in ours if vm.name not in ctx.spec.vms]


def destroy_lab(
    conn: Connection,
    ctx: LabContext,
    *,
    confirm: Callable[[list[ObservedVm]], bool],
    progress: ProgressSink | None = None,
    limits: Limits | None = None,
) -> DestroyOutcome:
    """Destroy the lab's VMs (stop, destroy with purge, confirm gone) and its seed ISOs."""
    with ctx.store.lock(ctx.lab, purpose="destroy"):
        rt = new_runtime(conn, ctx, progress or Silent(), limits or Limits())
        notes = reconcile_journal(rt)
        observed = observe_settled(conn.client, ctx.spec, conn.clock.sleep)
        targets, skipped = destroy_targets(ctx, observed)
        seeds = lab_seed_volumes(ctx, observed)
        outcome = DestroyOutcome(targets, skipped, None, notes=notes)
        if not targets and not seeds:
            return outcome
        if not confirm(targets):
            raise Aborted("destroy cancelled; nothing was changed")
        plan = Plan(lab=ctx.lab, actions=tuple(destroy_action(vm) for vm in targets))
        outcome.report = execute_plan(rt, plan, observed)
        outcome.seeds_removed = remove_lab_seeds(
            rt, ctx, observe_settled(conn.client, ctx.spec, conn.clock.sleep)
        )
        record(ctx, "destroy", plan, outcome.report)
        return outcome


def destroy_action(vm: ObservedVm) -> DestroyVm:
    roles = [t.removeprefix("role-") for t in managed_subset(vm.tags) if t.startswith("role-")]
    role = roles[0] if roles else "worker"
    return DestroyVm(vm.name or "", vm.node, "homelab destroy", vm.vmid, role)


def lab_seed_volumes(ctx: LabContext, observed: Observed) -> list[tuple[str, str]]:
    """(node, volid) of every seed ISO of this lab's VMs."""
    return [
        (node, volid)
        for node, volids in observed.seed_volumes.items()
        for volid in volids
        if any(is_seed_volume_of(ctx.lab, vm, volume_filename(volid)) for vm in ctx.spec.vms)
    ]


def remove_lab_seeds(rt: Runtime, ctx: LabContext, observed: Observed) -> list[str]:
    removed = []
    for node, volid in lab_seed_volumes(ctx, observed):
        if delete_volume(rt, node, volid.partition(":")[0], volid):
            removed.append(volid)
    return removed


# ---- adopt ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdoptChange:
    vm: str
    vmid: int
    node: str
    tags_before: str
    tags_after: str


def adopt_lab(
    conn: Connection,
    ctx: LabContext,
    *,
    confirm: Callable[[list[AdoptChange]], bool],
) -> list[AdoptChange]:
    """Take over existing VMs with the spec's names: tag them and record the lab on them."""
    with ctx.store.lock(ctx.lab, purpose="adopt"):
        observed = observe_settled(conn.client, ctx.spec, conn.clock.sleep)
        wanted = desired_vms(ctx.spec, ctx.seed_digests)
        rt = new_runtime(conn, ctx, Silent(), Limits())
        changes = [
            change
            for name in ctx.spec.vms
            if (change := adopt_change(rt, ctx, observed, name)) is not None
        ]
        if not changes or not confirm(changes):
            if changes:
                raise Aborted("adopt cancelled; nothing was changed")
            return changes
        for change in changes:
            ref = VmRef(change.vm, change.node, change.vmid)
            _, config = read_config(rt, ref)
            conn.client.update_config(
                ref.node,
                ref.vmid,
                digest=config.digest,
                tags=change.tags_after,
                description=desired_description(wanted[change.vm], config.description),
            )
        ctx.store.history(ctx.lab).append("adopt", {"vms": [c.vm for c in changes]})
        return changes


def adopt_change(rt: Runtime, ctx: LabContext, observed: Observed, name: str) -> AdoptChange | None:
    """What adopting the VM called ``name`` changes (None: nothing to adopt, or already ours)."""
    found = [vm for vm in observed.vms if vm.name == name and not vm.template]
    tag = lab_tag(ctx.lab)
    if not found or any(vm.has_tag(tag) for vm in found):
        return None
    if len(found) > 1:
        vmids = ", ".join(str(vm.vmid) for vm in found)
        raise LabError(f"vm {name}: several VMs have this name ({vmids}); adopt one by renaming")
    vm = found[0]
    other = [t for t in vm.tags if t.lower().startswith("lab-")]
    if other:
        raise LabError(f"vm {name}: VMID {vm.vmid} belongs to {other[0]}; it is not adopted")
    raw, _ = read_config(rt, VmRef(name, vm.node, vm.vmid))
    wanted = desired_vms(ctx.spec, ctx.seed_digests)[name]
    return AdoptChange(
        vm=name,
        vmid=vm.vmid,
        node=vm.node,
        tags_before=raw.get("tags", ""),
        tags_after=desired_tags(wanted, raw.get("tags")),
    )
