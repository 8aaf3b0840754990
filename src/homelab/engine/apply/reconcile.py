"""Resolving the journal a crashed or killed apply left behind, before planning anew.

Run under the lab's lock at the start of apply (and destroy). Each intent still present names a
step that started but whose end was never recorded; it is resolved against what Proxmox shows:

- ``create`` still in its clone phase: the VM (once its clone task ended) is destroyed if the
  journal proves it is ours (its VMID holds a VM with the journaled name and our lab's record or
  tag); the next plan creates it again. Anything else at that VMID is never touched.
- ``create`` past configuration, and ``update``: the VM carries our tags, so the next plan sees it
  and finishes it; the intent is simply dropped.
- ``destroy``: finished (stop, destroy, confirm gone, seed ISOs deleted).
- ``seed`` (an upload not yet attached): the ISO is kept if its VM exists (the plan attaches it),
  else deleted, so no seed ISO is left orphaned.
"""

from __future__ import annotations

from typing import Any

from homelab.core.desired import lab_tag
from homelab.engine.apply import seeds, steps
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import VmRef

__all__ = ["reconcile_journal"]


def reconcile_journal(rt: Runtime) -> list[str]:
    """Resolve every intent of the lab; returns one note per intent resolved."""
    intents = rt.journal.all()
    notes = [_resolve_vm(rt, key, data) for key, data in intents.items() if key.startswith("vm/")]
    seeds = {key: data for key, data in intents.items() if key.startswith("seed/")}
    if seeds:
        names = _lab_vm_names(rt)
        notes += [_resolve_seed(rt, key, data, names) for key, data in seeds.items()]
    return notes


def _resolve_vm(rt: Runtime, key: str, data: dict[str, Any]) -> str:
    ref = VmRef(str(data["vm"]), str(data["node"]), int(data["vmid"]))
    op, phase = data.get("op"), data.get("phase")
    if not steps.vm_exists(rt, ref):
        if op == "destroy":  # the VM went; its seed ISOs may not have
            seeds.remove_seeds(rt, ref.node, rt.iso_storage, rt.lab, ref.name)
        rt.journal.remove(key)
        return f"{ref.name}: interrupted {op} left nothing at VMID {ref.vmid}"
    steps.settle_clone(rt, ref)
    raw, config = steps.read_config(rt, ref)
    problem = steps.identity_problem(rt.lab, ref, raw, config)
    if problem:
        rt.journal.remove(key)
        return f"{ref.name}: VMID {ref.vmid} {problem}; left alone"
    if op == "destroy" or (op == "create" and phase == "clone"):
        steps.destroy_vm(rt, ref)
        if op == "destroy":
            seeds.remove_seeds(rt, ref.node, rt.iso_storage, rt.lab, ref.name)
        rt.journal.remove(key)
        return f"{ref.name}: half-made VM {ref.vmid} of an interrupted {op} destroyed"
    rt.journal.remove(key)
    return f"{ref.name}: interrupted {op} of VM {ref.vmid} will be finished by the plan"


def _lab_vm_names(rt: Runtime) -> set[str]:
    tag = lab_tag(rt.lab)
    return {vm.name for vm in rt.client.cluster_vms() if vm.has_tag(tag) and vm.name}


def _resolve_seed(rt: Runtime, key: str, data: dict[str, Any], names: set[str]) -> str:
    vm, node, volid = str(data["vm"]), str(data["node"]), str(data["volid"])
    rt.journal.remove(key)
    if vm in names:
        return f"{vm}: seed ISO {volid} kept for the plan to attach"
    if not seeds.delete_volume(rt, node, str(data["storage"]), volid):
        return f"{vm}: interrupted upload of {volid} left nothing"
    return f"{vm}: orphaned seed ISO {volid} deleted"
