"""The rolling Kubernetes upgrade in apply's flow: planned beside the VM actions, run after them.

``with_upgrades`` (called by ``make_plan``) adds the upgrade steps to apply's plan: the version
each running node runs comes from the state store (``engine.upgrade.versions``); a lab the store
has no record of yet is read once from the cluster (each Node's kubeletVersion) and recorded,
and its seeds re-rendered at that version (an existing node keeps its first-boot seed), so the
plan is an upgrade, never a replace. ``run_upgrade`` (called by apply after the VM actions):

1. before anything, an etcd snapshot fetched to ``.homelab/<lab>/etcd/`` (``backup etcd``) and a
   Proxmox snapshot of each control-plane VM (both once per target version: a rerun reuses them);
2. the kubeadm procedure, node by node (``engine.upgrade.rollout``);
3. a failed step stops the rollout with how to go back (the snapshots' names and path).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from homelab.core.observed import Observed
from homelab.core.ownership import lab_vms
from homelab.core.plan.actions import CreateVm, DestroyVm, Plan, ReplaceVm
from homelab.core.plan.upgrade import (
    CONTROL_PLANE,
    UpgradeStep,
    joiners_refused,
    minor_of,
    plan_upgrade,
    snapshot_name,
)
from homelab.core.render import yamldoc
from homelab.core.render.addons import ADMIN_CONF, kube_vip_pod
from homelab.core.render.versions import ComponentVersions, versions_for
from homelab.core.spec.models import LabSpec
from homelab.engine.apply.runtime import Runtime
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.proxmox.errors import PermissionDenied
from homelab.engine.state.access import BornFirstRecord, NodeKeysRecord
from homelab.engine.upgrade.snapshots import take_snapshots
from homelab.engine.upgrade.versions import NodeVersion, NodeVersions
from homelab.errors import LabError
from homelab.verbs.connection import Connection
from homelab.verbs.lab import LabContext, first_boot_seeds, read_born_facts
from homelab.verbs.secrets import cluster_secrets

if TYPE_CHECKING:  # the Kubernetes client loads only when a rollout runs
    from homelab.engine.kube.client import KubeApi

__all__ = ["UpgradeOutcome", "ensure_versions", "run_upgrade", "with_upgrades"]

START = "upgrade/start"  # engine.upgrade.rollout.UPGRADE_PREFIX + "start"


@dataclasses.dataclass
class UpgradeOutcome:
    upgraded: list[str]
    etcd_snapshot: str
    pve_snapshots: list[str]


def ensure_versions(conn: Connection, ctx: LabContext, observed: Observed) -> None:
    """Record the version of the lab's running nodes the store has none for (a lab made
    before it recorded them, or a store that lost the record): what each kubelet runs, read
    from the cluster, and what each node was born with, read from cloud-init's copy of its
    user-data in the guest (``verbs.lab.read_born_facts``); then render those nodes' seeds at
    their birth version. A node the cluster does not answer for is taken to run what it was
    born with (at worst its upgrade steps run again, and kubeadm's are idempotent)."""
    store = NodeVersions(ctx.store, ctx.lab)
    versions = store.current()
    unknown = [
        vm
        for vm in lab_vms(ctx.lab, observed.vms)
        if vm.name in ctx.spec.vms and vm.status == "running" and vm.name not in versions
    ]
    if not unknown:
        return
    seen = _kubelet_versions(conn, ctx)
    fresh: dict[str, NodeVersion] = {}
    for vm in unknown:
        name = vm.name or ""
        facts = read_born_facts(conn, ctx, vm)
        born = facts.version if facts is not None and facts.version else seen.get(name)
        current = seen.get(name) or born
        if current is not None and born is not None:
            fresh[name] = NodeVersion(current, born)
    if fresh:
        store.add_new(fresh)
        secrets = cluster_secrets(ctx.store, ctx.lab)
        keys = NodeKeysRecord(ctx.store, ctx.lab).born()
        firsts = BornFirstRecord(ctx.store, ctx.lab).all()
        first_boot_seeds(ctx.spec, ctx.artifacts, store.born(), secrets, keys, firsts)


def with_upgrades(ctx: LabContext, plan: Plan, observed: Observed) -> Plan:
    """Apply's plan with the rolling upgrade's steps (or the refusal) added."""
    moving = {a.vm for a in plan.actions if isinstance(a, CreateVm | ReplaceVm | DestroyVm)}
    running = [
        vm
        for vm in lab_vms(ctx.lab, observed.vms)
        if vm.name in ctx.spec.vms and vm.status == "running" and vm.name not in moving
    ]
    if not running:
        return plan
    versions = NodeVersions(ctx.store, ctx.lab).current()
    order = list(ctx.spec.vms)
    nodes = [
        (vm.name or "", vm.node, vm.vmid, ctx.spec.vms[vm.name or ""].role)
        for vm in sorted(running, key=lambda v: order.index(v.name or ""))
    ]
    names = {name for name, *_ in nodes}
    steps, errors = plan_upgrade(
        ctx.spec.kubernetes.version,
        {n: v for n, v in versions.items() if n in names},
        nodes,
        control_planes=list(ctx.spec.control_planes),
    )
    if not steps and not errors:
        return plan
    joining = [a.vm for a in plan.actions if isinstance(a, CreateVm | ReplaceVm)]
    errors = (*errors, *joiners_refused(steps, joining))
    return dataclasses.replace(plan, upgrades=steps, errors=(*plan.errors, *errors))


def _kubelet_versions(conn: Connection, ctx: LabContext) -> dict[str, str]:
    """Each Node's kubelet version (``x.y.z``), or nothing when no cluster answers."""
    try:
        from homelab.verbs.cluster_api import admin_api

        api = admin_api(conn, ctx)
        if api is None:
            return {}
        with api:
            nodes = api.nodes()
    except LabError:
        return {}
    out = {}
    for node in nodes:
        version = str(node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""))
        if version:
            out[node["metadata"]["name"]] = version.lstrip("v")
    return out


