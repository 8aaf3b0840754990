"""Restoring the lab's VMs from their backups, and drills that prove a backup restores.

``restore_vm`` restores a VM's backup (the newest, ``--at`` a time, or ``--backup VOLID``):

- by default into a new VMID from the lab's range, with new MACs (``unique``), left stopped and
  without the lab's marks (named ``<vm>-restored``, tag ``homelab-restored``), so it is never
  taken for the lab's VM: for looking at, or copying from;
- with ``force``, over the VM itself: a cluster node is drained first when the cluster answers
  (apply's drain, journaled), the VM is stopped, restored (PVE's ``force``), started, and
  uncordoned once Ready.

A backup made before ``up`` swapped a node's secret seed ISO for its secret-free twin names the
secret ISO, which is gone: before the start, a VM restored in place gets the twin of its seed
(same instance-id: cloud-init does not run again), and a copy or a drill an empty CD-ROM
(``reseat_seed``, ``gone_seed_emptied``).

``drill`` restores the newest backup of each chosen VM into a scratch VMID with new MACs and its
NIC's link down (``link_down=1``), boots it, checks that the guest agent answers and that the
disk holds what the VM's role needs (``/etc/kubernetes/manifests/kube-apiserver.yaml`` on a
control plane, ``/etc/kubernetes/kubelet.conf`` on a worker), then destroys it. Each result is
recorded in the state store's history (``backup status`` shows the last drill per VM); a backup
counts as proven only after a drill passed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime

from homelab.core.backup.status import BackupCopy
from homelab.core.desired import SEED_DRIVE, desired_vms, is_seed_volume_of
from homelab.core.observed import volume_filename
from homelab.core.ownership import lab_vms
from homelab.engine.apply import drains, seeds
from homelab.engine.apply.progress import Silent
from homelab.engine.apply.runtime import Limits, Runtime
from homelab.engine.apply.steps import VmRef, destroy_vm, start_vm, verify_identity, wait_agent
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import ProxmoxError
from homelab.errors import KubeError, LabError
from homelab.verbs.backup import backup_copies, backup_storage_of
from homelab.verbs.connection import Connection
from homelab.verbs.drain import DrainRefused, attach_drainer
from homelab.verbs.lab import LabContext
from homelab.verbs.provision import new_runtime

__all__ = ["DrillResult", "RestoreResult", "drill", "pick_backup", "restore_vm"]

EMPTY_CDROM = "none,media=cdrom"
DRILL_TAG = "homelab-drill"
RESTORED_TAG = "homelab-restored"
ROLE_FILES = {
    "control-plane": "/etc/kubernetes/manifests/kube-apiserver.yaml",
    "worker": "/etc/kubernetes/kubelet.conf",
}


class NoBackup(LabError):
    """The VM has no backup to restore (or none matching ``--at`` / ``--backup``)."""


def pick_backup(
    copies: list[BackupCopy], *, volid: str | None = None, at: datetime | None = None
) -> BackupCopy | None:
    """The backup ``volid`` names, else the newest made at or before ``at``, else the newest."""
    if volid is not None:
        return next((c for c in copies if c.volid == volid), None)
    chosen = [c for c in copies if at is None or c.ctime <= at.timestamp()]
    return max(chosen, key=lambda c: c.ctime, default=None)


@dataclass(frozen=True)
class RestoreResult:
    vm: str
    vmid: int
    backup: str
    in_place: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class DrillResult:
    vm: str
    backup: str | None
    ok: bool
    detail: str
    seconds: float = 0.0
    scratch_vmid: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "vm": self.vm,
            "backup": self.backup,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 1),
            "scratch_vmid": self.scratch_vmid,
        }


@dataclass
class _Lab:
    refs: dict[str, VmRef]
    copies: dict[int, list[BackupCopy]]
    storage: str
    rt: Runtime
    notes: list[str] = field(default_factory=list)


def _open(conn: Connection, ctx: LabContext, limits: Limits | None) -> _Lab:
    storage = backup_storage_of(ctx.spec)
    rt = new_runtime(conn, ctx, Silent(), limits or Limits())
    resources = conn.client.cluster_resources()
    for vm in resources.vms:
        rt.allocator.mark_taken(vm.vmid)
    refs = {
        vm.name: VmRef(vm.name, vm.node, vm.vmid)
        for vm in lab_vms(ctx.lab, resources.vms)
        if vm.name in ctx.spec.vms
    }
    nodes = sorted({ref.node for ref in refs.values()})
    copies = backup_copies(conn.client, storage, nodes) if nodes else {}
    return _Lab(refs, copies, storage, rt)


def _ref(lab: _Lab, ctx: LabContext, vm: str) -> VmRef:
    if vm not in ctx.spec.vms:
        raise LabError(f"'{vm}' is not a VM of the lab {ctx.lab}")
    ref = lab.refs.get(vm)
    if ref is None:
        raise LabError(
            f"vm {vm} does not exist: restore needs the VM (or its VMID's backups)",
            hint="`homelab apply` makes it again",
        )
    return ref


def restore_vm(
    conn: Connection,
    ctx: LabContext,
    vm: str,
    *,
    volid: str | None = None,
    at: datetime | None = None,
    force: bool = False,
    limits: Limits | None = None,
) -> RestoreResult:
    """Restore ``vm`` from a backup (see the module docstring)."""
    with ctx.store.lock(ctx.lab, purpose="restore"):
        lab = _open(conn, ctx, limits)
        if vm in ctx.spec.vms and vm not in lab.refs:
            return _bring_back(conn, ctx, lab, vm, volid, at)
        ref = _ref(lab, ctx, vm)
        chosen = pick_backup(lab.copies.get(ref.vmid, []), volid=volid, at=at)
        if chosen is None:
            raise NoBackup(
                f"vm {vm} has no backup{' ' + volid if volid else ''}"
                f"{f' made by {at.isoformat()}' if at else ''} on {lab.storage}",
                hint="`homelab backup status SPEC` lists the backups",
            )
        if not force:
            target = lab.rt.allocator.take()
            _restore(lab.rt, ref.node, target, chosen.volid, ctx.spec.proxmox.storage)
            conn.client.update_config(
                ref.node,
                target,
                name=f"{vm}-restored",
                tags=RESTORED_TAG,
                description=f"restored by homelab from {chosen.volid}",
                **gone_seed_emptied(conn, ref.node, target),
            )
            return RestoreResult(vm, target, chosen.volid, in_place=False)
        rt, client = lab.rt, conn.client
        control_plane = ctx.spec.vms[vm].role == "control-plane"
        warnings: list[str] = []
        restored = False
        with contextlib.ExitStack() as cluster:
            warnings += _attach_cluster(conn, ctx, rt, cluster)
            try:
                # apply's drain: journaled, so a run cut short leaves no node cordoned for good
                with drains.drained(rt, vm, ref.node, gone=False, control_plane=control_plane):
                    if client.vm_status(ref.node, ref.vmid).status != "stopped":
                        rt.run_task(
                            lambda: client.shutdown(
                                ref.node, ref.vmid, timeout=120, force_stop=True
                            ),
                            f"shutdown of {vm}",
                        )
                    _restore(
                        rt, ref.node, ref.vmid, chosen.volid, ctx.spec.proxmox.storage, force=True
                    )
                    restored = True
                    warnings += reseat_seed(rt, ctx, ref)
                    start_vm(rt, ref)
                    if not wait_agent(rt, ref):
                        warnings.append(f"vm {vm}: the guest agent does not answer yet")
            except KubeError as exc:
                if not restored:
                    raise  # the drain could not be done: nothing was changed
                warnings.append(f"{vm} is not Ready again yet: {exc.message}")
        return RestoreResult(vm, ref.vmid, chosen.volid, in_place=True, warnings=tuple(warnings))


def last_vmid(ctx: LabContext, vm: str) -> int | None:
    """The VMID ``vm`` had: pinned in the spec, else the newest the state store's history
    recorded for it (every apply records its VMs' VMIDs)."""
    pinned = ctx.spec.vms[vm].vmid
    if pinned is not None:
        return pinned
    for event in ctx.store.history(ctx.lab).recent(500):
        outcomes = event.data.get("outcomes") or []
        for outcome in outcomes if isinstance(outcomes, list) else []:
            if isinstance(outcome, dict) and outcome.get("vm") == vm and outcome.get("vmid"):
                return int(outcome["vmid"])
    return None


def _bring_back(
    conn: Connection,
    ctx: LabContext,
    lab: _Lab,
    vm: str,
    volid: str | None,
    at: datetime | None,
) -> RestoreResult:
    """``vm`` does not exist: restore its backup into the VMID it had (same MACs, so its seed's
    network configuration fits), start it and wait for its agent."""
    vmid = last_vmid(ctx, vm)
    if vmid is None:
        raise NoBackup(f"vm {vm} does not exist, and the state store knows no VMID of it")
    if vmid in conn.client.guest_vmids():
        raise LabError(f"vm {vm} is gone, and its VMID {vmid} is taken by another guest")
    nodes = sorted({ctx.spec.node_of(name) for name in ctx.spec.vms})
    copies = backup_copies(conn.client, lab.storage, nodes).get(vmid, [])
    chosen = pick_backup(copies, volid=volid, at=at)
    if chosen is None:
        raise NoBackup(
            f"vm {vm} (VMID {vmid}) does not exist and has no backup on {lab.storage}",
            hint="`homelab apply` makes it anew",
        )
    node = ctx.spec.node_of(vm)
    _restore(lab.rt, node, vmid, chosen.volid, ctx.spec.proxmox.storage, unique=False)
    ref = VmRef(vm, node, vmid)
    warnings = reseat_seed(lab.rt, ctx, ref)
    start_vm(lab.rt, ref)
    if not wait_agent(lab.rt, ref):
        warnings.append(f"vm {vm}: the guest agent does not answer yet")
    return RestoreResult(vm, vmid, chosen.volid, in_place=True, warnings=tuple(warnings))


def reseat_seed(rt: Runtime, ctx: LabContext, ref: VmRef) -> list[str]:
    """A VM of the lab restored in place whose CD-ROM names a seed ISO that is gone (a backup
    made before ``up`` replaced the secret seed by its twin names the secret ISO, deleted
    since): Proxmox VE would refuse to start it (qemu-server activates every volume of the
    config, the CD-ROM's too). Its disk ran that seed already, so cloud-init must not run
    again: when the backup's record names the spec's current seed (the same meta-data, so the
    same instance-id), the current seed's secret-free twin is uploaded and attached; otherwise
    the drive is emptied (cloud-init then finds no data source and does nothing; the plan
    replaces the VM, whose seed changed). Returns what was done, for the result's warnings."""
    raw, config = verify_identity(rt, ref)
    volid = drive_volid(raw.get(SEED_DRIVE, ""))
    if volid is None or volume_exists(rt.client, ref.node, volid):
        return []
    if not is_seed_volume_of(ctx.lab, ref.name, volume_filename(volid)):
        return []  # not homelab's ISO: the start says what is missing
    desired = desired_vms(ctx.spec, ctx.seed_digests)[ref.name]
    record = config.record
    if record is not None and not record.adopted and record.seed == desired.seed_digest:
        seeds.upload_seed(rt, ref, desired, clean=True)
        seeds.attach_seed(rt, ref, desired, clean=True)
        return [
            f"vm {ref.name}: its backup names the seed ISO {volid}, deleted since; the "
            f"secret-free {desired.clean_volume} (same instance) is attached instead"
        ]
    rt.client.update_config(ref.node, ref.vmid, digest=config.digest, ide2=EMPTY_CDROM)
    return [
        f"vm {ref.name}: its backup names the seed ISO {volid}, deleted since, of another "
        "seed than the spec's; its CD-ROM is emptied (the next plan replaces the VM)"
    ]


def gone_seed_emptied(conn: Connection, node: str, vmid: int) -> dict[str, str]:
    """For a restored copy or a drill (not the lab's VM): the CD-ROM emptied when the ISO it
    names is gone (PVE would refuse the start), as ``ide2`` to write; else nothing."""
    raw, _ = conn.client.vm_config(node, vmid)
    volid = drive_volid(raw.get(SEED_DRIVE, ""))
    if volid is None or volume_exists(conn.client, node, volid):
        return {}
    return {SEED_DRIVE: EMPTY_CDROM}


def drive_volid(value: str) -> str | None:
    """The storage volume a drive value names (None: empty, a host path, or not set)."""
    volid = value.split(",", 1)[0]
    return volid if ":" in volid and not volid.startswith("/") else None


def volume_exists(client: PveClient, node: str, volid: str) -> bool:
    storage = volid.partition(":")[0]
    return any(item.volid == volid for item in client.storage_content(node, storage, "iso"))


def _restore(
    rt: Runtime,
    node: str,
    vmid: int,
    volid: str,
    storage: str,
    *,
    force: bool = False,
    unique: bool = True,
) -> None:
    rt.run_task(
        lambda: rt.client.restore(
            node, vmid, volid, storage, force=force, unique=unique and not force
        ),
        f"restore of {volid} to VMID {vmid}",
    )


def _attach_cluster(
    conn: Connection, ctx: LabContext, rt: Runtime, stack: contextlib.ExitStack
) -> list[str]:
    """Give ``rt`` the lab's drainer (apply's, journaled) when the cluster answers. A restore is
    often wanted because a node is broken, so a cluster that does not answer is a warning here,
    not a refusal: the VM is restored undrained."""
    try:
        return attach_drainer(conn, ctx, rt, stack)
    except DrainRefused as exc:
        return [f"{exc.message.split('; nothing was changed')[0]}: restored without a drain"]


def drill(
    conn: Connection,
    ctx: LabContext,
    vms: list[str] | None = None,
    *,
    limits: Limits | None = None,
) -> list[DrillResult]:
    """Drill the newest backup of each VM in ``vms`` (all of the lab's by default)."""
    with ctx.store.lock(ctx.lab, purpose="drill"):
        lab = _open(conn, ctx, limits)
        results = []
        for vm in vms or list(ctx.spec.vms):
            results.append(_drill_one(conn, ctx, lab, vm))
        for result in results:
            ctx.store.history(ctx.lab).append("drill", result.to_dict())
        return results


def _drill_one(conn: Connection, ctx: LabContext, lab: _Lab, vm: str) -> DrillResult:
    ref = _ref(lab, ctx, vm)
    newest = pick_backup(lab.copies.get(ref.vmid, []))
    if newest is None:
        return DrillResult(vm, None, False, "no backup to drill")
    rt = lab.rt
    started = rt.clock.monotonic()
    scratch = VmRef(f"drill-{vm}", ref.node, rt.allocator.take())
    ok, detail = _exercise(conn, ctx, rt, scratch, newest, vm)
    try:  # only ever the VMID this drill took from the range
        destroy_vm(rt, scratch, check=False)
    except LabError as exc:
        detail += f"; the scratch VM {scratch.vmid} could not be destroyed ({exc.message})"
    return DrillResult(vm, newest.volid, ok, detail, rt.clock.monotonic() - started, scratch.vmid)


def _exercise(
    conn: Connection, ctx: LabContext, rt: Runtime, scratch: VmRef, backup: BackupCopy, vm: str
) -> tuple[bool, str]:
    """Restore ``backup`` into ``scratch``, isolate, boot and check it: (passed, what was seen)."""
    client, node = conn.client, scratch.node
    try:
        _restore(rt, node, scratch.vmid, backup.volid, ctx.spec.proxmox.storage)
    except LabError as exc:
        return False, f"the restore failed: {exc.message}"
    try:
        config, _ = client.vm_config(node, scratch.vmid)
        net0 = config.get("net0", "")
        changes: dict[str, str] = {
            "name": scratch.name,
            "tags": DRILL_TAG,
            "description": f"homelab drill of {vm} from {backup.volid}",
        }
        if net0 and "link_down=1" not in net0.split(","):
            changes["net0"] = f"{net0},link_down=1"  # no frame of it reaches the lab's network
        changes.update(gone_seed_emptied(conn, node, scratch.vmid))
        client.update_config(node, scratch.vmid, **changes)
        start_vm(rt, scratch)
    except LabError as exc:
        return False, f"the restored VM did not start: {exc.message}"
    if not wait_agent(rt, scratch):
        return False, "the guest agent did not answer"
    path = ROLE_FILES[ctx.spec.vms[vm].role]
    try:
        client.agent_file_read(node, scratch.vmid, path)
    except ProxmoxError as exc:
        return False, f"{path} is not on the restored disk ({exc.message})"
    return True, f"booted; {path} is there"
