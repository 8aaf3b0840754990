"""``homelab backup status``: per VM of the lab, its newest backup and what is wrong with it. Pure.

A VM is in trouble when no backup job covers it (PVE's ``not-backed-up`` view agrees: a disabled
job still counts as covering there, but it makes no backups, so here it does not), when it has no
backup at all, or when its newest backup is older than the ``max_age`` of the jobs covering it
(the strictest one). A PBS backup whose verification failed counts as a problem too: it exists,
but it is not known to be restorable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from homelab.core.backup.jobs import ObservedJob, job_id
from homelab.core.spec.models import LabSpec
from homelab.core.spec.monitoring import duration_seconds

__all__ = ["BackupCopy", "JobRow", "VmBackups", "backup_rows", "job_rows"]


@dataclass(frozen=True)
class BackupCopy:
    """One backup volume of a VM."""

    volid: str
    ctime: int
    size: int | None = None
    notes: str | None = None
    verified: str | None = None  # PBS: "ok" | "failed"; None when never verified (or not PBS)
    protected: bool = False


@dataclass(frozen=True)
class VmBackups:
    vm: str
    vmid: int | None
    jobs: tuple[str, ...]
    newest: BackupCopy | None
    count: int
    max_age: float | None
    age: float | None
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        newest = self.newest
        return {
            "vm": self.vm,
            "vmid": self.vmid,
            "jobs": list(self.jobs),
            "count": self.count,
            "newest": None
            if newest is None
            else {
                "volid": newest.volid,
                "ctime": newest.ctime,
                "size": newest.size,
                "notes": newest.notes,
                "verified": newest.verified,
                "protected": newest.protected,
            },
            "age_seconds": self.age,
            "max_age_seconds": self.max_age,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class JobRow:
    name: str
    id: str
    schedule: str
    enabled: bool
    next_run: int | None
    on_proxmox: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "id": self.id,
            "schedule": self.schedule,
            "enabled": self.enabled,
            "next_run": self.next_run,
            "on_proxmox": self.on_proxmox,
        }


def job_rows(spec: LabSpec, observed: Iterable[ObservedJob]) -> list[JobRow]:
    """The spec's jobs as PVE has them (``on_proxmox`` False: not applied yet)."""
    if spec.backup is None:
        return []
    by_id = {job.id: job for job in observed}
    rows = []
    for name, job in spec.backup.jobs.items():
        found = by_id.get(job_id(spec.name, name))
        rows.append(
            JobRow(
                name=name,
                id=job_id(spec.name, name),
                schedule=found.settings.get("schedule", job.schedule) if found else job.schedule,
                enabled=(found.settings.get("enabled", "1") != "0") if found else job.enabled,
                next_run=found.next_run if found else None,
                on_proxmox=found is not None,
            )
        )
    return rows


def _age_text(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"


def backup_rows(
    spec: LabSpec,
    vmids: Mapping[str, int],
    observed: Iterable[ObservedJob],
    copies: Mapping[int, Sequence[BackupCopy]],
    now: float,
) -> list[VmBackups]:
    """One row per VM of the spec: which of the lab's jobs cover it (as PVE has them: enabled and
    naming its VMID), its newest backup, the strictest ``max_age`` of the spec's jobs that
    select it, and its problems."""
    by_id = {job.id: job for job in observed}
    rows = []
    jobs = spec.backup.jobs if spec.backup is not None else {}
    for vm in spec.vms:
        vmid = vmids.get(vm)
        covering = []
        ages = []
        for name, job in jobs.items():
            if vm in spec.backup_vms(name):  # the spec's jobs set the VM's max_age
                ages.append(duration_seconds(job.max_age))
            found = by_id.get(job_id(spec.name, name))
            if (
                found is not None
                and vmid is not None
                and vmid in found.vmids
                and found.settings.get("enabled", "1") != "0"
            ):
                covering.append(name)
        mine = sorted(copies.get(vmid, ()) if vmid is not None else (), key=lambda c: c.ctime)
        newest = mine[-1] if mine else None
        max_age = min(ages) if ages else None
        age = max(0.0, now - newest.ctime) if newest is not None else None
        problems = []
        if vmid is None:
            problems.append("the VM does not exist")
        elif not covering:
            problems.append("no enabled backup job of the lab covers it")
        if vmid is not None and newest is None:
            problems.append("no backup yet")
        if age is not None and max_age is not None and age > max_age:
            problems.append(
                f"the newest backup is {_age_text(age)} old (max_age {_age_text(max_age)})"
            )
        if newest is not None and newest.verified == "failed":
            problems.append("the newest backup failed verification")
        rows.append(
            VmBackups(
                vm=vm,
                vmid=vmid,
                jobs=tuple(covering),
                newest=newest,
                count=len(mine),
                max_age=max_age,
                age=age,
                problems=tuple(problems),
            )
        )
    return rows
