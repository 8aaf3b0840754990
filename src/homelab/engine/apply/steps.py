"""The steps of apply: one function per side effect on Proxmox, each journaled before it acts.

A chain (chains.py) calls these in order. Each step is safe to repeat: it looks at what is there
and does only what is missing, so a rerun after a crash, a lost reply or a lock timeout picks up
where the last run stopped. Identity is verified before a VM is touched: the VMID must hold a VM
with the expected name that ``homelab.core.ownership`` says this lab (and this state store,
unless ``--take-over``) may change: proven by its record, never another lab's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homelab.core.desired import DesiredVm, description_text, user_notes
from homelab.core.observed import Observed, VmConfig
from homelab.core.ownership import (
    NO_STEWARD,
    Claimant,
    Facts,
    Steward,
    Verb,
    classify,
    may,
    why_not,
)
from homelab.core.plan.sources import find_templates, pick_template
from homelab.core.render.network import vm_mac
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.vmconfig import config_changes, held_for_restart
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.rootfs import grow_root_filesystem
from homelab.engine.proxmox.errors import (
    ApiError,
    ConfigModified,
    ConflictError,
    NotDone,
    NotFoundError,
    ProxmoxError,
    TaskFailed,
)
from homelab.errors import LabError

__all__ = [
    "IdentityError",
    "Template",
    "VmRef",
    "adopt_vm",
    "clone_vm",
    "configure_vm",
    "destroy_vm",
    "find_vm_template",
    "grow_root",
    "read_config",
    "resize_disk",
    "restart_vm",
    "start_vm",
    "verify_identity",
    "wait_agent",
]

DISK_KEY_DEFAULT = "scsi0"
#: How often configure reads and writes again when PVE says the config was modified meanwhile.
CONFIG_WRITE_ATTEMPTS = 5
#: How long a start with an unknown outcome is watched for the VM to run before it is resent.
START_SETTLE = 60.0
#: How long ``settle_vm`` waits for an interrupted run's requests and tasks to be over.
SETTLE_TIMEOUT = 120.0
SETTLE_PAUSE = 2.0


class IdentityError(LabError):
    """The VMID does not hold the VM homelab expects there: nothing is changed."""


@dataclass(frozen=True)
class VmRef:
    """Where a VM of the lab lives."""

    name: str
    node: str
    vmid: int

    @property
    def key(self) -> str:
        return journal_key(self.name)


@dataclass(frozen=True)
class Template:
    node: str
    vmid: int


def find_vm_template(observed: Observed, desired: DesiredVm) -> Template:
    """The template ``desired`` is cloned from: the copy on its node, else the lowest VMID."""
    chosen = pick_template(find_templates(desired.template, observed.vms), desired.node)
    if chosen is None:
        raise LabError(
            f"template {desired.template!r} not found on Proxmox",
            hint="check proxmox.template (a template's name or VMID) and the token's VM.Audit",
        )
    return Template(node=chosen.node, vmid=chosen.vmid)


def journal_key(vm: str) -> str:
    return f"vm/{vm}"


# ---- reading and identity -----------------------------------------------------------------


def read_config(rt: Runtime, ref: VmRef) -> tuple[dict[str, str], VmConfig]:
    return rt.client.vm_config(ref.node, ref.vmid)


def verify_identity(
    rt: Runtime, ref: VmRef, verb: Verb = Verb.APPLY
) -> tuple[dict[str, str], VmConfig]:
    """The VM's config, after checking that ``ref.vmid`` really is ``ref.name`` and that
    ``verb`` may change it (see ``identity_problem``)."""
    try:
        raw, config = read_config(rt, ref)
    except NotFoundError as exc:
        raise IdentityError(f"vm {ref.name}: VMID {ref.vmid} does not exist on {ref.node}") from exc
    problem = identity_problem(rt.lab, ref, raw, config, rt.steward, verb)
    if problem:
        raise IdentityError(f"vm {ref.name}: VMID {ref.vmid} {problem}; not touching it")
    return raw, config


def identity_problem(
    lab: str,
    ref: VmRef,
    raw: dict[str, str],
    config: VmConfig,
    steward: Steward = NO_STEWARD,
    verb: Verb = Verb.APPLY,
) -> str | None:
    """Why ``verb`` must not touch the VM at ``ref`` (None: it may): a template, another name,
    or a VM ownership's rule keeps from ``verb``."""
    if config.template:
        return "is a template"
    if config.name != ref.name:
        return f"is named {config.name or '(no name)'}"
    who = Claimant(lab, frozenset({ref.name}), range(0), steward.store)
    facts = Facts(ref.vmid, config.name, config.tags, False, config.record, record_known=True)
    standing = classify(who, facts)
    if may(standing, verb, in_spec=True, flags=steward.flags):
        return None
    return why_not(who, facts, standing).removeprefix("it ")


