"""Resolving the journal a crashed or killed apply left behind, before planning anew.

Run under the lab's lock at the start of apply (and destroy). Each intent still present names a
step that started but whose end was never recorded; it is resolved against what Proxmox shows:

- ``create`` still in its clone phase: the VM (once its clone task ended) is destroyed if the
  journal proves it is ours (its VMID holds a VM with the journaled name and our lab's record or
  tag); the next plan creates it again. Anything else at that VMID is never touched.
- ``create`` past configuration, and ``update``: the VM carries our tags, so the next plan sees it
  and finishes it; the intent is dropped once what the killed run still had in flight on the VM
  is over (no task of it running, its config stable: ``steps.settle_vm``), so the plan is not
  made over a config about to change. An ``update`` that grew a running VM's disk also grows
  its root filesystem in the guest (the plan cannot see that it is left to do).
- ``destroy``: finished (stop, destroy, confirm gone, seed ISOs deleted).
- ``drain``: the node may be left cordoned: it is uncordoned (the plan drains it again if the
  change that needed the drain is still to do).
- ``seed`` (an upload not yet attached): the ISO is kept if its VM exists (the plan attaches it),
  else deleted, so no seed ISO is left orphaned.

Whose VM is at the journaled VMID is ``homelab.core.ownership``'s rule (``steps.identity_problem``).
An intent that cannot be resolved (Proxmox rejects its VMID, its node is down) stops the run with
``JournalStuck``, which names the entry and the command that drops it once the user checked
Proxmox by hand (``homelab journal drop SPEC KEY``): nothing clears it silently.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from homelab.core.ownership import lab_vms
from homelab.engine.apply import seeds, steps
from homelab.engine.apply.drains import DRAIN_PREFIX, resolve_drain
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import VmRef
from homelab.errors import LabError

__all__ = ["JournalStuck", "describe_intent", "reconcile_journal"]


class JournalStuck(LabError):
    """An intent of the journal could not be resolved: every apply and destroy stops on it."""


def describe_intent(key: str, data: dict[str, Any]) -> str:
    """One line for an intent: ``vm/x: create (phase clone) of VMID 203 on pve``."""
    what = str(data.get("op", "?"))
    if data.get("phase"):
        what += f" (phase {data['phase']})"
    if "vmid" in data:
        what += f" of VMID {data['vmid']}"
    if "volid" in data:
        what += f" of {data['volid']}"
    return f"{key}: {what} on {data.get('node', '?')}"


def reconcile_journal(rt: Runtime) -> list[str]:
    """Resolve every intent of the lab; returns one note per intent resolved.

    JournalStuck if an intent could not be resolved (the others are resolved first)."""
    intents = rt.journal.all()
    notes: list[str] = []
    stuck: list[str] = []

    def attempt(key: str, resolve: Callable[[], str]) -> None:
        try:
            notes.append(resolve())
        except (LabError, KeyError, TypeError, ValueError) as exc:
            text = exc.message.splitlines()[0] if isinstance(exc, LabError) else repr(exc)
            stuck.append(f"{describe_intent(key, intents[key])}: {text}")

    for key, data in intents.items():
        if key.startswith("vm/"):
            attempt(key, partial(_resolve_vm, rt, key, data))
        elif key.startswith(DRAIN_PREFIX):
            attempt(key, partial(resolve_drain, rt, key, data))
    seed_intents = {key: data for key, data in intents.items() if key.startswith("seed/")}
    if seed_intents:
        names = _lab_vm_names(rt)
        for key, data in seed_intents.items():
            attempt(key, partial(_resolve_seed, rt, key, data, names))
    if stuck:
        first = stuck[0].partition(":")[0]
        raise JournalStuck(
            f"{len(stuck)} journal entr{'y' if len(stuck) == 1 else 'ies'} of an interrupted run "
            f"cannot be resolved: {'; '.join(stuck)}",
            hint=(
                "if the cause passes (a node back up), run the command again; if the entry can "
                f"never complete, check Proxmox by hand, then `homelab journal drop SPEC {first}` "
                "(`homelab journal show SPEC` lists them all)"
            ),
        )
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
    problem = steps.identity_problem(rt.lab, ref, raw, config, rt.steward)
    if problem:
        rt.journal.remove(key)
        return f"{ref.name}: VMID {ref.vmid} {problem}; left alone"
    if op == "destroy" or (op == "create" and phase == "clone"):
        steps.destroy_vm(rt, ref)
        if op == "destroy":
            seeds.remove_seeds(rt, ref.node, rt.iso_storage, rt.lab, ref.name)
        rt.journal.remove(key)
        return f"{ref.name}: half-made VM {ref.vmid} of an interrupted {op} destroyed"
    steps.settle_vm(rt, ref)  # what the interrupted run still had in flight lands first
    grown = ""
    if data.get(steps.GROW_ROOT) and rt.client.vm_status(ref.node, ref.vmid).running:
        grown = "; " + _finish_grow(rt, ref)
    rt.journal.remove(key)
    return f"{ref.name}: interrupted {op} of VM {ref.vmid} will be finished by the plan{grown}"


def _finish_grow(rt: Runtime, ref: VmRef) -> str:
    """The root filesystem grow an interrupted update left undone (its disk grew: the next
    plan sees nothing to change, so it is done here or never)."""
    try:
        return "root filesystem: " + steps.grow_root(rt, ref)
    except LabError as exc:
        return (
            f"its root filesystem did not grow ({exc.message.splitlines()[0]}); cloud-init "
            "grows it at the next boot"
        )


def _lab_vm_names(rt: Runtime) -> set[str]:
    return {vm.name for vm in lab_vms(rt.lab, rt.client.cluster_vms()) if vm.name}


def _resolve_seed(rt: Runtime, key: str, data: dict[str, Any], names: set[str]) -> str:
    vm, node, volid = str(data["vm"]), str(data["node"]), str(data["volid"])
    rt.journal.remove(key)
    if vm in names:
        return f"{vm}: seed ISO {volid} kept for the plan to attach"
    if not seeds.delete_volume(rt, node, str(data["storage"]), volid):
        return f"{vm}: interrupted upload of {volid} left nothing"
    return f"{vm}: orphaned seed ISO {volid} deleted"
