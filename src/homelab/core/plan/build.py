"""``plan_lab``: the pure decision of what to do, with ownership rules (ARCHITECTURE decision 3).

Ownership:
- a VM belongs to the lab iff it carries the tag ``lab-<name>`` (templates never do);
- a VM of this lab the spec no longer has -> destroy;
- a spec VM name used by a VM without our lab tag -> plan error, and that VM is never touched
  (it may be someone else's; ``homelab adopt`` takes it over explicitly);
- VMs of other labs and untagged VMs are otherwise ignored;
- a locked VM is never changed: if it needs changes the plan says so as an error;
- a VM just created elsewhere (no name yet in /cluster/resources) inside the lab's VMID range
  stops the plan: deciding without it could create a duplicate.

The plan is final once every VM that may differ had its config read (``needs_configs`` empty).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from homelab.core.desired import (
    DesiredVm,
    desired_vms,
    lab_tag,
    managed_subset,
    sha256_json,
    spec_digest,
)
from homelab.core.observed import Observed, ObservedVm, SeedIndex
from homelab.core.plan import diff, order, sources
from homelab.core.plan.actions import (
    Action,
    CreateVm,
    DestroyVm,
    NoOp,
    Plan,
    ReplaceVm,
    UpdateVm,
)
from homelab.core.spec.models import LabSpec

ROLE_TAG_PREFIX = "role-"


@dataclasses.dataclass
class _Draft:
    actions: list[Action] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    needs_configs: list[str] = dataclasses.field(default_factory=list)


class _Index:
    """The observed guests by name and by VMID (a 1,000-VM plan stays linear)."""

    def __init__(self, guests: list[ObservedVm], everything: tuple[ObservedVm, ...]) -> None:
        self.by_name: dict[str, list[ObservedVm]] = {}
        self.by_vmid = {vm.vmid: vm for vm in everything}
        for vm in guests:
            if vm.name is not None:
                self.by_name.setdefault(vm.name, []).append(vm)


def plan_lab(spec: LabSpec, seed_digests: Mapping[str, str], observed: Observed) -> Plan:
    """Desired (spec + seed digests) vs observed -> an ordered Plan. Pure."""
    desired = desired_vms(spec, seed_digests)
    guests = [vm for vm in observed.vms if not vm.template]
    index = _Index(guests, observed.vms)
    seeds = observed.seed_index()
    draft = _Draft()
    check_unnamed(spec, guests, draft)
    for want in desired.values():
        plan_vm(want, index, seeds, draft)
    owned = [vm for vm in guests if vm.has_tag(lab_tag(spec.name))]
    for vm in owned:
        if vm.name not in desired:
            plan_destroy(vm, draft)
    actions, source_errors = sources.attach_sources(
        draft.actions, str(spec.proxmox.template), observed.vms
    )
    used = {a.source.vmid for a in actions if isinstance(a, CreateVm | ReplaceVm) and a.source}
    examined = {vm.vmid: vm for vm in owned}
    examined.update((vmid, index.by_vmid[vmid]) for vmid in used)
    examined.update((vm.vmid, vm) for name in desired for vm in index.by_name.get(name, ()))
    return Plan(
        lab=spec.name,
        actions=order.order_actions(actions, list(desired)),
        errors=(*draft.errors, *source_errors),
        warnings=tuple(draft.warnings) + order.warn_single_control_plane(draft.actions, spec),
        needs_configs=tuple(draft.needs_configs),
        spec_digest=spec_digest(spec, seed_digests),
        observed_digests=tuple((vmid, fingerprint(vm)) for vmid, vm in sorted(examined.items())),
    )


def fingerprint(vm: ObservedVm) -> str:
    """A digest of a VM's /cluster/resources entry: apply re-observes and compares it."""
    return sha256_json(vm.model_dump(mode="json", exclude={"config"}))


def check_unnamed(spec: LabSpec, guests: list[ObservedVm], draft: _Draft) -> None:
    for vm in guests:
        if vm.name is None and vm.vmid in spec.proxmox.vmids:
            draft.errors.append(
                f"VM {vm.vmid} on {vm.node} has no name yet (it is being created); "
                "plan again in a few seconds"
            )


