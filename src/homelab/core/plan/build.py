"""``plan_lab``: the pure decision of what to do, with ownership rules (ARCHITECTURE decision 3).

Ownership is ``homelab.core.ownership``'s one rule (read its docstring); here it means:
- a VM of the lab (proven by its record) the spec no longer has -> destroy; one with the lab's
  tag whose config was not read yet -> its config is read first (``needs_configs``);
- a spec VM name used by a VM that is not the lab's (no mark, a hand-made tag, another lab's,
  another state store's) -> plan error, and that VM is never touched;
- a state store that never applied the lab while VMs of the lab exist -> the plan stops, with
  nothing planned (a new PKI would replace them all);
- VMs of other labs and unmarked VMs are otherwise ignored;
- a locked VM is never changed: if it needs changes the plan says so as an error;
- a VM just created elsewhere (no name yet in /cluster/resources) inside the lab's VMID range
  stops the plan: deciding without it could create a duplicate.

The plan is final once every VM that may differ had its config read (``needs_configs`` empty).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from homelab.core.backup.jobs import JobAction, jobs_digest, plan_jobs
from homelab.core.backup.storage import plan_storage
from homelab.core.desired import (
    ROLE_TAG_PREFIX,
    DesiredVm,
    desired_vms,
    managed_subset,
    sha256_json,
    spec_digest,
)
from homelab.core.observed import Observed, ObservedVm, SeedIndex
from homelab.core.ownership import (
    NO_STEWARD,
    Claimant,
    Facts,
    Standing,
    Steward,
    Verb,
    lab_vms,
    may,
    standing_of,
    store_problem,
    why_not,
)
from homelab.core.plan import capacity, diff, disruption, order, placement, sources
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


@dataclasses.dataclass
class Draft:
    actions: list[Action] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    needs_configs: list[str] = dataclasses.field(default_factory=list)


class Index:
    """The observed guests by name and by VMID, with their standing (a 1,000-VM plan stays
    linear)."""

    def __init__(self, who: Claimant, steward: Steward, observed: Observed) -> None:
        self.who, self.steward = who, steward
        self.guests = [vm for vm in observed.vms if not vm.template]
        self.by_name: dict[str, list[ObservedVm]] = {}
        self.by_vmid = {vm.vmid: vm for vm in observed.vms}
        self.standing = {vm.vmid: standing_of(who, vm) for vm in observed.vms}
        for vm in self.guests:
            if vm.name is not None:
                self.by_name.setdefault(vm.name, []).append(vm)

    def may(self, vm: ObservedVm, verb: Verb) -> bool:
        return may(
            self.standing[vm.vmid],
            verb,
            in_spec=vm.name in self.who.names,
            flags=self.steward.flags,
        )

    def unproven(self, vm: ObservedVm) -> bool:
        return self.standing[vm.vmid] is Standing.UNPROVEN

    def why_not(self, vm: ObservedVm) -> str:
        return why_not(self.who, Facts.of(vm), self.standing[vm.vmid])


def claimant(spec: LabSpec, steward: Steward) -> Claimant:
    return Claimant(spec.name, frozenset(spec.vms), spec.proxmox.vmids, steward.store)


def plan_lab(
    spec: LabSpec,
    seed_digests: Mapping[str, str],
    observed: Observed,
    steward: Steward = NO_STEWARD,
) -> Plan:
    """Desired (spec + seed digests) vs observed -> an ordered Plan. Pure."""
    desired = desired_vms(spec, seed_digests, store=steward.store)
    index = Index(claimant(spec, steward), steward, observed)
    seeds = observed.seed_index()
    draft = Draft()
    check_unnamed(index, draft)
    if not steward.applied:
        refusal = check_new_store(spec.name, index)
        if refusal is not None:
            return refusal
    for want in desired.values():
        plan_vm(want, index, seeds, draft)
    retired = [vm for vm in index.guests if vm.name is not None and vm.name not in desired]
    for vm in retired:
        plan_retired(vm, index, draft)
    actions, source_errors = sources.attach_sources(
        draft.actions, str(spec.proxmox.template), observed.vms
    )
    running = {vm.vmid: vm.status == "running" for vm in observed.vms}
    actions, rule_errors, rule_warnings = disruption.apply_day2_rule(
        actions, running, steward.flags
    )
    fit_errors, fit_warnings = check_fit(spec, desired, actions, observed)
    used = {a.source.vmid for a in actions if isinstance(a, CreateVm | ReplaceVm) and a.source}
    examined = {vm.vmid: vm for vm in lab_vms(spec.name, index.guests)}
    examined.update((vmid, index.by_vmid[vmid]) for vmid in used)
    examined.update((vm.vmid, vm) for name in desired for vm in index.by_name.get(name, ()))
    jobs, job_errors = _plan_jobs(spec, observed, actions, index)
    storage, storage_errors = (
        plan_storage(spec, observed.storages) if observed.storages is not None else (None, [])
    )
    return Plan(
        lab=spec.name,
        actions=order.order_actions(actions, list(desired)),
        errors=(
            *draft.errors,
            *source_errors,
            *rule_errors,
            *fit_errors,
            *storage_errors,
            *job_errors,
        ),
        warnings=(*draft.warnings, *fit_warnings, *rule_warnings),
        needs_configs=tuple(draft.needs_configs),
        spec_digest=spec_digest(spec, seed_digests),
        observed_digests=tuple((vmid, fingerprint(vm)) for vmid, vm in sorted(examined.items())),
        jobs=tuple(jobs),
        storage=storage,
        jobs_digest=jobs_digest(spec.name, observed.backup_jobs)
        if observed.backup_jobs is not None
        else "",
    )


def _plan_jobs(
    spec: LabSpec, observed: Observed, actions: list[Action], index: Index
) -> tuple[list[JobAction], list[str]]:
    """The backup jobs' actions, when the jobs were observed (see ``homelab.core.backup.jobs``)."""
    if observed.backup_jobs is None:
        return [], []
    new = [a.vm for a in actions if isinstance(a, CreateVm | ReplaceVm)]
    gone = {a.vm for a in actions if isinstance(a, DestroyVm)}
    current = {
        vm.name: vm.vmid
        for vm in lab_vms(spec.name, index.guests)
        if vm.name is not None and vm.name not in gone
    }
    return plan_jobs(spec, observed.backup_jobs, current, new)


