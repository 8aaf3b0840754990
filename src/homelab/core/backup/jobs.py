"""The lab's PVE backup jobs: what the spec wants, whose a job is, and what apply must do. Pure.

A job of the lab is a ``/cluster/backup`` entry with id ``homelab-<lab>-<job>`` whose ``comment``
carries the lab's mark (``homelab lab=<lab> job=<job>``): the mark, not the id, proves it is the
lab's, so a job someone else made is never changed, and one with the lab's id but not its mark
stops the plan. A job of the lab whose name the spec no longer has is deleted.

The spec names VMs; PVE wants VMIDs. The plan compares the job's ``vmid`` list with the VMIDs
the named VMs have now. A VM the plan creates or replaces gets its VMID only during apply, so
the job's VMIDs are fixed after the VMs' actions (``JobAction.pending``) and apply resolves them
from what it made. Settings are compared as PVE returns them (text); ``schedule`` is stored as
written, so it is compared as written.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from homelab.core.spec.models import LabSpec

__all__ = [
    "JOB_MARK_RE",
    "DesiredJob",
    "JobAction",
    "JobChange",
    "ObservedJob",
    "desired_jobs",
    "job_id",
    "job_mark",
    "jobs_digest",
    "plan_jobs",
    "retire_jobs",
]

JOB_MARK_RE = re.compile(r"^homelab lab=(?P<lab>[a-z0-9-]+) job=(?P<job>[a-z0-9-]+)$")
# The settings the lab manages; any other key of a job of the lab is left as it is.
MANAGED = (
    "schedule",
    "storage",
    "mode",
    "compress",
    "prune-backups",
    "notes-template",
    "enabled",
    "repeat-missed",
    "comment",
)


def job_id(lab: str, job: str) -> str:
    return f"homelab-{lab}-{job}"


def job_mark(lab: str, job: str) -> str:
    return f"homelab lab={lab} job={job}"


def marked_lab(comment: str | None) -> tuple[str, str] | None:
    """(lab, job) of a job's mark, or None when the comment is not one."""
    match = JOB_MARK_RE.match(comment or "")
    return (match.group("lab"), match.group("job")) if match else None


@dataclass(frozen=True)
class ObservedJob:
    """A ``/cluster/backup`` entry: its id, its settings as text, its VMIDs, its next run."""

    id: str
    settings: Mapping[str, str]
    vmids: frozenset[int]
    next_run: int | None = None


@dataclass(frozen=True)
class DesiredJob:
    """A job as the spec wants it: PVE's settings (without ``vmid``) and the VMs it covers."""

    name: str
    id: str
    vms: tuple[str, ...]
    settings: tuple[tuple[str, str], ...]

    def setting(self, key: str) -> str | None:
        return dict(self.settings).get(key)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "id": self.id,
            "vms": list(self.vms),
            "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> DesiredJob:
        vms = data["vms"]
        settings = data["settings"]
        if not isinstance(vms, list) or not isinstance(settings, Mapping):
            raise TypeError("a backup job needs a list of vms and a mapping of settings")
        return cls(
            name=str(data["name"]),
            id=str(data["id"]),
            vms=tuple(str(v) for v in vms),
            settings=tuple(sorted((str(k), str(v)) for k, v in settings.items())),
        )