def plan_vm(want: DesiredVm, index: _Index, seeds: SeedIndex, draft: _Draft) -> None:
    """Decide for one spec VM: create, conflict, or compare with the VM of this lab."""
    same_name = index.by_name.get(want.name, [])
    ours = [vm for vm in same_name if vm.has_tag(lab_tag(want.lab))]
    others = [vm for vm in same_name if not vm.has_tag(lab_tag(want.lab))]
    if others:
        draft.errors.append(not_owned_message(want, others[0]))
        return
    if len(ours) > 1:
        vmids = ", ".join(str(vm.vmid) for vm in ours)
        draft.errors.append(
            f"vm {want.name}: several VMs of lab {want.lab} ({vmids}) have this name"
        )
        return
    taken = index.by_vmid.get(want.vmid) if want.vmid is not None else None
    if taken is not None and taken.name != want.name:
        draft.errors.append(
            f"vm {want.name}: vmid {want.vmid} is already used by "
            f"{taken.name or 'an unnamed VM'} on {taken.node}"
        )
        return
    if not ours:
        draft.actions.append(CreateVm(want.name, want.node, "not found on Proxmox", want))
        return
    compare_vm(placed(want, ours[0]), ours[0], seeds, draft)


def not_owned_message(want: DesiredVm, vm: ObservedVm) -> str:
    owner = [tag for tag in managed_subset(vm.tags) if tag.startswith("lab-")]
    belongs = f"it belongs to {owner[0]}" if owner else "it has no homelab tags"
    return (
        f"vm {want.name}: exists (vmid {vm.vmid} on {vm.node}) but is not owned by lab "
        f"{want.lab} ({belongs}); run `homelab adopt {want.name}` or rename it in the spec"
    )


def placed(want: DesiredVm, vm: ObservedVm) -> DesiredVm:
    """An existing VM without a pinned node stays on the node it is on."""
    return want if want.node_pinned else dataclasses.replace(want, node=vm.node)


def compare_vm(want: DesiredVm, vm: ObservedVm, seeds: SeedIndex, draft: _Draft) -> None:
    """Compare the config when it was read; else decide from /cluster/resources when possible."""
    if vm.config is None:
        mismatches = diff.quick_mismatches(want, vm, seeds)
        if mismatches:
            draft.needs_configs.append(want.name)
        else:
            reason = f"matches the spec (seed {want.seed_volume})"
            draft.actions.append(
                NoOp(want.name, vm.node, with_lock(reason, vm), vm.vmid, want.role)
            )
        return
    outcome = diff.diff_config(want, vm, vm.config, seeds)
    if outcome.warning:
        draft.warnings.append(outcome.warning)
    if outcome.error:
        draft.errors.append(outcome.error)
        return
    action = action_for(want, vm, outcome)
    if vm.lock and not isinstance(action, NoOp):
        draft.errors.append(locked_message(vm, "changed"))
        return
    draft.actions.append(action)


def with_lock(reason: str, vm: ObservedVm) -> str:
    return f"{reason}; locked ({vm.lock})" if vm.lock else reason


def action_for(want: DesiredVm, vm: ObservedVm, outcome: diff.VmDiff) -> Action:
    if outcome.replace_reason is not None:
        return ReplaceVm(want.name, vm.node, outcome.replace_reason, vm.vmid, want)
    if outcome.unchanged:
        reason = f"matches the spec (config checked, seed {want.seed_volume})"
        return NoOp(want.name, vm.node, with_lock(reason, vm), vm.vmid, want.role)
    keys = [change.key for change in outcome.changes] + (["seed ISO"] if outcome.reseed else [])
    config_digest = vm.config.digest if vm.config is not None else ""
    return UpdateVm(
        vm=want.name,
        node=vm.node,
        reason="differs: " + ", ".join(keys),
        vmid=vm.vmid,
        changes=outcome.changes,
        reseed=outcome.reseed,
        desired=want,
        config_digest=config_digest,
    )


def plan_destroy(vm: ObservedVm, draft: _Draft) -> None:
    if vm.name is None:
        return
    if vm.lock:
        draft.errors.append(locked_message(vm, "destroyed"))
        return
    roles = [
        tag[len(ROLE_TAG_PREFIX) :] for tag in managed_subset(vm.tags) if tag.startswith("role-")
    ]
    role = roles[0] if roles else "worker"
    draft.actions.append(DestroyVm(vm.name, vm.node, "not in the spec", vm.vmid, role))


def locked_message(vm: ObservedVm, verb: str) -> str:
    return (
        f"vm {vm.name}: must be {verb} but is locked ({vm.lock}); wait for the task holding it, "
        f"or if the lock is stale clear it on {vm.node} with `qm unlock {vm.vmid}`"
    )


def config_targets(plan: Plan, observed: Observed) -> tuple[tuple[str, int], ...]:
    """(node, vmid) of every VM in ``plan.needs_configs``: the configs to GET, then pass to
    ``Observed.with_configs`` and plan again."""
    wanted = set(plan.needs_configs)
    tag = lab_tag(plan.lab)
    return tuple(
        (vm.node, vm.vmid)
        for vm in observed.vms
        if vm.name in wanted and vm.has_tag(tag) and not vm.template
    )
