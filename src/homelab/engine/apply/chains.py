"""The per-action sequences of steps: create, update, replace and destroy one VM.

A chain reports every phase as a progress event, keeps its journal entry current, and returns a
``VmOutcome`` instead of raising, so one failed VM never hides what happened to the others. A
create that fails after its clone existed is rolled back (the half-made VM destroyed, its seed
ISO deleted); if even that fails, the journal entry stays for the next run to resolve.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from homelab.core.desired import DesiredVm
from homelab.core.plan.actions import (
    Action,
    AdoptVm,
    CreateVm,
    DestroyVm,
    EtcdPeer,
    ReplaceVm,
    UpdateVm,
    kind_of,
)
from homelab.engine.apply import drains, hotplug, seeds, steps
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import Template, VmRef
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.etcd import EtcdHost
from homelab.engine.proxmox.errors import TaskFailed
from homelab.errors import LabError

__all__ = ["Gate", "VmOutcome", "run_action"]

T = TypeVar("T")


@dataclass
class VmOutcome:
    """What happened to one VM."""

    vm: str
    kind: str
    vmid: int | None = None
    node: str | None = None
    ok: bool = True
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


class Gate:
    """Workers start only once the plan's control planes started (or gave up)."""

    def __init__(self, control_planes: set[str]) -> None:
        self._left = set(control_planes)
        self._cond = threading.Condition()

    def passed(self, vm: str) -> None:
        with self._cond:
            self._left.discard(vm)
            self._cond.notify_all()

    def wait(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._left)


def run_action(
    rt: Runtime, action: Action, templates: dict[str, Template], gate: Gate | None
) -> VmOutcome:
    """Run one action's chain; never raises for a LabError (it is in the outcome)."""
    outcome = VmOutcome(vm=action.vm, kind=kind_of(action), node=action.node)
    is_cp = action.role == "control-plane"
    try:
        if isinstance(action, CreateVm):
            create_chain(rt, action.desired, templates[action.vm], outcome, gate, is_cp)
        elif isinstance(action, UpdateVm):
            if action.drain:
                # past the gate first: a worker holding the drain slot must never wait for a
                # control plane that waits for the slot
                if gate is not None and not is_cp:
                    gate.wait()
                with drains.drained(rt, action.vm, action.node, gone=False, control_plane=is_cp):
                    update_chain(rt, action, outcome, None, is_cp)
            else:
                update_chain(rt, action, outcome, gate, is_cp)
        elif isinstance(action, ReplaceVm):
            ref = VmRef(action.vm, action.node, action.vmid)
            with _maybe_drained(rt, action.vm, action.node, action.drain, is_cp):
                phase(rt, action.vm, "destroy", lambda: destroy_chain(rt, ref, action.desired.lab))
            create_chain(rt, action.desired, templates[action.vm], outcome, gate, is_cp)
        elif isinstance(action, DestroyVm):
            ref = VmRef(action.vm, action.node, action.vmid)
            outcome.vmid = action.vmid
            with _maybe_drained(rt, action.vm, action.node, action.drain, is_cp):
                if (peer := action.etcd_peer) is not None:
                    phase(rt, action.vm, "etcd", lambda: leave_etcd(rt, action.vm, peer))
                phase(rt, action.vm, "destroy", lambda: destroy_chain(rt, ref, rt.lab))
        elif isinstance(action, AdoptVm):
            outcome.vmid = action.vmid
            phase(rt, action.vm, "configure", lambda: adopt_chain(rt, action))
    except LabError as exc:
        outcome.ok = False
        outcome.error = short_error(exc)
    finally:
        if gate is not None:
            gate.passed(action.vm)
    return outcome


def _maybe_drained(
    rt: Runtime, vm: str, node: str, drain: bool, control_plane: bool
) -> contextlib.AbstractContextManager[None]:
    """Drain the VM's node around a step that makes the VM go away, if the plan says so."""
    if not drain:
        return contextlib.nullcontext()
    return drains.drained(rt, vm, node, gone=True, control_plane=control_plane)


def short_error(exc: LabError) -> str:
    """One line: a failed task's own error text (no UPID), else the message's first line."""
    if isinstance(exc, TaskFailed):
        return f"Proxmox task failed: {exc.exitstatus}"
    return exc.message.splitlines()[0]


def phase(rt: Runtime, vm: str, name: str, work: Callable[[], T]) -> T:
    """Run one phase with its progress events."""
    rt.emit(vm, name, "running")
    try:
        result = work()
    except LabError as exc:
        rt.emit(vm, name, "failed", short_error(exc))
        raise
    rt.emit(vm, name, "done")
    return result


def create_chain(
    rt: Runtime,
    desired: DesiredVm,
    template: Template,
    outcome: VmOutcome,
    gate: Gate | None,
    is_cp: bool,
) -> None:
    ref = phase(rt, desired.name, "clone", lambda: steps.clone_vm(rt, desired, template))
    outcome.vmid, outcome.node = ref.vmid, ref.node
    try:
        phase(rt, ref.name, "configure", lambda: steps.configure_vm(rt, ref, desired, new=True))
        rt.journal.put(ref.key, {**journal_entry(ref, "create"), "phase": "configured"})
        phase(rt, ref.name, "seed", lambda: seed(rt, ref, desired, new=True))
        phase(rt, ref.name, "resize", lambda: steps.resize_disk(rt, ref, desired))
        if gate is not None and not is_cp:
            gate.wait()
        phase(rt, ref.name, "start", lambda: steps.start_vm(rt, ref))
    except LabError:
        rollback(rt, ref, desired)
        raise
    if gate is not None:
        gate.passed(ref.name)
    rt.journal.remove(ref.key)
    await_agent(rt, ref, outcome)