def adopt_vm(rt: Runtime, ref: VmRef, tags: str, desired: DesiredVm, expected_digest: str) -> None:
    """Write the lab's tags and record on a VM adopt may take, under the plan's config digest."""
    _, config = verify_identity(rt, ref, Verb.ADOPT)
    if config.digest != expected_digest:
        raise ConflictError(
            409,
            "config changed",
            f"vm {ref.name}: its config changed since the plan was made; adopt again",
        )
    with rt.node_slot(ref.node):
        rt.client.update_config(
            ref.node,
            ref.vmid,
            digest=config.digest,
            tags=tags,
            description=description_text(desired.record, user_notes(config.description)),
        )


# ---- clone ----------------------------------------------------------------------------------


def clone_vm(rt: Runtime, desired: DesiredVm, template: Template) -> VmRef:
    """Clone the template into a free VMID (the next one if it turns out taken)."""
    while True:
        ref = VmRef(desired.name, desired.node, rt.allocator.take(desired.vmid))
        rt.journal.put(ref.key, _intent("create", ref, "clone"))
        try:
            _clone_once(rt, ref, desired, template)
            return ref
        except ConflictError:
            rt.journal.remove(ref.key)
            rt.allocator.mark_taken(ref.vmid)
            if desired.vmid is not None:
                raise
        except BaseException:
            if not vm_exists(rt, ref):
                rt.journal.remove(ref.key)
            raise


def _intent(op: str, ref: VmRef, phase: str, **extra: Any) -> dict[str, Any]:
    return {"op": op, "vm": ref.name, "node": ref.node, "vmid": ref.vmid, "phase": phase, **extra}


def _clone_once(rt: Runtime, ref: VmRef, desired: DesiredVm, template: Template) -> None:
    full = desired.clone == "full"

    def dispatch() -> str:
        try:
            return rt.client.clone(
                template.node,
                template.vmid,
                ref.vmid,
                name=desired.name,
                full=full,
                storage=desired.storage if full else None,
                target=ref.node if ref.node != template.node else None,
                description=desired.description,
            )
        except ProxmoxError as exc:
            if isinstance(exc, ConflictError) or exc.before_effect or not exc.transient:
                raise  # refused (a taken VMID, non-shared storage...): nothing was done
            # The outcome is unknown (lost reply, 5xx): look before sending it again.
            if settle_clone(rt, ref):
                raise _CloneExists(f"clone of {ref.name} exists") from exc
            raise NotDone(f"clone of {ref.name} did not happen; sending it again") from exc

    lock = rt.storage_lock(ref.node, desired.storage) if full else None
    if lock is not None:
        lock.acquire()
    try:
        with rt.node_slot(template.node):
            rt.run_task(dispatch, f"clone of {ref.name}")
    except _CloneExists:
        pass
    finally:
        if lock is not None:
            lock.release()


class _CloneExists(ProxmoxError):
    """A clone sent once with an unknown outcome turned out to exist (done)."""


def vm_exists(rt: Runtime, ref: VmRef) -> bool:
    try:
        rt.client.vm_status(ref.node, ref.vmid)
    except NotFoundError:
        return False
    except ProxmoxError:
        return True  # unknown: keep the journal entry, reconcile decides later
    return True


def settle_clone(rt: Runtime, ref: VmRef) -> bool:
    """Wait until a clone into ``ref`` finished or vanished; True if the VM is there."""
    deadline = rt.clock.monotonic() + rt.limits.task_timeout
    while rt.clock.monotonic() < deadline:
        try:
            status = rt.client.vm_status(ref.node, ref.vmid)
        except NotFoundError:
            return False
        if status.lock not in ("clone", "create"):
            return True
        rt.clock.sleep(rt.limits.poll_cap)
    raise IdentityError(f"vm {ref.name}: VMID {ref.vmid} is still being cloned; rerun later")


# ---- configure, seed, resize ----------------------------------------------------------------


