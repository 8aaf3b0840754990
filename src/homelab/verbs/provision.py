"""The lab's use cases that change Proxmox: apply, destroy, adopt. No printing here.

Each takes the lab's lock in the state store (a second apply on the same lab gets a clear
StateLockedError), first resolves what a crashed run left in the journal, then makes its plan
with the planner (``make_plan``: apply's, destroy's or adopt's, all under ownership's one rule),
confirms it, and runs it with the same engine (``execute_plan``), journaled. ``confirm`` is
called with the plan and returns whether to go on (the CLI asks, or ``--yes``). A saved plan
(``apply --plan``) is checked against the spec, the lab and what Proxmox shows before it runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from homelab.core.desired import is_seed_volume_of
from homelab.core.observed import Observed, volume_filename
from homelab.core.ownership import NO_FLAGS, Flags
from homelab.core.plan.actions import Plan
from homelab.core.plan.freshness import saved_plan_problems, stale_reasons
from homelab.core.secret import Secret
from homelab.engine.apply.executor import ApplyReport, execute_plan
from homelab.engine.apply.progress import ProgressSink, Silent
from homelab.engine.apply.reconcile import reconcile_journal
from homelab.engine.apply.runtime import Limits, Runtime
from homelab.engine.apply.seeds import delete_volume
from homelab.engine.apply.vmids import VmidAllocator
from homelab.engine.observe import observe_settled
from homelab.errors import LabError
from homelab.verbs.access import push_keys, record_new_keys
from homelab.verbs.connection import Connection
from homelab.verbs.drain import attach_drainer, needs_drainer
from homelab.verbs.guest_log import command_log
from homelab.verbs.lab import LabContext, Purpose, make_plan, record_born_first
from homelab.verbs.rearm import rearm_join_token
from homelab.verbs.upgrade import record_new_nodes, run_upgrade

__all__ = [
    "Aborted",
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
    notes: list[str] = field(default_factory=list)  # what was recovered of an interrupted run
    warnings: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # the day-2 work beside the VM actions


def new_runtime(
    conn: Connection,
    ctx: LabContext,
    progress: ProgressSink,
    limits: Limits,
    flags: Flags = NO_FLAGS,
) -> Runtime:
    reserved = [vm.vmid for vm in ctx.spec.vms.values() if vm.vmid is not None]
    return Runtime(
        client=conn.client,
        journal=ctx.store.intents(ctx.lab),
        lab=ctx.lab,
        iso_storage=ctx.spec.proxmox.iso_storage,
        seeds=ctx.artifacts.seeds,
        allocator=VmidAllocator(ctx.spec.proxmox.vmids, reserved, conn.client.guest_vmids),
        limits=limits,
        clock=conn.clock,
        progress=progress,
        steward=ctx.steward(flags),
        guest_log=command_log(conn, ctx),
    )


def apply_lab(
    conn: Connection,
    ctx: LabContext,
    *,
    confirm: Callable[[Plan], bool],
    saved: Plan | None = None,
    progress: ProgressSink | None = None,
    limits: Limits | None = None,
    flags: Flags = NO_FLAGS,
) -> ApplyOutcome:
    """Reconcile the journal, plan (or check a saved plan is current), confirm, execute."""
    with ctx.store.lock(ctx.lab, purpose="apply"), contextlib.ExitStack() as cluster:
        rt = new_runtime(conn, ctx, progress or Silent(), limits or Limits(), flags)
        warnings: list[str] = []
        if needs_drainer(rt, None):  # a drain an interrupted run left: uncordon first
            warnings += attach_drainer(conn, ctx, rt, cluster)
        notes = reconcile_journal(rt)
        plan, observed = make_plan(conn, ctx, flags=flags)
        if saved is not None:
            check_saved(saved, ctx, observed, notes)
            plan = saved
        refuse_unless_applicable(plan, "plan")
        if not plan.has_changes:
            return ApplyOutcome(plan, None, notes, warnings)
        pbs_secret = storage_secret(plan)  # refuses before anything changes
        if not confirm(plan):
            raise Aborted("apply cancelled; nothing was changed")
        for vm in observed.vms:
            rt.allocator.mark_taken(vm.vmid)
        rearm_join_token(conn, ctx, plan)  # before any new node boots; refuses if it cannot
        if needs_drainer(rt, plan) or plan.upgrades:  # before anything changes
            warnings += attach_drainer(conn, ctx, rt, cluster)
        ctx.store.mark_applied(ctx.lab)
        if plan.jobs:
            ctx.store.note_backup_jobs(ctx.lab, True)
        report = execute_plan(rt, plan, observed, pbs_secret)
        done: list[str] = []
        keep_encryption_keys(ctx, report)
        note_jobs_gone(ctx, plan, report)
        record_new_nodes(ctx, plan, {o.vm for o in report.outcomes if o.ok})
        record_new_keys(ctx, plan, {o.vm for o in report.outcomes if o.ok})
        record_born_first(ctx, plan, {o.vm for o in report.outcomes if o.ok})
        if plan.key_pushes:
            pushed = push_keys(conn, ctx, observed, plan.key_pushes)
            done.append(f"SSH keys pushed to {', '.join(pushed)}")
        record(ctx, "apply", plan, report)
        if plan.upgrades and report.ok:  # the rolling upgrade, after the VM actions
            upgraded = run_upgrade(conn, ctx, rt, plan.upgrades)
            done.append(
                f"{len(upgraded.upgraded)} node(s) upgraded to {ctx.spec.kubernetes.version}: "
                f"{', '.join(upgraded.upgraded)}"
            )
        return ApplyOutcome(plan, report, notes, warnings, done)


def storage_secret(plan: Plan) -> Secret | None:
    """The PBS token's secret the plan's new backup storage needs, from its environment
    variable; PlanRefused when it is not set (nothing has changed yet)."""
    if plan.storage is None:
        return None
    value = os.environ.get(plan.storage.token_env, "").strip()
    if not value:
        raise PlanRefused(
            f"the backup storage {plan.storage.id} needs the PBS token's secret in "
            f"{plan.storage.token_env}, which is not set",
            hint=f"export {plan.storage.token_env}='<the secret of the PBS API token>'",
        )
    return Secret(value)


PBS_KEY_PREFIX = "pbs-encryption-key/"


def keep_encryption_keys(ctx: LabContext, report: ApplyReport) -> None:
    """Seal the encryption key PVE made for a new PBS storage into the state store (it is the
    only way to read the backups: `homelab state pbs-key export` escrows it)."""
    for outcome in report.jobs:
        if outcome.key is not None:
            ctx.store.secrets(ctx.lab).put(
                f"{PBS_KEY_PREFIX}{outcome.id}", outcome.key.reveal().encode()
            )


def note_jobs_gone(ctx: LabContext, plan: Plan, report: ApplyReport) -> None:
    """Once every job of the lab is deleted, plans stop reading the jobs (unless the spec has
    a ``backup:`` section again)."""
    if plan.jobs and all(j.kind == "delete" for j in plan.jobs) and not report.failed_jobs:
        ctx.store.note_backup_jobs(ctx.lab, False)


def refuse_unless_applicable(plan: Plan, command: str) -> None:
    """PlanRefused when the plan is not final or has errors."""
    if not plan.is_final:
        raise PlanRefused(
            "the plan is incomplete: VMs changed while their configs were read "
            f"({', '.join(plan.needs_configs)})",
            hint="run the command again",
        )
    if plan.errors:
        raise PlanRefused(
            f"the plan has {len(plan.errors)} error(s): {plan.errors[0]}",
            hint=f"run `homelab {command} SPEC` to see them all"
            if command == "plan"
            else f"run `homelab {command} SPEC --json` to see them all",
        )


def check_saved(saved: Plan, ctx: LabContext, observed: Observed, notes: list[str]) -> None:
    """Refuse a saved plan that is stale (the spec or the lab changed since), or that the planner
    could not have made from this spec (edited or damaged: e.g. its actions duplicated)."""
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
    problems = saved_plan_problems(saved, ctx.spec, ctx.seed_digests, ctx.store.store_id)
    if problems:
        raise PlanRefused(
            f"the saved plan does not fit the spec: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            hint="make a new plan with `homelab plan SPEC --out FILE`; never edit a saved plan",
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
            "backup_jobs": [
                {"job": o.name, "id": o.id, "kind": o.kind, "ok": o.ok, "error": o.error}
                for o in report.jobs
            ],
        },
    )


# ---- destroy --------------------------------------------------------------------------------


@dataclass
class DestroyOutcome:
    plan: Plan
    report: ApplyReport | None
    seeds_removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_destroy(
    conn: Connection, ctx: LabContext, flags: Flags = NO_FLAGS
) -> tuple[Plan, list[tuple[str, str]]]:
    """The plan of ``destroy`` (read only) and the seed ISOs it would delete."""
    plan, observed = make_plan(conn, ctx, purpose=Purpose.DESTROY, flags=flags)
    return plan, lab_seed_volumes(ctx, observed)


def destroy_lab(
    conn: Connection,
    ctx: LabContext,
    *,
    confirm: Callable[[Plan], bool],
    progress: ProgressSink | None = None,
    limits: Limits | None = None,
    flags: Flags = NO_FLAGS,
) -> DestroyOutcome:
    """Destroy the lab's VMs (the planner's destroy plan, run by the engine) and seed ISOs."""
    with ctx.store.lock(ctx.lab, purpose="destroy"):
        rt = new_runtime(conn, ctx, progress or Silent(), limits or Limits(), flags)
        notes = reconcile_journal(rt)
        plan, observed = make_plan(conn, ctx, purpose=Purpose.DESTROY, flags=flags)
        refuse_unless_applicable(plan, "destroy")
        seeds = lab_seed_volumes(ctx, observed)
        outcome = DestroyOutcome(plan, None, notes=notes)
        if not plan.has_changes and not seeds:
            return outcome
        if not confirm(plan):
            raise Aborted("destroy cancelled; nothing was changed")
        outcome.report = execute_plan(rt, plan, observed)
        note_jobs_gone(ctx, plan, outcome.report)
        outcome.seeds_removed = remove_lab_seeds(
            rt, ctx, observe_settled(conn.client, ctx.spec, conn.clock.sleep)
        )
        record(ctx, "destroy", plan, outcome.report)
        return outcome


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


def adopt_lab(
    conn: Connection,
    ctx: LabContext,
    *,
    confirm: Callable[[Plan], bool],
    flags: Flags = NO_FLAGS,
    progress: ProgressSink | None = None,
    limits: Limits | None = None,
) -> ApplyOutcome:
    """Take over existing VMs with the spec's names: the planner's adopt plan (tags and the
    lab's record on each), confirmed, then run by the engine, journaled."""
    with ctx.store.lock(ctx.lab, purpose="adopt"):
        rt = new_runtime(conn, ctx, progress or Silent(), limits or Limits(), flags)
        notes = reconcile_journal(rt)
        plan, observed = make_plan(conn, ctx, purpose=Purpose.ADOPT, flags=flags)
        refuse_unless_applicable(plan, "adopt")
        if not plan.has_changes:
            return ApplyOutcome(plan, None, notes)
        if not confirm(plan):
            raise Aborted("adopt cancelled; nothing was changed")
        ctx.store.mark_applied(ctx.lab)
        report = execute_plan(rt, plan, observed)
        record(ctx, "adopt", plan, report)
        return ApplyOutcome(plan, report, notes)
