"""Whether a saved plan still describes the world: apply refuses a stale plan.

A plan records the digest of the spec and seeds it was made from and a fingerprint of every VM it
examined (its /cluster/resources entry). Re-observing costs one request; any difference means
the plan must be made again. Config-level changes are caught by Proxmox itself: updates send
the config ``digest`` the plan read, and Proxmox refuses them if the config changed since.
"""

from __future__ import annotations

from collections.abc import Mapping

from homelab.core.desired import spec_digest
from homelab.core.observed import Observed
from homelab.core.ownership import lab_vms
from homelab.core.plan.actions import Plan
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
    seen = {vmid for vmid, _ in plan.observed_digests}
    reasons += [
        f"VM {vm.vmid} ({vm.name}) of lab {plan.lab} appeared since the plan was made"
        for vm in lab_vms(plan.lab, observed.vms)
        if vm.vmid not in seen
    ]
    return tuple(reasons)