def configure_vm(
    rt: Runtime,
    ref: VmRef,
    desired: DesiredVm,
    expected_digest: str = "",
    *,
    new: bool = False,
    hold_back: bool = False,
) -> None:
    """Write the managed keys (tags and description first of all), only those that differ.

    A ``new`` VM also gets the MAC its seed's network-config matches its NIC by. With
    ``hold_back`` (a restart follows), what a running VM would hotplug now and must not
    (``held_for_restart``) waits: ``restart_vm`` writes it while the VM is stopped.
    """
    mac = vm_mac(desired.lab, desired.name) if new else None
    raw, config = verify_identity(rt, ref)
    if expected_digest and config.digest != expected_digest:
        raise ConflictError(
            409,
            "config changed",
            f"vm {ref.name}: its config changed since the plan was made; plan again",
        )
    for attempt in range(CONFIG_WRITE_ATTEMPTS):
        if attempt:
            raw, config = verify_identity(rt, ref)
        changes = config_changes(desired, raw, mac)
        held = held_for_restart(raw, changes) if hold_back else ()
        if held and rt.client.vm_status(ref.node, ref.vmid).running:
            changes = {key: value for key, value in changes.items() if key not in held}
        if not changes:
            return
        try:
            with rt.node_slot(ref.node):
                rt.client.update_config(ref.node, ref.vmid, digest=config.digest, **changes)
            return
        except ConfigModified:
            # PVE refused the write before making it: the config changed since it was read
            # (someone else wrote it, or a retried PUT's first try went through). Read again
            # and write what is still missing.
            if attempt + 1 == CONFIG_WRITE_ATTEMPTS:
                raise
        except ConflictError:
            # A retried PUT whose first try went through sees its own change: check, don't fail.
            raw, config = verify_identity(rt, ref)
            rest = config_changes(desired, raw, mac)
            if rest:
                with rt.node_slot(ref.node):
                    rt.client.update_config(ref.node, ref.vmid, digest=config.digest, **rest)
            return


def resize_disk(rt: Runtime, ref: VmRef, desired: DesiredVm) -> None:
    """Grow the boot disk on its existing volume to the spec's size, then check the size."""
    _, config = verify_identity(rt, ref)
    disk = config.boot_disk
    if disk is None or disk.size_gib is None:
        raise LabError(f"vm {ref.name}: no boot disk with a size in its config")
    if disk.size_gib > desired.disk_gib:
        raise LabError(
            f"vm {ref.name}: disk {disk.key} is {disk.size_gib}GiB, more than the spec's "
            f"{desired.disk_gib}GiB; disks only grow"
        )
    if disk.size_gib < desired.disk_gib:
        size = f"{desired.disk_gib}G"
        with rt.node_slot(ref.node):
            rt.run_task(lambda: rt.client.resize(ref.node, ref.vmid, disk.key, size), "resize")
    _, after = read_config(rt, ref)
    grown = after.boot_disk
    if grown is None or grown.key != disk.key or grown.size_gib != desired.disk_gib:
        found = f"{grown.key} {grown.size_gib}GiB" if grown else "no disk"
        raise LabError(
            f"vm {ref.name}: after the resize its boot disk is {found}, "
            f"not {disk.key} {desired.disk_gib}GiB"
        )


# ---- power ----------------------------------------------------------------------------------


def start_vm(rt: Runtime, ref: VmRef) -> bool:
    """Start the VM unless it runs; True if it was started.

    A start whose reply was lost (or a 5xx) may have happened: the VM's state is read before
    the start is sent again, so a VM that came up is not taken for one that failed (and a
    finished VM is never rolled back for a lost reply). A start task that fails because the VM
    "already running" lost a race with another start (an interrupted run's): the VM runs."""
    if rt.client.vm_status(ref.node, ref.vmid).running:
        return False
    with rt.node_slot(ref.node):
        _run_start(rt, ref)
    return True


def _run_start(rt: Runtime, ref: VmRef) -> None:
    try:
        rt.run_task(lambda: _dispatch_start(rt, ref), f"start of {ref.name}")
    except TaskFailed as exc:
        lost_race = exc.exitstatus.endswith("already running")
        if not (lost_race and rt.client.vm_status(ref.node, ref.vmid).running):
            raise


def _dispatch_start(rt: Runtime, ref: VmRef) -> str | None:
    try:
        return rt.client.start(ref.node, ref.vmid)
    except ProxmoxError as exc:
        if exc.before_effect or (isinstance(exc, ApiError) and not exc.transient):
            raise
        if settle_start(rt, ref):
            return None  # it started: nothing left to wait for
        raise NotDone(f"start of {ref.name} did not happen; sending it again") from exc


