"""Applying the plan's backup jobs, after the VMs' actions (which give new VMs their VMIDs).

Each job action is one request, idempotent by construction: a create finds the job already made
(an interrupted run) and updates it instead, provided it carries the lab's mark; a delete that
finds the job gone counts as done. VMIDs are read again (one ``/cluster/resources``) so a job
covers the VMs as apply left them; a VM the job names that does not exist (its create failed)
fails the job's action, and the job is left as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from homelab.core.backup.jobs import MANAGED, JobAction, marked_lab
from homelab.core.backup.storage import StorageAction
from homelab.core.ownership import lab_vms
from homelab.core.pve_reply import BackupJob
from homelab.core.secret import Secret
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import ProxmoxError

__all__ = ["JobOutcome", "apply_jobs"]


@dataclass(frozen=True)
class JobOutcome:
    name: str
    id: str
    kind: str
    ok: bool = True
    error: str | None = None
    vmids: tuple[int, ...] = ()
    #: the PBS encryption key PVE made for a new storage (to keep sealed, never to show)
    key: Secret | None = None


def apply_jobs(
    client: PveClient,
    lab: str,
    jobs: tuple[JobAction, ...],
    storage: StorageAction | None = None,
    secret: Secret | None = None,
) -> tuple[JobOutcome, ...]:
    """Add the PBS storage if the plan says so, then carry out every changing job action;
    failures are in the outcomes, not raised. Without the storage no job is touched."""
    changing = [job for job in jobs if job.changes_anything]
    made: list[JobOutcome] = []
    if storage is not None:
        made.append(_add_storage(client, storage, secret))
        if not made[0].ok:
            why = f"the backup storage {storage.id} could not be added"
            return tuple(
                made + [JobOutcome(j.name, j.id, j.kind, ok=False, error=why) for j in changing]
            )
    if not changing:
        return tuple(made)
    vmids = {vm.name: vm.vmid for vm in lab_vms(lab, client.cluster_resources().vms) if vm.name}
    existing = {job.id: job for job in client.backup_jobs()}
    out = made
    for job in changing:
        try:
            out.append(_apply_one(client, lab, job, vmids, existing))
        except ProxmoxError as exc:
            out.append(JobOutcome(job.name, job.id, job.kind, ok=False, error=str(exc)))
    return tuple(out)


def _add_storage(client: PveClient, storage: StorageAction, secret: Secret | None) -> JobOutcome:
    """``POST /storage`` of the PBS storage; PVE contacts the PBS first and keeps nothing when
    that fails (its reason is the outcome's error)."""
    name = f"storage {storage.id}"
    if secret is None:
        return JobOutcome(
            name, storage.id, "create", ok=False, error=f"{storage.token_env} is not set"
        )
    try:
        key = client.create_pbs_storage(storage.id, dict(storage.settings), secret)
    except ProxmoxError as exc:
        return JobOutcome(name, storage.id, "create", ok=False, error=str(exc))
    return JobOutcome(name, storage.id, "create", key=key)


def _apply_one(
    client: PveClient,
    lab: str,
    job: JobAction,
    vmids: dict[str, int],
    existing: dict[str, BackupJob],
) -> JobOutcome:
    if job.kind == "delete":
        if job.id in existing:
            client.delete_backup_job(job.id)
        return JobOutcome(job.name, job.id, "delete")
    assert job.desired is not None  # create and update carry the desired job
    missing = [vm for vm in job.desired.vms if vm not in vmids]
    if missing:
        return JobOutcome(
            job.name,
            job.id,
            job.kind,
            ok=False,
            error=f"VM(s) {', '.join(missing)} do not exist: the job was left as it was",
        )
    ids = tuple(sorted(vmids[vm] for vm in job.desired.vms))
    settings = {**dict(job.desired.settings), "vmid": ",".join(map(str, ids))}
    found = existing.get(job.id)
    if found is None:
        client.create_backup_job(job.id, settings)
        return JobOutcome(job.name, job.id, "create", vmids=ids)
    comment = found.settings.get("comment")
    if marked_lab(comment) != (lab, job.name):
        return JobOutcome(
            job.name, job.id, job.kind, ok=False, error="the job exists without the lab's mark"
        )
    # keys the lab manages but no longer sets are removed; other keys are left alone
    stale = [key for key in MANAGED if key not in settings and key in found.settings]
    client.update_backup_job(job.id, settings, delete=stale)
    return JobOutcome(job.name, job.id, "update", vmids=ids)
