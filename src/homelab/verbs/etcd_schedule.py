"""Scheduled etcd snapshots: the control planes' timer made to match ``backup.etcd``.

``up`` and ``restore cluster`` call ``schedule_snapshots`` once the cluster is healthy. Through
the guest agent (no SSH) it reads the script and unit files on each running control plane and
writes only what differs (``core.render.etcd_schedule``), then reloads systemd and enables and
(re)starts the timer; a control plane whose files match and whose timer runs is left alone, so a
second ``up`` changes nothing. Without ``backup.etcd`` a timer the tool installed (its files
carry the tool's mark) is stopped and its files removed; the snapshots already taken stay in
``SNAPSHOT_DIR``. A file without the mark at one of these paths is not the tool's: refused.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from homelab.core.ownership import lab_vms
from homelab.core.render.etcd_schedule import (
    MARK,
    PATHS,
    SERVICE,
    SNAPSHOT_DIR,
    TIMER,
    UnitFile,
    snapshot_units,
)
from homelab.core.spec.backup import EtcdBackup
from homelab.errors import LabError
from homelab.verbs.connection import Connection
from homelab.verbs.etcd import EtcdHost
from homelab.verbs.guest_log import lab_channel
from homelab.verbs.lab import LabContext

__all__ = ["ScheduleFailed", "SnapshotSchedule", "schedule_snapshots"]

Step = Callable[[str], None]


class ScheduleFailed(LabError):
    """The snapshot timer could not be installed, changed or removed on a control plane."""


@dataclass(frozen=True)
class SnapshotSchedule:
    """What ``schedule_snapshots`` did: per control plane ``installed``, ``updated``,
    ``unchanged``, ``removed`` or ``absent`` (nothing to remove)."""

    schedule: str | None
    nodes: dict[str, str]

    @property
    def changed(self) -> bool:
        return any(state in {"installed", "updated", "removed"} for state in self.nodes.values())

    def to_dict(self) -> dict[str, object]:
        return {"schedule": self.schedule, "directory": SNAPSHOT_DIR, "nodes": dict(self.nodes)}


def schedule_snapshots(conn: Connection, ctx: LabContext, step: Step) -> SnapshotSchedule:
    etcd = ctx.spec.backup.etcd if ctx.spec.backup is not None else None
    channel = lab_channel(conn, ctx)
    running = {
        vm.name: vm
        for vm in lab_vms(ctx.lab, conn.client.cluster_vms())
        if vm.name in ctx.spec.control_planes and vm.status == "running"
    }
    nodes: dict[str, str] = {}
    for name in ctx.spec.control_planes:
        vm = running.get(name)
        if vm is None:
            continue
        host = EtcdHost(channel, name, vm.node, vm.vmid, ScheduleFailed)
        if etcd is None:
            nodes[name] = _remove(host, step)
        else:
            nodes[name] = _install(host, etcd, step)
    return SnapshotSchedule(etcd.schedule if etcd is not None else None, nodes)


def _present(host: EtcdHost, paths: Sequence[str]) -> set[str]:
    """Which of ``paths`` exist as files, asked in one command."""
    script = f'for f in {shlex.join(paths)}; do if [ -f "$f" ]; then echo "$f"; fi; done'
    found = host.sh(script, "look for the timer's files")
    return set(found.split()) & set(paths)


def _read(host: EtcdHost, path: str, present: set[str]) -> str | None:
    """The file's text, or None when it does not exist."""
    if path not in present:
        return None
    text = host.channel.read_file(host.node, host.vmid, path).decode("utf-8", "replace")
    if MARK not in text:
        raise ScheduleFailed(
            f"vm {host.name}: {path} exists and was not written by homelab: not overwritten",
            hint="move it away (or rename its timer) and run the command again",
        )
    return text


def _install(host: EtcdHost, etcd: EtcdBackup, step: Step) -> str:
    files = snapshot_units(etcd)
    present = _present(host, [f.path for f in files])
    stale = [f for f in files if _read(host, f.path, present) != f.text]
    active = host.channel.run(
        host.node, host.vmid, ["systemctl", "is-active", TIMER], timeout=60.0
    ).stdout.strip()
    if not stale and active == "active":
        return "unchanged"
    fresh = len(stale) == len(files)
    step(f"{'scheduling' if fresh else 'updating'} etcd snapshots on {host.name} ({etcd.schedule})")
    for unit in stale:
        _write(host, unit)
    host.run(["systemctl", "daemon-reload"], "systemctl daemon-reload")
    host.run(["systemctl", "enable", TIMER], f"systemctl enable {TIMER}")
    host.run(["systemctl", "restart", TIMER], f"systemctl restart {TIMER}")
    return "installed" if fresh else "updated"


def _write(host: EtcdHost, unit: UnitFile) -> None:
    host.run(["mkdir", "-p", unit.path.rsplit("/", 1)[0]], "mkdir")
    host.channel.write_file(host.node, host.vmid, unit.path, unit.text.encode())
    host.run(["chmod", f"{unit.mode:o}", unit.path], f"chmod {unit.path}")


def _remove(host: EtcdHost, step: Step) -> str:
    there = _present(host, PATHS)
    present = [path for path in PATHS if _read(host, path, there) is not None]
    if not present:
        return "absent"
    step(f"removing the etcd snapshot timer from {host.name} (its snapshots stay)")
    if PATHS[-1] in present:
        host.run(["systemctl", "disable", "--now", TIMER], f"systemctl disable --now {TIMER}")
    host.run(["rm", "-f", *present], "rm")
    host.run(["systemctl", "daemon-reload"], "systemctl daemon-reload")
    return "removed"


@dataclass(frozen=True)
class NodeSnapshots:
    """The scheduled snapshots on one control plane, as ``backup status`` reports them."""

    newest: float | None  # Unix time of the newest, by the guest's clock
    count: int
    last_run_failed: bool
    error: str | None = None  # why they could not be read

    def to_dict(self) -> dict[str, object]:
        return {
            "newest": self.newest,
            "count": self.count,
            "last_run_failed": self.last_run_failed,
            "error": self.error,
        }


def node_snapshots(conn: Connection, ctx: LabContext) -> dict[str, NodeSnapshots]:
    """Per running control plane: its scheduled snapshots (empty without ``backup.etcd``)."""
    if ctx.spec.backup is None or ctx.spec.backup.etcd is None:
        return {}
    channel = lab_channel(conn, ctx)
    out: dict[str, NodeSnapshots] = {}
    for vm in lab_vms(ctx.lab, conn.client.cluster_vms()):
        if vm.name not in ctx.spec.control_planes:
            continue
        if vm.status != "running":
            out[vm.name] = NodeSnapshots(None, 0, False, f"the VM is {vm.status}")
            continue
        try:
            listed = channel.run(vm.node, vm.vmid, ["ls", "-1", SNAPSHOT_DIR], timeout=60.0)
            failed = channel.run(
                vm.node, vm.vmid, ["systemctl", "is-failed", SERVICE], timeout=60.0
            )
        except LabError as exc:
            out[vm.name] = NodeSnapshots(None, 0, False, exc.message)
            continue
        times = [
            int(name.removesuffix(".db"))
            for name in listed.stdout.split()
            if name.endswith(".db") and name.removesuffix(".db").isdigit()
        ]
        out[vm.name] = NodeSnapshots(
            newest=float(max(times)) if times else None,
            count=len(times),
            last_run_failed=failed.stdout.strip() == "failed",
        )
    return out
