"""``homelab restore cluster --etcd SNAPSHOT``: the cluster brought back from an etcd snapshot.

For the day the control plane is lost (its VM, its disk, or the cluster's state itself). The
tool owns the cluster's PKI, so the control planes it builds anew carry the same CA, front-proxy
CA, etcd CA and service-account key: the workers' kubelets (whose client certificates that CA
signed) and every ServiceAccount token of the snapshot stay valid. The steps:

1. apply, as ``up`` does: VMs that are missing (the control planes, and any other) are created
   from the spec; a new control plane runs ``kubeadm init`` and brings up an empty cluster;
   the API server is waited for;
2. the snapshot is written into the first control plane through the guest agent (in pieces:
   PVE's ``file-write`` takes 60 KiB at most), put together, checked by size and SHA-256, and
   by ``etcdutl snapshot status`` in the etcd container;
3. ``etcdutl snapshot restore`` writes a new data directory for a one-member cluster (the node's
   name and peer URL, the revision bumped by 10^9 and marked compacted, as Kubernetes' own
   restore guide advises, so clients' watches start again instead of reading stale caches);
4. the kube-apiserver and etcd static pods are stopped (their manifests moved aside, and waited
   for until ``crictl`` shows neither), the data directory swapped (the old one is kept beside
   it, ``member.before-restore-<time>``), the manifests put back; if anything fails between
   stop and start the manifests are put back all the same, so the node is never left stopped;
5. the other control planes (HA labs) leave their old etcd cluster (``kubeadm reset``) and join
   again, one at a time; the join token is re-armed first (the snapshot's may have expired);
   ``etcdctl member list`` must then name every control plane;
6. every node's kubelet is restarted (Kubernetes' guide: components must not keep stale state;
   a kubelet whose Node object the snapshot did not have registers it again), and the tool
   waits until every node of the spec is Ready;
7. the new VMs' secret seed ISOs are replaced by their secret-free twins (``verbs.scrub``).

The rejoin of step 5 reads the kubeadm configuration and the CA material cloud-init wrote on
the node's disk at its first boot, never the seed ISO (which holds no secret by then).

A cluster whose control planes still exist is restored only with ``force``: everything written
since the snapshot is lost. The event is kept in the state store's history.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from homelab.core.ownership import lab_vms
from homelab.core.plan.actions import Plan
from homelab.core.render import bootstrap
from homelab.engine.apply.progress import ProgressSink
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.kubeconfig import credentials_of
from homelab.errors import KubeError, LabError
from homelab.verbs.connection import Connection
from homelab.verbs.etcd import ETCDCTL, EtcdHost
from homelab.verbs.etcd_schedule import schedule_snapshots
from homelab.verbs.guest_log import lab_channel
from homelab.verbs.lab import LabContext
from homelab.verbs.provision import apply_lab
from homelab.verbs.rearm import renew_token
from homelab.verbs.scrub import scrub_seeds
from homelab.verbs.secrets import cluster_secrets
from homelab.verbs.up import (
    DEFAULT_TIMEOUT,
    Converge,
    admin_conf_path,
    ensure_admin_kubeconfig,
    raise_if_failed,
)

__all__ = ["ClusterRestore", "RestoreRefused", "restore_cluster"]

ETCD_DIR = "/var/lib/etcd"
UPLOAD = f"{ETCD_DIR}/homelab-restore.db"
RESTORED = f"{ETCD_DIR}/homelab-restored"
PAUSED = "/etc/kubernetes/homelab-restore-paused"
MANIFESTS = "/etc/kubernetes/manifests"
CONTROL_PODS = ("etcd", "kube-apiserver")
CHUNK = 45_000  # bytes: 60 000 characters of base64, under file-write's 61 440
BUMP_REVISION = 1_000_000_000
STOP_TIMEOUT = 180.0
REJOIN_TIMEOUT = 900.0  # kubeadm join tries three times, 20 s apart, each up to minutes
POLL = 2.0

Step = Callable[[str], None]


class RestoreRefused(LabError):
    """The restore would overwrite a cluster that exists, and ``--force`` was not given."""


class RestoreFailed(KubeError):
    """A step of the restore failed; the message says which and what was left."""


@dataclass(frozen=True)
class ClusterRestore:
    lab: str
    node: str
    revision: int
    keys: int
    size: int
    sha256: str
    rejoined: tuple[str, ...]
    nodes_ready: tuple[str, ...]
    seconds: float
    snapshot_timers: dict[str, str]
    seeds_scrubbed: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "node": self.node,
            "revision": self.revision,
            "keys": self.keys,
            "size": self.size,
            "sha256": self.sha256,
            "rejoined": list(self.rejoined),
            "nodes_ready": list(self.nodes_ready),
            "seconds": round(self.seconds, 1),
            "etcd_snapshot_timers": dict(self.snapshot_timers),
            "seeds_scrubbed": dict(self.seeds_scrubbed),
        }


def restore_cluster(
    conn: Connection,
    ctx: LabContext,
    snapshot: bytes,
    *,
    force: bool = False,
    confirm: Callable[[Plan], bool],
    progress: ProgressSink | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_step: Step | None = None,
) -> ClusterRestore:
    """Bring the lab's cluster back from ``snapshot`` (see the module docstring)."""
    started = time.monotonic()
    step = on_step or (lambda _text: None)
    planes = ctx.spec.control_planes
    present = [vm.name for vm in lab_vms(ctx.lab, conn.client.cluster_vms()) if vm.name in planes]
    if present and not force:
        raise RestoreRefused(
            f"control plane(s) {', '.join(present)} of the lab {ctx.lab} exist: restoring the "
            "snapshot over them rolls the cluster back and loses everything written since",
            hint="pass --force to restore over the running cluster, or destroy those VMs first",
        )
    digest = hashlib.sha256(snapshot).hexdigest()
    applied = apply_lab(conn, ctx, confirm=confirm, progress=progress)
    raise_if_failed(applied)
    deadline = conn.clock.monotonic() + timeout
    converge = Converge(conn, ctx, deadline, step)
    reach = converge.api_server()
    secrets = cluster_secrets(ctx.store, ctx.lab)
    text = ensure_admin_kubeconfig(
        admin_conf_path(ctx.spec_path, ctx.lab), secrets, ctx.lab, reach.url, reach.server_name
    )
    with KubeApi(credentials_of(text)) as api:
        converge.wait_api(api)
    guests = _guests(conn, ctx)
    first = guests[planes[0]]
    status = _upload(first, snapshot, digest, step)
    step(f"restoring etcd on {first.name} from the snapshot (revision {status['revision']})")
    ip = str(ctx.spec.vms[first.name].ip)
    _swap_data_dir(first, ip, conn, step)
    with KubeApi(credentials_of(text)) as api:
        converge.wait_api(api, what="after the etcd restore, ")
        renew_token(api, ctx)  # the snapshot's token may have expired
        rejoined = []
        kube_vip = ctx.spec.kubernetes.control_plane_endpoint is not None
        for name in planes[1:]:
            step(f"{name} leaves its old etcd member and joins the restored cluster")
            join = ["kubeadm", "join", "--config", bootstrap.KUBEADM_CONFIG]
            rejoin = bootstrap.control_plane_rejoin(join, kube_vip=kube_vip)
            guests[name].run(rejoin, "kubeadm reset and join", timeout=REJOIN_TIMEOUT)
            rejoined.append(name)
        _check_members(first, planes)
        step("restarting every node's kubelet")
        for guest in guests.values():
            guest.run(["systemctl", "restart", "kubelet"], "systemctl restart kubelet")
        step("waiting for every node to be Ready")
        health = converge.wait_healthy(api)
    timers = schedule_snapshots(conn, ctx, step)
    scrubbed = scrub_seeds(conn, ctx, step)  # the new control planes' seeds hold the CA keys
    outcome = ClusterRestore(
        lab=ctx.lab,
        node=first.name,
        revision=int(status["revision"]),
        keys=int(status["totalKey"]),
        size=len(snapshot),
        sha256=digest,
        rejoined=tuple(rejoined),
        nodes_ready=tuple(sorted(n.name for n in health.nodes if n.ready)),
        seconds=time.monotonic() - started,
        snapshot_timers=timers.nodes,
        seeds_scrubbed=scrubbed.vms,
    )
    ctx.store.history(ctx.lab).append("restore-cluster", outcome.to_dict())
    return outcome