def check_fit(
    spec: LabSpec, desired: Mapping[str, DesiredVm], actions: list[Action], observed: Observed
) -> tuple[list[str], list[str]]:
    """Errors and warnings of the nodes the VMs go to: a VM with no usable template on its
    node or a template with a conflicting cloud-init drive (``placement``), a VM bigger than its
    node or storage, and overcommitment (``capacity``). What was not observed is not judged."""
    errors = placement.planned_problems(str(spec.proxmox.template), actions, observed)
    demands = capacity.demands_from_plan(actions, desired)
    warnings: list[str] = []
    errors += unseen_targets(demands, observed)
    for issue in capacity.check_capacity(demands, observed.capacities):
        (errors if issue.is_error else warnings).append(issue.message)
    return errors, warnings


def unseen_targets(demands: list[capacity.VmDemand], observed: Observed) -> list[str]:
    """A node or storage a new VM goes to that ``/cluster/resources`` did not show: PVE lists a
    node's CPUs and memory only to a token with ``Sys.Audit`` on it, and a storage only with
    ``Datastore.Audit`` (pve-manager ``Cluster.pm``); a storage that does not exist on the node
    is not listed either. Placing a VM where nothing can be checked would fail later, half-made.
    Only judged when the observation listed capacities at all (a pure test may give none)."""
    if not observed.capacities:
        return []
    problems: list[str] = []
    for demand in demands:
        if not demand.new:
            continue
        node = observed.capacities.get(demand.node)
        if node is None:
            problems.append(f"vm {demand.name}: node {demand.node} is not online in the cluster")
        elif node.cpus is None or node.memory_bytes is None:
            problems.append(
                f"vm {demand.name}: node {demand.node} shows no CPUs or memory: the token lacks "
                f"Sys.Audit on /nodes/{demand.node} (see the README's role)"
            )
        elif demand.storage not in node.storages:
            problems.append(
                f"vm {demand.name}: storage {demand.storage!r} is not listed on node "
                f"{demand.node}: it does not exist or is disabled there, or the token lacks "
                f"Datastore.Audit on /storage/{demand.storage} (see the README's role)"
            )
    return list(dict.fromkeys(problems))


def check_new_store(lab: str, index: Index) -> Plan | None:
    """A store that never applied the lab: stop if VMs carrying the lab's record exist (their
    configs read first), as planning with this store's new PKI would replace them."""
    marked = lab_vms(lab, index.guests)
    unread = [vm.name or "" for vm in marked if index.unproven(vm)]
    if unread:
        return Plan(lab=lab, actions=(), needs_configs=tuple(unread))
    recorded = (Standing.OURS, Standing.RETIRED, Standing.OTHER_STORE)
    count = sum(1 for vm in marked if index.standing[vm.vmid] in recorded)
    problem = store_problem(lab, False, count)
    return None if problem is None else Plan(lab=lab, actions=(), errors=(problem,))


