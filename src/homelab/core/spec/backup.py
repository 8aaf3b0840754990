"""The ``backup:`` section of a lab spec: where backups go, the jobs that make them, etcd snapshots.

- ``storage``: a Proxmox Backup Server datastore the tool adds to PVE (``pbs``), or the id of a
  PVE storage that already holds ``backup`` content (``existing``);
- ``jobs``: PVE backup jobs (``/cluster/backup``) owned by the lab: which VMs (``all`` of the lab,
  by ``role`` or by name), a PVE calendar-event ``schedule`` (checked here by PVE's rules), the
  vzdump ``mode``, a ``retention`` (PVE's ``prune-backups``), a ``notes`` template and the
  ``max_age`` after which a VM counts as not backed up;
- ``etcd``: when the control planes snapshot etcd and how many snapshots are kept.

The PBS token's secret never appears here: it comes from the environment variable ``token_env``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from homelab.core.backup.calendar import CalendarError, parse_calendar_event
from homelab.core.spec.monitoring import ENV_NAME_RE, Duration

# PVE's formats (pve-common JSONSchema.pm): pve-storage-id and pve-configid.
STORAGE_ID_RE = r"^[a-z][a-z0-9\-_.]*[a-z0-9]$"
JOB_NAME_RE = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
PBS_TOKEN_RE = r"^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+![A-Za-z][A-Za-z0-9._-]*$"  # noqa: S105 - a pattern
FINGERPRINT_RE = r"^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$"
# PBS datastore and namespace names (pbs-api-types: SAFE_ID, a namespace of up to 7 levels).
DATASTORE_RE = r"^[A-Za-z0-9_][A-Za-z0-9._-]*$"
NAMESPACE_RE = r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*){0,6}$"
# vzdump's notes-template variables (pve-manager VZDump.pm); anything else only warns in PVE.
NOTES_VARIABLES = frozenset({"cluster", "guestname", "node", "vmid"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCHEDULE_MAX = 128  # the schema's maxLength of `schedule`
NOTES_MAX = 1024  # the schema's maxLength of `notes-template`


def _check_schedule(text: str) -> str:
    if len(text) > SCHEDULE_MAX:
        raise ValueError(f"a schedule is at most {SCHEDULE_MAX} characters")
    try:
        event = parse_calendar_event(text)
    except CalendarError as exc:
        raise ValueError(str(exc)) from None
    if event.next_run(_EPOCH) is None:
        raise ValueError(f"schedule {text!r} matches no date (such as 30 February): it never runs")
    return text


Schedule = Annotated[
    str,
    AfterValidator(_check_schedule),
    Field(description="a PVE calendar event: '02:30', 'mon..fri 22:00', 'sat *-1..7 03:00'"),
]


def _check_notes(text: str) -> str:
    if len(text) > NOTES_MAX:
        raise ValueError(f"notes are at most {NOTES_MAX} characters")
    if "\n" in text:
        raise ValueError("notes are one line (write \\n for a line break, as PVE does)")
    unknown = sorted(set(re.findall(r"\{\{([^}]*)\}\}", text)) - NOTES_VARIABLES)
    if unknown:
        raise ValueError(
            f"unknown notes variable {{{{{unknown[0]}}}}}: PVE knows "
            + ", ".join(f"{{{{{v}}}}}" for v in sorted(NOTES_VARIABLES))
        )
    return text


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Retention(_Model):
    """PVE's ``prune-backups`` (and PBS's prune options): how many backups of each age to keep.
    Every count is at least 1; an unset one keeps nothing by that rule."""

    keep_last: Annotated[int | None, Field(ge=1)] = None
    keep_hourly: Annotated[int | None, Field(ge=1)] = None
    keep_daily: Annotated[int | None, Field(ge=1)] = None
    keep_weekly: Annotated[int | None, Field(ge=1)] = None
    keep_monthly: Annotated[int | None, Field(ge=1)] = None
    keep_yearly: Annotated[int | None, Field(ge=1)] = None

    @model_validator(mode="after")
    def _keeps_something(self) -> Retention:
        if not self.counts():
            raise ValueError(
                "a retention keeps something: set at least one of keep_last, keep_hourly, "
                "keep_daily, keep_weekly, keep_monthly, keep_yearly"
            )
        return self

    def counts(self) -> dict[str, int]:
        """``{"last": 3, "daily": 7}``: the rules that are set, in PVE's order."""
        out: dict[str, int] = {}
        for rule in ("last", "hourly", "daily", "weekly", "monthly", "yearly"):
            value = getattr(self, f"keep_{rule}")
            if value is not None:
                out[rule] = value
        return out

    def prune_backups(self) -> str:
        """The value PVE takes: ``keep-last=3,keep-daily=7``."""
        return ",".join(f"keep-{rule}={n}" for rule, n in self.counts().items())


