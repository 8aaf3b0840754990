"""The plan of ``homelab adopt``: take over existing VMs that have the spec's names. Pure.

Which VMs may be adopted is ``ownership``'s rule: a VM with no homelab mark (made by Terraform or
by hand) or tagged by hand without a record, under a spec VM's name. Another lab's VM needs
``--from-other-lab``, another state store's ``--take-over``; a VM already the lab's needs nothing.
Adopting writes the lab's tags (the user's own tags kept) and the description record, marked
``adopted``, under the config digest read for the plan; the next ``apply`` then manages the VM,
except that its first boot was not homelab's: its seed is never replaced (a new instance-id
would run cloud-init again over a live node), and it is restarted only with
``--restart-adopted`` (``core.plan.disruption``).
"""

from __future__ import annotations

from collections.abc import Mapping

from homelab.core.desired import DesiredVm, desired_vms, spec_digest
from homelab.core.observed import Observed, ObservedVm
from homelab.core.ownership import Standing, Steward, Verb
from homelab.core.plan.actions import AdoptVm, Plan
from homelab.core.plan.build import Draft, Index, claimant, fingerprint, not_owned_message
from homelab.core.plan.diff import merged_tags
from homelab.core.spec.models import LabSpec

__all__ = ["plan_adopt"]

_REASONS = {
    Standing.CLASH: "no homelab mark",
    Standing.MARKED: "tagged by hand, no homelab record",
    Standing.OTHER_LAB: "taken from another lab (--from-other-lab)",
    Standing.OTHER_STORE: "taken over from another state store (--take-over)",
}


def plan_adopt(
    spec: LabSpec, seed_digests: Mapping[str, str], observed: Observed, steward: Steward
) -> Plan:
    """One ``AdoptVm`` per spec VM that exists and may be adopted (see the module docstring)."""
    desired = desired_vms(spec, seed_digests, store=steward.store)
    index = Index(claimant(spec, steward), steward, observed)
    draft = Draft()
    examined: list[ObservedVm] = []
    for name, want in desired.items():
        found = index.by_name.get(name, [])
        examined += found
        if len(found) > 1:
            vmids = ", ".join(str(vm.vmid) for vm in found)
            draft.errors.append(f"vm {name}: several VMs have this name ({vmids}); rename one")
        elif found:
            adopt_one(want, found[0], index, draft)
    return Plan(
        lab=spec.name,
        actions=tuple(draft.actions),
        errors=tuple(draft.errors),
        warnings=tuple(draft.warnings),
        needs_configs=tuple(draft.needs_configs),
        spec_digest=spec_digest(spec, seed_digests),
        observed_digests=tuple(sorted((vm.vmid, fingerprint(vm)) for vm in examined)),
    )


def adopt_one(want: DesiredVm, vm: ObservedVm, index: Index, draft: Draft) -> None:
    standing = index.standing[vm.vmid]
    if standing is Standing.OURS:
        return
    allowed = index.may(vm, Verb.ADOPT)
    if standing is Standing.UNPROVEN or (allowed and vm.config is None):
        draft.needs_configs.append(want.name)
        return
    if not allowed or vm.config is None:
        draft.errors.append(not_owned_message(want, vm, index.why_not(vm)))
        return
    if vm.lock:
        draft.errors.append(f"vm {want.name}: is locked ({vm.lock}); adopt it once it is not")
        return
    config = vm.config
    draft.actions.append(
        AdoptVm(
            vm=want.name,
            node=vm.node,
            reason=_REASONS[standing],
            vmid=vm.vmid,
            desired=want.adopt(),
            config_digest=config.digest,
            tags_before=";".join(config.tags),
            tags_after=";".join(merged_tags(want, config)),
        )
    )