def settle_start(rt: Runtime, ref: VmRef) -> bool:
    """After a start with an unknown outcome: True once the VM runs, False if it stays stopped
    for START_SETTLE seconds (PVE's start task brings a VM up within a few seconds)."""
    deadline = rt.clock.monotonic() + START_SETTLE
    while True:
        if rt.client.vm_status(ref.node, ref.vmid).running:
            return True
        if rt.clock.monotonic() >= deadline:
            return False
        rt.clock.sleep(rt.limits.poll_cap)


def restart_vm(rt: Runtime, ref: VmRef, desired: DesiredVm | None = None) -> None:
    """Shut down (forcing after 120 s) and start again, so pending changes take effect; with
    ``desired``, what ``configure_vm`` held back is written while the VM is stopped."""
    with rt.node_slot(ref.node):
        if rt.client.vm_status(ref.node, ref.vmid).running:
            rt.run_task(
                lambda: rt.client.shutdown(ref.node, ref.vmid, timeout=120, force_stop=True),
                f"shutdown of {ref.name}",
            )
    if desired is not None:
        configure_vm(rt, ref, desired)
    with rt.node_slot(ref.node):
        _run_start(rt, ref)


def settle_vm(rt: Runtime, ref: VmRef) -> None:
    """Wait (bounded) until what an interrupted run left in flight on the VM is over: no task
    of it still runs and its config stays the same for a moment. A killed client's requests
    and tasks go on in Proxmox; planning over them would race them."""
    deadline = rt.clock.monotonic() + SETTLE_TIMEOUT
    before = ""
    while rt.clock.monotonic() < deadline:
        busy = rt.client.active_tasks(ref.node, ref.vmid)
        digest = rt.client.vm_config(ref.node, ref.vmid)[1].digest
        if not busy and digest == before:
            return
        before = digest
        rt.clock.sleep(SETTLE_PAUSE)


def wait_agent(rt: Runtime, ref: VmRef) -> bool:
    """Poll the guest agent until it answers or the (short) agent timeout ends."""
    deadline = rt.clock.monotonic() + rt.limits.agent_timeout
    interval = 1.0
    while True:
        if rt.client.agent_ping(ref.node, ref.vmid):
            return True
        remaining = deadline - rt.clock.monotonic()
        if remaining <= 0:
            return False
        rt.clock.sleep(min(interval, remaining))
        interval = min(3.0, interval * 1.5)


GROW_ROOT = "grow_root"  # an update intent's flag: the guest's root filesystem is still to grow


def grow_root(rt: Runtime, ref: VmRef) -> str:
    """Grow a running VM's root partition and filesystem to its grown disk, in the guest.

    A text for the progress line; LabError if the guest could not grow it (the disk is grown
    all the same, and cloud-init grows the filesystem at the next boot)."""
    channel = GuestChannel(rt.client, rt.clock, log=rt.guest_log)
    growth = grow_root_filesystem(channel, ref.node, ref.vmid)
    if not growth.changed:
        return f"{growth.device} already fills the disk"
    return f"{growth.device} grown from {_gib(growth.before)} to {_gib(growth.after)}"


def _gib(size: int) -> str:
    return f"{size / 1024**3:.1f} GiB"


# ---- destroy --------------------------------------------------------------------------------


def destroy_vm(rt: Runtime, ref: VmRef, *, check: bool = True) -> None:
    """Stop and wait, destroy with purge and wait, confirm the VMID is free. Identity first."""
    if not vm_exists(rt, ref):
        return
    if check:
        verify_identity(rt, ref)
    rt.journal.put(ref.key, _intent("destroy", ref, "destroy"))
    with rt.node_slot(ref.node):
        if rt.client.vm_status(ref.node, ref.vmid).status != "stopped":
            rt.run_task(lambda: rt.client.stop(ref.node, ref.vmid), f"stop of {ref.name}")
        rt.run_task(lambda: _dispatch_destroy(rt, ref), f"destroy of {ref.name}")
    confirm_gone(rt, ref)


def _dispatch_destroy(rt: Runtime, ref: VmRef) -> str | None:
    try:
        return rt.client.destroy(ref.node, ref.vmid)
    except NotFoundError:
        return None  # a retried destroy whose first try went through


def confirm_gone(rt: Runtime, ref: VmRef) -> None:
    deadline = rt.clock.monotonic() + 60.0
    while vm_exists(rt, ref):
        if rt.clock.monotonic() > deadline:
            raise LabError(f"vm {ref.name}: VMID {ref.vmid} still exists after its destroy")
        rt.clock.sleep(rt.limits.poll_cap)