class PbsStorage(_Model):
    """A Proxmox Backup Server datastore, added to PVE as storage ``id`` (type ``pbs``)."""

    id: Annotated[str, Field(pattern=STORAGE_ID_RE, description="the PVE storage id to create")]
    server: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9.:\[\]-]+$")]
    port: Annotated[int, Field(ge=1, le=65535)] = 8007
    datastore: Annotated[str, Field(pattern=DATASTORE_RE)]
    namespace: Annotated[str | None, Field(pattern=NAMESPACE_RE)] = None
    fingerprint: Annotated[
        str | None, Field(pattern=FINGERPRINT_RE, description="SHA-256 of PBS's certificate")
    ] = None
    token_id: Annotated[str, Field(pattern=PBS_TOKEN_RE, description="user@realm!name on PBS")]
    token_env: Annotated[str, Field(pattern=ENV_NAME_RE)] = "HOMELAB_PBS_TOKEN"  # noqa: S105
    encrypt: Annotated[
        bool,
        Field(description="client-side encryption: PVE makes a key, homelab keeps it sealed"),
    ] = False


class BackupStorage(_Model):
    """Exactly one of ``pbs`` (the tool adds it) or ``existing`` (a PVE storage id)."""

    pbs: PbsStorage | None = None
    existing: Annotated[str | None, Field(pattern=STORAGE_ID_RE)] = None

    @model_validator(mode="after")
    def _one(self) -> BackupStorage:
        if (self.pbs is None) == (self.existing is None):
            raise ValueError(
                "give exactly one of pbs (a PBS datastore) and existing (a storage id)"
            )
        return self

    @property
    def storage_id(self) -> str:
        return self.pbs.id if self.pbs is not None else str(self.existing)


class RoleSelector(_Model):
    role: Literal["control-plane", "worker"]


VmSelection = Literal["all"] | list[str] | RoleSelector


class BackupJob(_Model):
    """One PVE backup job over VMs of the lab."""

    vms: Annotated[
        VmSelection, Field(description="'all', a list of VM names, or {role: control-plane}")
    ] = "all"
    schedule: Schedule
    mode: Literal["snapshot", "suspend", "stop"] = "snapshot"
    retention: Retention
    notes: Annotated[str, AfterValidator(_check_notes)] = "{{guestname}}"
    max_age: Duration = "36h"
    enabled: bool = True
    repeat_missed: bool = False


class EtcdBackup(_Model):
    """Snapshots of etcd on the control planes (``etcdctl snapshot save``), pruned by
    ``retention``."""

    schedule: Schedule = "hourly"
    retention: Retention = Retention(keep_last=24, keep_daily=7)
    max_age: Duration = "26h"


class BackupSpec(_Model):
    storage: BackupStorage
    jobs: Annotated[
        dict[str, BackupJob], Field(description="name -> job; names as PVE job ids")
    ] = Field(default_factory=dict)
    etcd: EtcdBackup | None = None
