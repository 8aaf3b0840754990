"""``homelab backup etcd``: an etcd snapshot of the lab's cluster, taken now, fetched, verified.

Everything goes through the QEMU guest agent of a control plane (no SSH): ``crictl`` finds the
etcd static pod's container; ``etcdctl snapshot save`` runs inside it with the client
certificate kubeadm made, into ``/var/lib/etcd`` (the container's host mount); ``etcdutl
snapshot status`` reads it back (revision, keys, size) and ``sha256sum`` gives its digest. The
file is read through the agent, checked against both (size and SHA-256), removed from the VM,
sealed with the state store's key (an etcd snapshot holds the cluster's Secrets: it is never
written in clear) and kept as ``.homelab/<lab>/etcd/<UTC time>.db.sealed``. The local copies are
then pruned by the spec's ``backup.etcd.retention`` (Proxmox's rules).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from homelab.core.backup.retention import kept
from homelab.core.ownership import lab_vms
from homelab.engine.guest.etcd import ETCDCTL, TIMEOUT, EtcdHost
from homelab.errors import LabError
from homelab.verbs.connection import Connection
from homelab.verbs.guest_log import lab_channel
from homelab.verbs.lab import LabContext
from homelab.verbs.metrics import etcd_dir

__all__ = [
    "ETCDCTL",
    "SEALED_SUFFIX",
    "EtcdHost",
    "EtcdSnapshot",
    "backup_etcd",
    "load_snapshot",
    "open_snapshot",
]

SEALED_SUFFIX = ".db.sealed"
REMOTE = "/var/lib/etcd/homelab-snapshot.db"


class SnapshotFailed(LabError):
    """An etcd snapshot could not be taken, fetched or verified."""


@dataclass(frozen=True)
class EtcdSnapshot:
    path: Path
    vm: str
    revision: int
    keys: int
    size: int
    sha256: str
    pruned: tuple[str, ...]


def backup_etcd(conn: Connection, ctx: LabContext) -> EtcdSnapshot:
    """Take, fetch, verify, seal and keep one snapshot (see the module docstring)."""
    planes = {
        vm.name: vm
        for vm in lab_vms(ctx.lab, conn.client.cluster_vms())
        if vm.name in ctx.spec.control_planes and vm.status == "running"
    }
    if not planes:
        raise SnapshotFailed(
            f"no control plane of the lab {ctx.lab} runs: there is no etcd to snapshot",
            hint="`homelab up` brings the cluster up",
        )
    name = next(n for n in ctx.spec.control_planes if n in planes)
    host = EtcdHost(
        lab_channel(conn, ctx),
        name,
        planes[name].node,
        planes[name].vmid,
        SnapshotFailed,
    )
    exec_ = ["crictl", "exec", host.etcd()]
    try:
        host.run([*exec_, *ETCDCTL, "snapshot", "save", REMOTE], "etcdctl snapshot save")
        status = json.loads(
            host.run(
                [*exec_, "etcdutl", "snapshot", "status", REMOTE, "-w", "json"],
                "etcdutl snapshot status",
            )
        )
        digest = host.run(["sha256sum", REMOTE], "sha256sum").split()[0]
        data = host.channel.read_file(host.node, host.vmid, REMOTE)
    finally:
        host.channel.run(host.node, host.vmid, ["rm", "-f", REMOTE], timeout=TIMEOUT)
    if len(data) != int(status["totalSize"]) or hashlib.sha256(data).hexdigest() != digest:
        raise SnapshotFailed(
            f"vm {name}: the snapshot read through the guest agent ({len(data)} bytes) is not the "
            f"one etcd wrote ({status['totalSize']} bytes, sha256 {digest[:12]}...): not kept"
        )
    folder = etcd_dir(ctx.spec_path, ctx.lab)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder / f"{stamp}{SEALED_SUFFIX}"
    sealed = ctx.store.cipher.seal(ctx.lab, f"etcd/{path.name}", data)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(sealed)
    pruned = _prune(ctx, folder)
    return EtcdSnapshot(
        path=path,
        vm=name,
        revision=int(status["revision"]),
        keys=int(status["totalKey"]),
        size=len(data),
        sha256=digest,
        pruned=tuple(pruned),
    )


def _prune(ctx: LabContext, folder: Path) -> list[str]:
    etcd = ctx.spec.backup.etcd if ctx.spec.backup is not None else None
    if etcd is None:
        return []
    files = {p.stat().st_mtime: p for p in folder.iterdir() if p.name.endswith(SEALED_SUFFIX)}
    keep = kept(files, etcd.retention.counts())
    removed = []
    for moment, path in sorted(files.items()):
        if moment not in keep:
            path.unlink()
            removed.append(path.name)
    return removed


def open_snapshot(ctx: LabContext, path: Path) -> bytes:
    """The etcd snapshot sealed in ``path`` (for a restore), checked by the store's key."""
    return ctx.store.cipher.open(ctx.lab, f"etcd/{path.name}", path.read_bytes())


def load_snapshot(ctx: LabContext, where: str) -> tuple[Path, bytes]:
    """The snapshot ``where`` names: ``latest`` (the newest ``backup etcd`` kept for the lab), a
    ``.db.sealed`` file (opened with the state store's key), or a plain etcd snapshot file
    (``etcdctl snapshot save`` made elsewhere, e.g. copied out of a VM backup)."""
    if where == "latest":
        folder = etcd_dir(ctx.spec_path, ctx.lab)
        found = (
            sorted(p for p in folder.iterdir() if p.name.endswith(SEALED_SUFFIX))
            if folder.is_dir()
            else []
        )
        if not found:
            raise LabError(
                f"no etcd snapshot of the lab {ctx.lab} is kept in {folder}",
                hint="`homelab backup etcd SPEC` takes one, or name a snapshot file",
            )
        return found[-1], open_snapshot(ctx, found[-1])
    path = Path(where).expanduser()
    if not path.is_file():
        raise LabError(f"{path}: no such snapshot file", hint="--etcd latest uses the newest kept")
    if path.name.endswith(SEALED_SUFFIX):
        return path, open_snapshot(ctx, path)
    return path, path.read_bytes()
