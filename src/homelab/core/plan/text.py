"""A plan as Terraform-style lines: a marker field (the CLI colours by it) and plain text.

    + vm k8s-worker-4 (node pve, 2 cores, 4GiB, 32GiB, 10.0.20.23)
    ~ vm k8s-worker-2: memory 4096 -> 8192 (restart); drain first
    -/+ vm k8s-master-1: template changed: ubuntu-2204 -> ubuntu-2404
    - vm k8s-worker-3 (vmid 203 on pve): not in the spec; drain first, then delete its Node
    & vm k8s-worker-4 (vmid 150 on pve): adopt: tags terraform -> homelab;lab-home-lab;...
    + backup job nightly (homelab-home-lab-nightly): schedule 02:30, keep-last=7, to pbs, VMs ...

    Plan: 1 to add, 1 to change, 1 to replace, 1 to destroy; 1 backup job to set.

No-op lines (marker ``=``) appear only when ``verbose``. Errors (``!``), warnings (``*``) and VMs
whose config must still be read (``?``) come before the summary.
"""

from __future__ import annotations

from dataclasses import dataclass

from homelab.core.backup.jobs import JobAction
from homelab.core.plan.actions import (
    Action,
    AdoptVm,
    Change,
    CreateVm,
    DestroyVm,
    NoOp,
    Plan,
    ReplaceVm,
    UpdateVm,
)
from homelab.core.plan.upgrade import UpgradeStep, safety_steps
from homelab.core.spec.units import format_mib

NO_CHANGES = "No changes. The lab matches the spec."
_DRAIN_UPDATE = "; drain first, uncordon when Ready"
_DRAIN_GONE = "; drain first, then delete its Node"


def _leave_etcd(action: DestroyVm) -> str:
    peer = action.etcd_peer
    return f"; its etcd member removed (on {peer.vm}) before the VM goes" if peer else ""


@dataclass(frozen=True)
class PlanLine:
    """One output line: ``marker`` is one of + ~ -/+ - & = ! * ? and empty for the summary."""

    marker: str
    text: str

    def render(self) -> str:
        return f"{self.marker} {self.text}" if self.marker else self.text


def plan_lines(plan: Plan, *, verbose: bool = False) -> list[PlanLine]:
    """Every line of the plan, in order, ending with the summary line."""
    lines = [line_for(action) for action in plan.actions if verbose or not isinstance(action, NoOp)]
    if plan.storage is not None:
        s = dict(plan.storage.settings)
        where = f"{s['server']}:{s['port']} datastore {s['datastore']}"
        namespace = f", namespace {s['namespace']}" if "namespace" in s else ""
        lines.append(PlanLine("+", f"backup storage {plan.storage.id} (pbs {where}{namespace})"))
    lines += [job_line(job) for job in plan.jobs if verbose or job.changes_anything]
    # in the order apply runs them: the VM actions, the keys pushed, then the rolling upgrade
    lines += [
        PlanLine("~", f"vm {vm}: SSH keys pushed through the guest agent (no restart)")
        for vm in plan.key_pushes
    ]
    if plan.upgrades:
        lines.append(PlanLine("^", f"upgrade 0. first: {safety_steps(plan.lab, plan.upgrades)}"))
    lines += [upgrade_line(index, step) for index, step in enumerate(plan.upgrades, 1)]
    lines += [PlanLine(change.marker(), change.text()) for change in plan.components]
    lines += [
        PlanLine("?", f"vm {name}: config must be read to decide") for name in plan.needs_configs
    ]
    lines += [PlanLine("*", f"warning: {warning}") for warning in plan.warnings]
    lines += [PlanLine("!", f"error: {error}") for error in plan.errors]
    return [*lines, PlanLine("", summary_line(plan))]


def format_plan(plan: Plan, *, verbose: bool = False) -> str:
    """The plan as plain text (no colour), one line per entry, blank line before the summary."""
    lines = plan_lines(plan, verbose=verbose)
    body = [line.render() for line in lines[:-1]]
    return "\n".join([*body, *([""] if body else []), lines[-1].render()]) + "\n"


