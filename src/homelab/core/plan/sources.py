"""Which observed template each new VM is cloned from, and what that rules out.

``proxmox.template`` is a VMID or a name. Templates on local storage can only be cloned on
their own node, so people keep one copy per node under the same name: the copy on the VM's
node wins, else the lowest VMID. A clone starts with the template's disk, which can only grow,
so a spec disk smaller than the template's is a plan error, not a failed apply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from homelab.core.observed import ObservedVm
from homelab.core.plan.actions import Action, CreateVm, ReplaceVm, TemplateSource


def find_templates(template: str, vms: Sequence[ObservedVm]) -> list[ObservedVm]:
    """Observed templates matching the spec's ``template`` (a VMID or a name), by VMID."""
    found = [
        vm
        for vm in vms
        if vm.template
        and (str(vm.vmid) == template or (vm.name is not None and vm.name == template))
    ]
    return sorted(found, key=lambda vm: vm.vmid)


def pick_template(templates: Sequence[ObservedVm], node: str) -> ObservedVm | None:
    local = [vm for vm in templates if vm.node == node]
    candidates = local or list(templates)
    return candidates[0] if candidates else None


def attach_sources(
    actions: Sequence[Action], template: str, vms: Sequence[ObservedVm]
) -> tuple[list[Action], list[str]]:
    """Actions with their template source filled in, and the errors found doing so."""
    templates = find_templates(template, vms)
    result: list[Action] = []
    errors: list[str] = []
    for action in actions:
        if not isinstance(action, CreateVm | ReplaceVm):
            result.append(action)
            continue
        chosen = pick_template(templates, action.desired.node)
        if chosen is None:
            result.append(action)
            continue
        source = TemplateSource(chosen.vmid, chosen.node)
        result.append(dataclasses.replace(action, source=source))
        if chosen.disk_gib is not None and action.desired.disk_gib < chosen.disk_gib:
            errors.append(
                f"vm {action.vm}: disk {action.desired.disk_gib}GiB is smaller than the "
                f"{chosen.disk_gib}GiB disk of template {template} (vmid {chosen.vmid}); "
                "clones can only grow"
            )
    if not templates and any(isinstance(a, CreateVm | ReplaceVm) for a in actions):
        errors.append(
            f"template {template} not found: no VM template with that name or VMID is visible "
            "on Proxmox (check proxmox.template and the token's VM.Audit privilege)"
        )
    return result, errors