def journal_entry(ref: VmRef, op: str) -> dict[str, object]:
    return {"op": op, "vm": ref.name, "node": ref.node, "vmid": ref.vmid}


def seed(rt: Runtime, ref: VmRef, desired: DesiredVm, *, new: bool = False) -> None:
    """Upload and attach the VM's seed; an existing VM whose CD-ROM holds a secret-free twin
    (it joined, and ``up`` scrubbed its seed) gets the new seed's twin instead."""
    clean = not new and seeds.holds_twin(rt, ref)
    seeds.upload_seed(rt, ref, desired, clean=clean)
    seeds.attach_seed(rt, ref, desired, clean=clean)


def rollback(rt: Runtime, ref: VmRef, desired: DesiredVm) -> None:
    """Destroy a VM this run created but could not finish, and its seed ISO."""
    with contextlib.suppress(LabError):
        steps.destroy_vm(rt, ref)
        seeds.remove_seeds(rt, ref.node, desired.iso_storage, desired.lab, ref.name)
        rt.journal.remove(seeds.seed_key(ref.node, desired.seed_volid))
        rt.journal.remove(ref.key)
        rt.emit(ref.name, "destroy", "done", "rolled back")


def await_agent(rt: Runtime, ref: VmRef, outcome: VmOutcome) -> None:
    if not rt.limits.wait_agent:
        return
    rt.emit(ref.name, "agent", "running")
    if steps.wait_agent(rt, ref):
        rt.emit(ref.name, "agent", "done")
        return
    text = f"guest agent not answering after {rt.limits.agent_timeout:g} s"
    outcome.warnings.append(text)
    rt.emit(ref.name, "agent", "warning", text)


def update_chain(
    rt: Runtime, action: UpdateVm, outcome: VmOutcome, gate: Gate | None, is_cp: bool
) -> None:
    desired = action.desired
    ref = VmRef(action.vm, action.node, action.vmid)
    outcome.vmid = ref.vmid
    grows = any(change.key.startswith("disk") for change in action.changes)
    # a disk grow is journaled until the guest's filesystem grew too (reconcile finishes it)
    intent = journal_entry(ref, "update")
    rt.journal.put(ref.key, {**intent, steps.GROW_ROOT: True} if grows else intent)
    phase(rt, ref.name, "configure", lambda: hotplug.configure(rt, ref, action))
    if grows:
        phase(rt, ref.name, "resize", lambda: steps.resize_disk(rt, ref, desired))
    if action.reseed:
        phase(rt, ref.name, "seed", lambda: seed(rt, ref, desired))
    if gate is not None and not is_cp:
        gate.wait()
    if action.restart:
        held = desired if hotplug.holds_back(action) else None
        phase(rt, ref.name, "start", lambda: steps.restart_vm(rt, ref, held))
        started = True
    else:
        started = phase(rt, ref.name, "start", lambda: steps.start_vm(rt, ref))
    if gate is not None:
        gate.passed(ref.name)
    if grows and not action.restart and not started:
        # it ran all along: cloud-init's growpart runs only at boot, so grow it in the guest
        outcome.warnings.extend(grow_root(rt, ref))
    rt.journal.remove(ref.key)
    # A VM the plan saw stopped but that runs already was started moments ago (by an
    # interrupted run): /cluster/resources lags, so wait for its agent as for a fresh start.
    if started or any(change.key == "state" for change in action.changes):
        await_agent(rt, ref, outcome)


def grow_root(rt: Runtime, ref: VmRef) -> list[str]:
    """Grow a running VM's root filesystem after its disk grew; a warning if it could not."""
    rt.emit(ref.name, "resize", "running", "growing the root filesystem in the guest")
    try:
        detail = steps.grow_root(rt, ref)
    except LabError as exc:
        text = (
            f"the disk grew but not its root filesystem ({short_error(exc)}); cloud-init grows "
            "it at the next boot, or run growpart and resize2fs in the guest"
        )
        rt.emit(ref.name, "resize", "warning", text)
        return [text]
    rt.emit(ref.name, "resize", "done", detail)
    return []


def adopt_chain(rt: Runtime, action: AdoptVm) -> None:
    """Tag the VM and record the lab on it, journaled like any other change."""
    ref = VmRef(action.vm, action.node, action.vmid)
    rt.journal.put(ref.key, journal_entry(ref, "adopt"))
    steps.adopt_vm(rt, ref, action.tags_after, action.desired, action.config_digest)
    rt.journal.remove(ref.key)


def leave_etcd(rt: Runtime, vm: str, peer: EtcdPeer) -> None:
    """Remove ``vm``'s etcd member on ``peer``, a control plane that stays (a rerun after the
    removal finds no such member: done already)."""
    host = EtcdHost(
        GuestChannel(rt.client, rt.clock, log=rt.guest_log), peer.vm, peer.node, peer.vmid
    )
    removed = host.remove_member(vm)
    rt.emit(vm, "etcd", "done", f"member removed on {peer.vm}" if removed else "not a member")


def destroy_chain(rt: Runtime, ref: VmRef, lab: str) -> None:
    """Destroy a VM of the lab and delete its seed ISOs on its node."""
    steps.destroy_vm(rt, ref)
    storage = rt.iso_storage
    seeds.remove_seeds(rt, ref.node, storage, lab, ref.name)
    rt.journal.remove(ref.key)