def record_new_nodes(ctx: LabContext, plan: Plan, done: set[str]) -> None:
    """VMs apply created or replaced were born at the spec's version."""
    store = NodeVersions(ctx.store, ctx.lab)
    born = [a.vm for a in plan.actions if isinstance(a, CreateVm | ReplaceVm) and a.vm in done]
    gone = [a.vm for a in plan.actions if isinstance(a, DestroyVm) and a.vm in done]
    if born or gone:
        store.forget([*born, *gone])
        for vm in born:
            store.record(vm, ctx.spec.kubernetes.version)


ADDONS_TIMEOUT = 900.0


def move_addons(
    conn: Connection, ctx: LabContext, rt: Runtime, api: KubeApi, steps: tuple[UpgradeStep, ...]
) -> list[str]:
    """The addon versions of the target minor, applied before the nodes move when they differ
    from the current minor's (``core.render.versions``: each Calico of the table is tested on
    the minor before its own, so it runs on both ends of the step)."""
    old = versions_for(minor_of(min((s.from_version for s in steps), key=_numbers)))
    new = versions_for(minor_of(steps[0].to_version))
    moved = [
        f"{name} {a} -> {b}"
        for name, a, b in (
            ("calico", old.calico, new.calico),
            ("metallb", old.metallb, new.metallb),
        )
        if a != b
    ]
    if not moved:
        return []
    from homelab.engine.kube.addons import install_addons

    rt.emit("cluster", "addons", "running", ", ".join(moved))
    install_addons(
        api, ctx.artifacts.cluster, conn.site.manifest_source(), conn.clock, timeout=ADDONS_TIMEOUT
    )
    rt.emit("cluster", "addons", "done", ", ".join(moved))
    return moved


def _kube_vip(spec: LabSpec) -> Callable[[ComponentVersions], bytes] | None:
    """kube-vip's steady static pod of the lab at a minor's versions (None: no VIP)."""
    if spec.kubernetes.control_plane_endpoint is None:
        return None

    def pod(versions: ComponentVersions) -> bytes:
        return yamldoc.dump(kube_vip_pod(spec, versions, kubeconfig=ADMIN_CONF)).encode()

    return pod


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def run_upgrade(
    conn: Connection, ctx: LabContext, rt: Runtime, steps: tuple[UpgradeStep, ...]
) -> UpgradeOutcome:
    """Snapshots first, then the rollout; UpgradeFailed says how to go back."""
    from homelab.engine.upgrade.rollout import Rollout, UpgradeFailed
    from homelab.verbs.cluster_api import admin_api
    from homelab.verbs.etcd import backup_etcd

    target = steps[0].to_version
    name = snapshot_name(target)
    start: dict[str, Any] = rt.journal.all().get(START) or {}
    if start.get("to") != target:
        rt.emit("cluster", "etcd snapshot", "running")
        snapshot = backup_etcd(conn, ctx)
        rt.emit("cluster", "etcd snapshot", "done", str(snapshot.path))
        planes = [s for s in steps if s.role == CONTROL_PLANE]
        rt.emit("cluster", "proxmox snapshots", "running")
        try:
            taken = take_snapshots(conn.client, planes, name)
        except PermissionDenied as exc:
            raise UpgradeFailed(
                f"the Proxmox snapshots before the upgrade could not be taken: {exc.message}; "
                "nothing was upgraded",
                hint="grant VM.Snapshot to the token's role (see the README's role)",
            ) from exc
        rt.emit("cluster", "proxmox snapshots", "done", ", ".join(taken))
        start = {"op": "upgrade-start", "to": target, "etcd": str(snapshot.path), "pve": taken}
        rt.journal.put(START, start)
    with contextlib.ExitStack() as stack:
        # the drainer's client when apply made one (minting another costs a key pair)
        api = rt.nodes.api if rt.nodes is not None else admin_api(conn, ctx)
        if api is None:
            raise UpgradeFailed("the lab's cluster API cannot be reached: nothing was upgraded")
        if rt.nodes is None:
            stack.enter_context(api)
        if not start.get("addons"):
            moved = move_addons(conn, ctx, rt, api, steps)
            start = {**start, "addons": moved or ["unchanged"]}
            rt.journal.put(START, start)
        channel = GuestChannel(
            conn.client, conn.clock, poll=rt.limits.poll, poll_cap=2.0, log=rt.guest_log
        )
        rollout = Rollout(
            rt, channel, api, NodeVersions(ctx.store, ctx.lab), kube_vip=_kube_vip(ctx.spec)
        )
        try:
            done = rollout.run(steps)
        except LabError as exc:
            raise UpgradeFailed(
                f"the upgrade to {target} stopped: {exc.message}",
                hint=(
                    "the nodes not yet upgraded still run and the cluster still serves; fix the "
                    "cause and apply again (finished nodes are not repeated). To go back instead: "
                    f"roll the control planes back to their Proxmox snapshots "
                    f"({', '.join(start['pve'])}: `qm rollback VMID {name}`) and restore etcd "
                    f"from {start['etcd']} (`homelab restore cluster SPEC --etcd {start['etcd']}`)"
                ),
            ) from exc
    rt.journal.remove(START)
    return UpgradeOutcome(done, str(start["etcd"]), list(start["pve"]))