def _guests(conn: Connection, ctx: LabContext) -> dict[str, EtcdHost]:
    channel = lab_channel(conn, ctx)
    vms = {vm.name: vm for vm in lab_vms(ctx.lab, conn.client.cluster_vms())}
    missing = [n for n in ctx.spec.vms if n not in vms or vms[n].status != "running"]
    if missing:
        raise RestoreFailed(f"VM(s) {', '.join(missing)} do not run after apply")
    return {
        name: EtcdHost(channel, name, vms[name].node, vms[name].vmid, RestoreFailed)
        for name in ctx.spec.vms
    }


def _upload(guest: EtcdHost, snapshot: bytes, digest: str, step: Step) -> dict[str, Any]:
    """Write the snapshot into the guest, check it there; etcdutl's status of it."""
    step(f"writing the snapshot ({len(snapshot)} bytes) into {guest.name}")
    parts = []
    for index, offset in enumerate(range(0, len(snapshot), CHUNK)):
        part = f"{UPLOAD}.part{index:05d}"
        guest.channel.write_file(guest.node, guest.vmid, part, snapshot[offset : offset + CHUNK])
        parts.append(part)
    joined = " ".join(shlex.quote(p) for p in parts)
    guest.sh(f"cat {joined} > {UPLOAD} && rm -f {joined}", "putting the snapshot together")
    found = guest.run(["sha256sum", UPLOAD], "sha256sum").split()
    if not found or found[0] != digest:
        guest.run(["rm", "-f", UPLOAD], "rm")
        raise RestoreFailed(
            f"vm {guest.name}: the snapshot written through the guest agent is not the one "
            f"read (sha256 {found[0][:12] if found else '?'}... != {digest[:12]}...): "
            "nothing was changed"
        )
    container = guest.etcd()
    out = guest.run(
        ["crictl", "exec", container, "etcdutl", "snapshot", "status", UPLOAD, "-w", "json"],
        "etcdutl snapshot status (is the file an etcd snapshot?)",
    )
    status: dict[str, Any] = json.loads(out)
    return status