def summary_line(plan: Plan) -> str:
    if plan.errors:
        count = len(plan.errors)
        return f"Plan failed: {count} error{'s' if count != 1 else ''} must be resolved first."
    if plan.needs_configs:
        return f"Plan incomplete: {len(plan.needs_configs)} VM config(s) must be read."
    if not plan.has_changes:
        if plan.components:
            count = len(plan.components)
            return (
                f"No changes to the VMs. `homelab up` would also install or move {count} "
                f"cluster component{'s' if count != 1 else ''}."
            )
        return NO_CHANGES
    if plan.count(AdoptVm):
        return f"Plan: {plan.count(AdoptVm)} to adopt."
    jobs = len(plan.job_changes)
    backup = [f"{jobs} backup job{'s' if jobs != 1 else ''}"] if jobs else []
    backup += ["1 backup storage"] if plan.storage is not None else []
    tail = [f"{' and '.join(backup)} to set"] if backup else []
    tail += [f"{len(plan.upgrades)} node(s) to upgrade"] if plan.upgrades else []
    tail += [f"SSH keys to push to {len(plan.key_pushes)} node(s)"] if plan.key_pushes else []
    return (
        f"Plan: {plan.count(CreateVm)} to add, {plan.count(UpdateVm)} to change, "
        f"{plan.count(ReplaceVm)} to replace, {plan.count(DestroyVm)} to destroy"
        + (f"; {'; '.join(tail)}." if tail else ".")
    )


def upgrade_line(index: int, step: UpgradeStep) -> PlanLine:
    """One node's upgrade step (marker ``^``), numbered in the order the rollout runs it."""
    return PlanLine(
        "^",
        f"upgrade {index}. vm {step.vm}: {step.reason}: {', '.join(step.commands)}",
    )


_JOB_MARKERS = {"create": "+", "update": "~", "delete": "-", "no-op": "="}


def job_line(job: JobAction) -> PlanLine:
    """``+ backup job nightly (homelab-home-lab-nightly): 02:30, 3 VMs, keep-last=3``."""
    marker = _JOB_MARKERS[job.kind]
    head = f"backup job {job.name} ({job.id})"
    if job.kind == "create" and job.desired is not None:
        d = job.desired
        vms = ", ".join(job.desired.vms)
        return PlanLine(
            marker,
            f"{head}: schedule {d.setting('schedule')}, {d.setting('prune-backups')}, "
            f"to {d.setting('storage')}, VMs {vms}",
        )
    if job.kind == "update":
        parts = [
            f"{c.key} {show(c.old)} -> {show(c.new)}" for c in job.changes if c.key != "comment"
        ]
        return PlanLine(marker, f"{head}: {', '.join(parts) or job.reason}")
    return PlanLine(marker, f"{head}: {job.reason}")


def line_for(action: Action) -> PlanLine:
    if isinstance(action, CreateVm):
        d = action.desired
        facts = (
            f"node {d.node}, {d.cores} cores, {format_mib(d.memory_mib)}, {d.disk_gib}GiB, {d.ip}"
        )
        return PlanLine("+", f"vm {action.vm} ({facts})")
    if isinstance(action, UpdateVm):
        parts = [describe_change(change) for change in action.changes]
        if action.reseed:
            parts.append(f"seed ISO -> {action.desired.seed_volume}")
        return PlanLine("~", f"vm {action.vm}: {', '.join(parts)}{_DRAIN_UPDATE * action.drain}")
    if isinstance(action, ReplaceVm):
        return PlanLine("-/+", f"vm {action.vm}: {action.reason}{_DRAIN_GONE * action.drain}")
    if isinstance(action, DestroyVm):
        return PlanLine(
            "-",
            f"vm {action.vm} (vmid {action.vmid} on {action.node}): {action.reason}"
            f"{_DRAIN_GONE * action.drain}{_leave_etcd(action)}",
        )
    if isinstance(action, AdoptVm):
        before = action.tags_before or "(none)"
        return PlanLine(
            "&",
            f"vm {action.vm} (vmid {action.vmid} on {action.node}): {action.reason}; tags "
            f"{before} -> {action.tags_after}, description gets the homelab record",
        )
    return PlanLine("=", f"vm {action.vm}: {action.reason}")


def describe_change(change: Change) -> str:
    suffix = " (restart)" if change.restart else ""
    if change.key == "description":
        return f"description (homelab record){suffix}"
    return f"{change.key} {show(change.old)} -> {show(change.new)}{suffix}"


def show(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value) if value != "" else '""'