@dataclass(frozen=True)
class JobChange:
    key: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class JobAction:
    """``create``, ``update``, ``delete`` or ``no-op`` of one job. ``pending`` names the VMs
    whose VMIDs apply learns when it has made them; ``vmids`` are the ones known at plan time."""

    kind: str
    id: str
    name: str
    reason: str
    desired: DesiredJob | None = None
    vmids: tuple[int, ...] = ()
    pending: tuple[str, ...] = ()
    changes: tuple[JobChange, ...] = field(default=())

    @property
    def changes_anything(self) -> bool:
        return self.kind != "no-op"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "reason": self.reason,
            "desired": self.desired.to_dict() if self.desired else None,
            "vmids": list(self.vmids),
            "pending": list(self.pending),
            "changes": [vars(c).copy() for c in self.changes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> JobAction:
        desired = data["desired"]
        vmids, pending, changes = data["vmids"], data["pending"], data["changes"]
        if not isinstance(vmids, list) or not isinstance(pending, list):
            raise TypeError("vmids and pending are lists")
        if not isinstance(changes, list):
            raise TypeError("changes is a list")
        kind = str(data["kind"])
        if kind not in {"create", "update", "delete", "no-op"}:
            raise ValueError(f"unknown backup job action {kind!r}")
        return cls(
            kind=kind,
            id=str(data["id"]),
            name=str(data["name"]),
            reason=str(data["reason"]),
            desired=DesiredJob.from_dict(desired) if isinstance(desired, Mapping) else None,
            vmids=tuple(int(str(v)) for v in vmids),
            pending=tuple(str(p) for p in pending),
            changes=tuple(JobChange(**c) for c in changes),
        )


def desired_jobs(spec: LabSpec) -> list[DesiredJob]:
    """The spec's jobs with PVE's settings, in spec order."""
    if spec.backup is None:
        return []
    storage = spec.backup.storage.storage_id
    out = []
    for name, job in spec.backup.jobs.items():
        settings = {
            "schedule": job.schedule,
            "storage": storage,
            "mode": job.mode,
            "compress": "zstd",
            "prune-backups": job.retention.prune_backups(),
            "notes-template": job.notes,
            "enabled": "1" if job.enabled else "0",
            "repeat-missed": "1" if job.repeat_missed else "0",
            "comment": job_mark(spec.name, name),
        }
        out.append(
            DesiredJob(
                name=name,
                id=job_id(spec.name, name),
                vms=tuple(spec.backup_vms(name)),
                settings=tuple(sorted(settings.items())),
            )
        )
    return out


_DEFAULTS = {"enabled": "1", "repeat-missed": "0", "mode": "snapshot", "compress": "0"}


def _normal(key: str, value: str | None) -> str | None:
    """A setting as compared: PVE leaves defaults out and may write booleans as 0/1."""
    if value is None:
        return _DEFAULTS.get(key)
    if key in {"enabled", "repeat-missed"}:
        return "1" if value.lower() in {"1", "true", "yes", "on"} else "0"
    if key == "prune-backups":
        return ",".join(sorted(p.strip() for p in value.split(",") if p.strip()))
    return value


def plan_jobs(
    spec: LabSpec,
    observed: Iterable[ObservedJob],
    vmids: Mapping[str, int],
    pending: Iterable[str],
) -> tuple[list[JobAction], list[str]]:
    """The job actions and the errors that stop the plan.

    ``vmids`` maps the lab's VMs to their current VMIDs (left as they are by the plan);
    ``pending`` names the VMs the plan creates or replaces (new VMIDs during apply)."""
    waiting = set(pending)
    by_id = {job.id: job for job in observed}
    actions: list[JobAction] = []
    errors: list[str] = []
    wanted = desired_jobs(spec)
    for want in wanted:
        now = tuple(sorted(vmids[vm] for vm in want.vms if vm in vmids and vm not in waiting))
        later = tuple(vm for vm in want.vms if vm in waiting or vm not in vmids)
        have = by_id.get(want.id)
        if have is None:
            actions.append(
                JobAction("create", want.id, want.name, "not on Proxmox", want, now, later)
            )
            continue
        owner = marked_lab(have.settings.get("comment"))
        if owner != (spec.name, want.name):
            errors.append(
                f"backup job {want.id} exists and is not this lab's job {want.name} (its comment "
                "is not the lab's mark): rename the job in the spec, or remove the other job"
            )
            continue
        changes = [
            JobChange(key, have.settings.get(key), value)
            for key, value in want.settings
            if _normal(key, have.settings.get(key)) != _normal(key, value)
        ]
        if later or frozenset(now) != have.vmids:
            changes.append(
                JobChange(
                    "vmid",
                    ",".join(map(str, sorted(have.vmids))) or None,
                    ",".join([*map(str, now), *(f"({vm})" for vm in later)]),
                )
            )
        if changes:
            reason = "settings changed" if not later else "VMs get new VMIDs"
            actions.append(
                JobAction("update", want.id, want.name, reason, want, now, later, tuple(changes))
            )
        else:
            actions.append(JobAction("no-op", want.id, want.name, "up to date", want, now))
    names = {want.name for want in wanted}
    actions += retire_jobs(spec.name, by_id.values(), "not in the spec", keep=names)
    return actions, errors


def jobs_digest(lab: str, observed: Iterable[ObservedJob]) -> str:
    """A fingerprint of the jobs a plan of ``lab`` looks at (its marked ones and those with its
    ids): a saved plan is stale when it changed."""
    prefix = f"homelab-{lab}-"
    seen = sorted(
        (job.id, sorted(job.settings.items()), sorted(job.vmids))
        for job in observed
        if job.id.startswith(prefix) or (marked_lab(job.settings.get("comment")) or ("",))[0] == lab
    )
    return hashlib.sha256(json.dumps(seen).encode()).hexdigest()[:16]


def retire_jobs(
    lab: str, observed: Iterable[ObservedJob], reason: str, keep: Iterable[str] = ()
) -> list[JobAction]:
    """Delete every job marked as ``lab``'s whose name is not in ``keep``."""
    kept = set(keep)
    out = []
    for job in sorted(observed, key=lambda j: j.id):
        owner = marked_lab(job.settings.get("comment"))
        if owner is not None and owner[0] == lab and owner[1] not in kept:
            out.append(JobAction("delete", job.id, owner[1], reason))
    return out
