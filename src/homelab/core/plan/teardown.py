"""The plan of ``homelab destroy``: every VM of the lab, and nothing else. Pure.

Which VMs are the lab's is ``ownership``'s rule, the same as ``plan``'s: a VM proven the lab's by
its record is destroyed whether or not the spec still names it (``plan`` would destroy the ones it
does not name anyway); one with the lab's tag whose config was not read yet is read first
(``needs_configs``); a VM tagged by hand (no record), another lab's or another state store's VM
is left alone (the last one with ``--take-over`` destroyed). A locked VM, or an unnamed one in the
VMID range (being created), stops the plan. Workers are destroyed before control planes; the
lab's backup jobs are deleted with them (its backups are kept).
"""

from __future__ import annotations

from collections.abc import Mapping

from homelab.core.backup.jobs import retire_jobs
from homelab.core.desired import spec_digest
from homelab.core.observed import Observed
from homelab.core.ownership import Standing, Steward, Verb
from homelab.core.plan.actions import DestroyVm, Plan
from homelab.core.plan.build import Draft, Index, check_unnamed, claimant, fingerprint, plan_destroy
from homelab.core.spec.models import LabSpec

__all__ = ["plan_teardown"]

REASON = "homelab destroy"


def plan_teardown(
    spec: LabSpec, seed_digests: Mapping[str, str], observed: Observed, steward: Steward
) -> Plan:
    """Destroy every VM of the lab (see the module docstring)."""
    index = Index(claimant(spec, steward), steward, observed)
    draft = Draft()
    check_unnamed(index, draft)
    examined = []
    for vm in index.guests:
        standing = index.standing[vm.vmid]
        if index.may(vm, Verb.DESTROY):
            role = spec.vms[vm.name].role if vm.name in spec.vms else None
            plan_destroy(vm, draft, REASON, role)
            examined.append(vm)
        elif standing is Standing.UNPROVEN:
            draft.needs_configs.append(vm.name or "")
        elif standing is Standing.OTHER_STORE:
            draft.errors.append(f"vm {vm.name}: not touched (vmid {vm.vmid}): {index.why_not(vm)}")
        elif standing is Standing.MARKED:
            draft.warnings.append(f"vm {vm.name}: left alone (vmid {vm.vmid}): {index.why_not(vm)}")
    destroys = [a for a in draft.actions if isinstance(a, DestroyVm)]
    ordered = sorted(destroys, key=lambda a: (a.role == "control-plane", a.vm))
    return Plan(
        lab=spec.name,
        actions=tuple(ordered),
        errors=tuple(draft.errors),
        warnings=tuple(draft.warnings),
        needs_configs=tuple(draft.needs_configs),
        spec_digest=spec_digest(spec, seed_digests),
        observed_digests=tuple(sorted((vm.vmid, fingerprint(vm)) for vm in examined)),
        jobs=tuple(retire_jobs(spec.name, observed.backup_jobs or (), REASON)),
    )