def fingerprint(vm: ObservedVm) -> str:
    """A digest of a VM's /cluster/resources entry: apply re-observes and compares it."""
    return sha256_json(vm.model_dump(mode="json", exclude={"config"}))


def check_unnamed(index: Index, draft: Draft) -> None:
    for vm in index.guests:
        if index.standing[vm.vmid] is Standing.UNNAMED:
            draft.errors.append(
                f"VM {vm.vmid} on {vm.node} has no name yet (it is being created); "
                "plan again in a few seconds"
            )


def plan_vm(want: DesiredVm, index: Index, seeds: SeedIndex, draft: Draft) -> None:
    """Decide for one spec VM: create, conflict, or compare with the VM of this lab."""
    same_name = index.by_name.get(want.name, [])
    ours = [vm for vm in same_name if index.unproven(vm) or index.may(vm, Verb.APPLY)]
    others = [vm for vm in same_name if vm not in ours]
    if others:
        draft.errors.append(not_owned_message(want, others[0], index.why_not(others[0])))
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


def not_owned_message(want: DesiredVm, vm: ObservedVm, why: str) -> str:
    return (
        f"vm {want.name}: exists (vmid {vm.vmid} on {vm.node}) but is not owned by lab "
        f"{want.lab}: {why}"
    )


def plan_retired(vm: ObservedVm, index: Index, draft: Draft) -> None:
    """A VM whose name the spec does not have: destroyed if it is proven the lab's."""
    standing = index.standing[vm.vmid]
    if index.may(vm, Verb.APPLY):
        plan_destroy(vm, draft, "not in the spec")
    elif standing is Standing.UNPROVEN:
        draft.needs_configs.append(vm.name or "")
    elif standing is Standing.OTHER_STORE:
        draft.errors.append(f"vm {vm.name}: not touched (vmid {vm.vmid}): {index.why_not(vm)}")
    elif standing is Standing.MARKED:
        draft.warnings.append(f"vm {vm.name}: left alone (vmid {vm.vmid}): {index.why_not(vm)}")


def placed(want: DesiredVm, vm: ObservedVm) -> DesiredVm:
    """An existing VM without a pinned node stays on the node it is on."""
    return want if want.node_pinned else dataclasses.replace(want, node=vm.node)


def compare_vm(want: DesiredVm, vm: ObservedVm, seeds: SeedIndex, draft: Draft) -> None:
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
    record = vm.config.record
    if record is not None and record.adopted:
        want = want.adopt()  # it stays adopted (see core.plan.adopt)
    outcome = diff.diff_config(want, vm, vm.config, seeds)
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


def plan_destroy(vm: ObservedVm, draft: Draft, reason: str, role: str | None = None) -> None:
    if vm.name is None:
        return
    if vm.lock:
        draft.errors.append(locked_message(vm, "destroyed"))
        return
    draft.actions.append(DestroyVm(vm.name, vm.node, reason, vm.vmid, role or role_of(vm)))


def role_of(vm: ObservedVm) -> str:
    """The role its ``role-`` tag names; a VM without one is destroyed with the workers (before
    the control planes), which is the safe order for a VM whose role is unknown."""
    tags = vm.config.tags if vm.config is not None else vm.tags
    roles = [t[len(ROLE_TAG_PREFIX) :] for t in managed_subset(tags) if t.startswith("role-")]
    return roles[0] if roles else "worker"


def locked_message(vm: ObservedVm, verb: str) -> str:
    return (
        f"vm {vm.name}: must be {verb} but is locked ({vm.lock}); wait for the task holding it, "
        f"or if the lock is stale clear it on {vm.node} with `qm unlock {vm.vmid}`"
    )


def config_targets(plan: Plan, observed: Observed) -> tuple[tuple[str, int], ...]:
    """(node, vmid) of every VM in ``plan.needs_configs`` (never another lab's VM, never a
    template) and of each template the plan clones from whose config was not read (``placement``
    judges its volumes and cloud-init drive): the configs to GET, then pass to
    ``Observed.with_configs`` and plan again. A no-op plan clones nothing and reads nothing."""
    wanted = set(plan.needs_configs)
    unread = {vm.vmid for vm in observed.vms if vm.config is None}
    guests = [(vm.node, vm.vmid) for vm in observed.vms if vm.name in wanted and not vm.template]
    sources = {
        (a.source.node, a.source.vmid)
        for a in plan.actions
        if isinstance(a, CreateVm | ReplaceVm) and a.source is not None and a.source.vmid in unread
    }
    return (*guests, *sorted(sources))
