"""``homelab backup status`` and ``homelab backup now``: what the lab's backups are, and one more.

``status`` reads, and changes nothing: the lab's VMs (``/cluster/resources``), the backup jobs
(``/cluster/backup``), PVE's own list of guests no job covers
(``/cluster/backup-info/not-backed-up``) and the backups on the spec's backup storage (one
content listing per node holding a VM of the lab, one in all for a shared storage). Its verdict is
``homelab.core.backup.status``'s; the newest etcd snapshot is the newer of the one kept on this
machine and those the control planes' timers keep (read through the guest agent).

``now`` runs vzdump through the API on each node holding VMs of the lab (all of them or the one
named), to the spec's backup storage, and waits for it; the archives it wrote are read from the
task's log. It does not prune (the job's next run does, by its retention).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from homelab.core.backup.jobs import ObservedJob
from homelab.core.backup.status import BackupCopy, JobRow, VmBackups, backup_rows, job_rows
from homelab.core.ownership import lab_vms
from homelab.core.spec.models import LabSpec
from homelab.core.spec.monitoring import duration_seconds
from homelab.engine.proxmox.client import PveClient
from homelab.errors import LabError
from homelab.verbs.connection import Connection
from homelab.verbs.etcd_schedule import NodeSnapshots, node_snapshots
from homelab.verbs.lab import LabContext
from homelab.verbs.metrics import etcd_dir, last_drills, newest_snapshot

__all__ = ["BackupRun", "BackupStatus", "backup_now", "backup_status"]

_ARCHIVE = re.compile(r"creating (?:vzdump |Proxmox Backup Server )?archive '([^']+)'")


class NoBackupSection(LabError):
    """The spec has no ``backup:`` section."""


@dataclass(frozen=True)
class BackupStatus:
    lab: str
    storage: str
    vms: tuple[VmBackups, ...]
    jobs: tuple[JobRow, ...]
    pve_uncovered: tuple[str, ...]  # the lab's VMs in PVE's not-backed-up list
    etcd_newest: float | None
    etcd_max_age: float | None
    now: float  # Proxmox's clock, which dated the VM backups
    drills: dict[str, dict[str, object]] = field(default_factory=dict)  # the last one per VM
    local_now: float = 0.0  # this machine's clock, which dated the etcd snapshots kept here
    # the control planes' scheduled snapshots, dated by the guests' clocks (read against PVE's)
    etcd_nodes: dict[str, NodeSnapshots] = field(default_factory=dict)

    @property
    def etcd_age(self) -> float | None:
        """Seconds since the newest etcd snapshot, here or on a control plane."""
        ages = [self.local_now - self.etcd_newest] if self.etcd_newest is not None else []
        ages += [self.now - n.newest for n in self.etcd_nodes.values() if n.newest is not None]
        return max(0.0, min(ages)) if ages else None

    @property
    def problems(self) -> list[str]:
        out = [f"vm {row.vm}: {problem}" for row in self.vms for problem in row.problems]
        out += [f"vm {vm}: Proxmox lists it as not backed up" for vm in self.pve_uncovered]
        out += [
            f"vm {vm}: its last drill failed ({drill.get('detail')})"
            for vm, drill in sorted(self.drills.items())
            if not drill.get("ok") and vm in {row.vm for row in self.vms}
        ]
        out += [
            f"backup job {job.name} is not on Proxmox (run apply)"
            for job in self.jobs
            if not job.on_proxmox
        ]
        if self.etcd_max_age is not None:
            age = self.etcd_age
            if age is None:
                out.append("etcd: no snapshot yet, on this machine or on a control plane")
            elif age > self.etcd_max_age:
                out.append("etcd: the newest snapshot is older than its max_age")
        for vm, node in sorted(self.etcd_nodes.items()):
            if node.last_run_failed:
                out.append(
                    f"etcd: the last scheduled snapshot on {vm} failed "
                    "(journalctl -u homelab-etcd-snapshot)"
                )
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {
            "lab": self.lab,
            "storage": self.storage,
            "ok": self.ok,
            "problems": self.problems,
            "vms": [{**row.to_dict(), "last_drill": self.drills.get(row.vm)} for row in self.vms],
            "jobs": [job.to_dict() for job in self.jobs],
            "proxmox_not_backed_up": list(self.pve_uncovered),
            "etcd": {
                "newest": self.etcd_newest,
                "age_seconds": self.etcd_age,
                "max_age_seconds": self.etcd_max_age,
                "control_planes": {vm: n.to_dict() for vm, n in sorted(self.etcd_nodes.items())},
            },
        }


def backup_storage_of(spec: LabSpec) -> str:
    if spec.backup is None:
        raise NoBackupSection(
            f"the lab {spec.name} has no backup: section",
            hint="add one (README: Backups) and run `homelab apply`",
        )
    return spec.backup.storage.storage_id


def backup_copies(client: PveClient, storage: str, nodes: list[str]) -> dict[int, list[BackupCopy]]:
    """Every backup on ``storage`` by VMID: one listing per node, one in all when shared."""
    configs = client.storage_configs()
    shared = storage in configs and configs[storage].shared
    found: dict[int, list[BackupCopy]] = {}
    seen: set[str] = set()
    for node in nodes[:1] if shared else nodes:
        for item in client.storage_content(node, storage, "backup"):
            if item.vmid is None or item.ctime is None or item.volid in seen:
                continue
            seen.add(item.volid)
            found.setdefault(item.vmid, []).append(
                BackupCopy(
                    volid=item.volid,
                    ctime=item.ctime,
                    size=item.size,
                    notes=item.notes,
                    verified=item.verified,
                    protected=item.protected,
                )
            )
    return found


def _etcd_newest(spec_path: Path, lab: str) -> float | None:
    folder = etcd_dir(spec_path, lab)
    try:
        return newest_snapshot(folder)
    except OSError as exc:
        raise LabError(f"cannot read the etcd snapshots in {folder}: {exc.strerror}") from exc


def backup_status(conn: Connection, ctx: LabContext) -> BackupStatus:
    """Read the lab's backups (see the module docstring)."""
    spec = ctx.spec
    storage = backup_storage_of(spec)
    client = conn.client
    resources = client.cluster_resources()
    ours = {vm.name: vm for vm in lab_vms(spec.name, resources.vms) if vm.name in spec.vms}
    jobs = [ObservedJob(j.id, j.settings, j.vmids, j.next_run) for j in client.backup_jobs()]
    uncovered = {item.vmid for item in client.not_backed_up()}
    nodes = sorted({vm.node for vm in ours.values()})
    copies = backup_copies(client, storage, nodes) if nodes else {}
    # ages are measured on Proxmox's clock, which dated the backups
    now = float(client.node_time(nodes[0] if nodes else spec.proxmox.nodes[0]))
    vmids = {name: vm.vmid for name, vm in ours.items() if name is not None}
    etcd = spec.backup.etcd if spec.backup is not None else None
    return BackupStatus(
        lab=spec.name,
        storage=storage,
        vms=tuple(backup_rows(spec, vmids, jobs, copies, now)),
        jobs=tuple(job_rows(spec, jobs)),
        pve_uncovered=tuple(name for name, vmid in vmids.items() if vmid in uncovered),
        etcd_newest=_etcd_newest(ctx.spec_path, spec.name),
        etcd_max_age=duration_seconds(etcd.max_age) if etcd is not None else None,
        now=now,
        drills=last_drills(ctx),
        local_now=time.time(),
        etcd_nodes=node_snapshots(conn, ctx),
    )