def _swap_data_dir(guest: EtcdHost, ip: str, conn: Connection, step: Step) -> None:
    """etcdutl restore, stop the control-plane pods, swap the data directory, start them."""
    container = guest.etcd()
    peer = f"https://{ip}:2380"
    guest.run(["rm", "-rf", RESTORED], "rm")
    guest.run(
        [
            "crictl",
            "exec",
            container,
            "etcdutl",
            "snapshot",
            "restore",
            UPLOAD,
            "--data-dir",
            RESTORED,
            "--name",
            guest.name,
            "--initial-cluster",
            f"{guest.name}={peer}",
            "--initial-advertise-peer-urls",
            peer,
            "--bump-revision",
            str(BUMP_REVISION),
            "--mark-compacted",
        ],
        "etcdutl snapshot restore",
    )
    manifests = " ".join(f"{MANIFESTS}/{pod}.yaml" for pod in CONTROL_PODS)
    paused = " ".join(f"{PAUSED}/{pod}.yaml" for pod in CONTROL_PODS)
    step(f"stopping kube-apiserver and etcd on {guest.name}")
    guest.sh(f"mkdir -p {PAUSED} && mv {manifests} {PAUSED}/", "moving the manifests aside")
    try:
        _wait_stopped(guest, conn)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        guest.sh(
            f"mv {ETCD_DIR}/member {ETCD_DIR}/member.before-restore-{stamp} && "
            f"mv {RESTORED}/member {ETCD_DIR}/member && rm -rf {RESTORED} {UPLOAD}",
            "swapping etcd's data directory",
        )
    finally:
        step(f"starting kube-apiserver and etcd on {guest.name}")
        guest.sh(f"mv {paused} {MANIFESTS}/", "putting the manifests back")


def _check_members(guest: EtcdHost, planes: list[str]) -> None:
    """etcd's own word that every control plane is a member of the restored cluster."""
    container = guest.etcd()
    out = guest.run(
        ["crictl", "exec", container, *ETCDCTL, "member", "list", "-w", "json"],
        "etcdctl member list",
    )
    names = {str(m.get("name")) for m in json.loads(out).get("members", [])}
    missing = [p for p in planes if p not in names]
    if missing:
        raise RestoreFailed(
            f"the restored etcd cluster does not have {', '.join(missing)} as members "
            f"(etcdctl member list: {', '.join(sorted(names)) or 'none'})",
            hint="run `homelab restore cluster` again with --force, or look at the node's "
            "kubelet and etcd logs",
        )


def _wait_stopped(guest: EtcdHost, conn: Connection) -> None:
    deadline = conn.clock.monotonic() + STOP_TIMEOUT
    while any(guest.container(pod) for pod in CONTROL_PODS):
        if conn.clock.monotonic() >= deadline:
            raise RestoreFailed(
                f"vm {guest.name}: kube-apiserver and etcd still run {STOP_TIMEOUT:.0f} s after "
                "their manifests were moved aside; nothing was swapped"
            )
        conn.clock.sleep(POLL)