@dataclass
class BackupRun:
    """What ``backup now`` made, per node: the archives, or the error."""

    archives: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def backup_now(conn: Connection, ctx: LabContext, vm: str | None = None) -> BackupRun:
    """vzdump the lab's VMs (or ``vm``) to the backup storage and wait (module docstring)."""
    spec = ctx.spec
    storage = backup_storage_of(spec)
    if vm is not None and vm not in spec.vms:
        raise LabError(f"'{vm}' is not a VM of the lab {spec.name}")
    client = conn.client
    ours = [
        v
        for v in lab_vms(spec.name, client.cluster_resources().vms)
        if v.name in spec.vms and (vm is None or v.name == vm)
    ]
    if not ours:
        raise LabError(
            f"no VM of the lab {spec.name} exists{f' named {vm}' if vm else ''}: "
            "nothing to back up",
            hint="run `homelab apply` first",
        )
    run = BackupRun()
    by_node: dict[str, list[int]] = {}
    for guest in ours:
        by_node.setdefault(guest.node, []).append(guest.vmid)
    for node, vmids in sorted(by_node.items()):
        try:
            result = client.run_task(
                partial(client.vzdump, node, vmids, storage), what=f"vzdump on {node}"
            )
            lines = client.task_log(result.upid.raw) if result is not None else ()
            run.archives[node] = [m.group(1) for m in map(_ARCHIVE.search, lines) if m]
        except LabError as exc:
            run.errors[node] = exc.message
    return run
