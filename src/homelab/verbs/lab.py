"""The lab's use cases that read: preparing a lab (spec, secrets, seeds), planning, status.

No printing here: the CLI shows what these return. ``prepare_lab`` loads the valid spec, opens
the state store, takes the cluster PKI from it (made once) and renders every VM's seed, whose
digests the plan needs. ``make_plan`` observes cheaply and reads configs only for the VMs the
plan could not decide without them; it makes the plan of apply, destroy or adopt (``Purpose``).
Whose VMs are the lab's is ``homelab.core.ownership``'s rule, here as everywhere.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from ipaddress import IPv4Interface, ip_address
from pathlib import Path
from typing import Any

from homelab.core.cluster import ClusterSecrets
from homelab.core.observed import Observed, ObservedVm
from homelab.core.ownership import NO_FLAGS, Flags, Steward, lab_vms
from homelab.core.plan.actions import NoOp, Plan, kind_of
from homelab.core.plan.adopt import plan_adopt
from homelab.core.plan.bridges import bridge_problems, bridge_targets
from homelab.core.plan.build import config_targets, plan_lab
from homelab.core.plan.components import ComponentChange, component_changes, desired_components
from homelab.core.plan.teardown import plan_teardown
from homelab.core.render.artifacts import Artifacts
from homelab.core.render.lab import render_lab
from homelab.core.spec.models import LabSpec
from homelab.engine.observe import observe_settled, refine
from homelab.engine.proxmox.errors import ProxmoxError
from homelab.engine.state import StateStore, open_store
from homelab.engine.state.access import BornFirstRecord, NodeKeysRecord
from homelab.engine.state.components import InstalledComponents
from homelab.engine.upgrade.versions import NodeVersions
from homelab.verbs.connection import Connection
from homelab.verbs.secrets import cluster_secrets
from homelab.verbs.spec import load_valid_spec

log = logging.getLogger(__name__)

__all__ = ["LabContext", "Purpose", "StatusRow", "lab_status", "make_plan", "prepare_lab"]


@dataclass
class LabContext:
    """A loaded lab: its spec, state store and rendered seeds."""

    spec: LabSpec
    spec_path: Path
    store: StateStore
    artifacts: Artifacts
    #: a control plane this run makes join a running cluster: the one its seed takes for first
    born_first: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def lab(self) -> str:
        return self.spec.name

    @property
    def seed_digests(self) -> dict[str, str]:
        return {vm: self.artifacts.digest(vm) for vm in self.spec.vms}

    def steward(self, flags: Flags = NO_FLAGS) -> Steward:
        """This store as the planner sees it: its id, whether it ever applied the lab."""
        return Steward(self.store.store_id, self.store.has_applied(self.lab), flags)

    def close(self) -> None:
        self.store.close()


class Purpose(StrEnum):
    """Which plan ``make_plan`` makes: apply's, destroy's or adopt's."""

    APPLY = "apply"
    DESTROY = "destroy"
    ADOPT = "adopt"


Planner = Callable[[LabSpec, Mapping[str, str], Observed, Steward], Plan]
_PLANNERS: dict[Purpose, Planner] = {
    Purpose.APPLY: plan_lab,
    Purpose.DESTROY: plan_teardown,
    Purpose.ADOPT: plan_adopt,
}


def prepare_lab(spec_path: Path, *, store: StateStore | None = None) -> LabContext:
    """Load and validate the spec, open its state store, render its seeds."""
    spec = load_valid_spec(spec_path)
    store = store or open_store(spec_path)
    try:
        secrets = cluster_secrets(store, spec.name)
        artifacts = render_lab(spec, secrets)
        born_keys = NodeKeysRecord(store, spec.name).born()
        firsts = BornFirstRecord(store, spec.name).all()
        versions = NodeVersions(store, spec.name).born()
        first_boot_seeds(spec, artifacts, versions, secrets, born_keys, firsts)
    except BaseException:
        store.close()
        raise
    return LabContext(spec=spec, spec_path=spec_path, store=store, artifacts=artifacts)


def first_boot_seeds(
    spec: LabSpec,
    artifacts: Artifacts,
    born: Mapping[str, str],
    secrets: ClusterSecrets,
    born_keys: Mapping[str, tuple[str, ...]] | None = None,
    born_first: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """An existing node keeps the seed it first booted with (cloud-init runs once per
    instance): a VM born at another Kubernetes version than the spec's, with other SSH keys, or
    with another control plane as the cluster's first (the one that runs ``kubeadm init`` and
    that joiners wait for), gets its seed rendered as it was, so a version change is an upgrade
    (``core.plan.upgrade``), a key change a push (``verbs.access``), and a control plane leaving
    changes no other node's seed: not a replace."""
    keys_now = tuple(spec.access.ssh_authorized_keys)
    keys_then = born_keys or {}
    firsts = born_first or {}
    first_now = _first_of(spec)
    groups: dict[tuple[str, tuple[str, ...], tuple[str, str] | None], list[str]] = {}
    for vm in spec.vms:
        version = born.get(vm, spec.kubernetes.version)
        keys = keys_then.get(vm, keys_now)
        first = firsts.get(vm, first_now)
        if (version, keys, first) != (spec.kubernetes.version, keys_now, first_now):
            groups.setdefault((version, keys, first), []).append(vm)
    for (version, keys, first), vms in sorted(groups.items(), key=lambda g: str(g[0])):
        kube = spec.kubernetes.model_copy(update={"version": version})
        access = spec.access.model_copy(update={"ssh_authorized_keys": list(keys)})
        then = spec.model_copy(update={"kubernetes": kube, "access": access})
        if first is not None and first != first_now:
            then = with_first(then, *first)
        rendered = render_lab(then, secrets)
        for vm in vms:
            artifacts.seeds[vm] = rendered.seeds[vm]


def _first_of(spec: LabSpec) -> tuple[str, str] | None:
    planes = spec.control_planes
    return (planes[0], str(spec.vms[planes[0]].ip)) if planes else None


def with_first(spec: LabSpec, name: str, ip: str) -> LabSpec:
    """The spec with control plane ``name`` (at ``ip``) first: moved to the front, or, when the
    spec no longer has it (it left the lab), a stand-in with its name and address."""
    planes = spec.control_planes
    if not planes:
        return spec
    vms = dict(spec.vms)
    first = vms.pop(name, None) or spec.vms[planes[0]].model_copy(update={"ip": ip_address(ip)})
    return spec.model_copy(update={"vms": {name: first, **vms}})


def make_plan(
    conn: Connection,
    ctx: LabContext,
    *,
    purpose: Purpose = Purpose.APPLY,
    flags: Flags = NO_FLAGS,
) -> tuple[Plan, Observed]:
    """Observe, plan, and if needed read the configs the plan asks for and plan again."""
    from homelab.verbs import access, upgrade  # they import this module

    planner, steward = _PLANNERS[purpose], ctx.steward(flags)
    jobs = ctx.spec.backup is not None or ctx.store.has_backup_jobs(ctx.lab)
    observed = observe_settled(conn.client, ctx.spec, conn.clock.sleep, jobs=jobs)
    if purpose is Purpose.APPLY:
        _first_control_plane(ctx, observed)  # before the seed digests are read
        upgrade.ensure_versions(conn, ctx, observed)
        if access.ensure_keys(conn, ctx, observed):
            _rerender_first_boot(ctx)
    plan = planner(ctx.spec, ctx.seed_digests, observed, steward)
    if plan.needs_configs or config_targets(plan, observed):
        observed = refine(conn.client, observed, plan)
        plan = planner(ctx.spec, ctx.seed_digests, observed, steward)
    if purpose is Purpose.APPLY:
        plan = upgrade.with_upgrades(ctx, plan, observed)
        plan = dataclasses.replace(
            plan,
            components=_component_changes(ctx),
            key_pushes=access.key_pushes(ctx, plan, observed),
        )
    return _with_bridge_errors(conn, ctx, plan), observed


def _rerender_first_boot(ctx: LabContext) -> None:
    """The seeds of nodes whose first-boot facts were just recorded, rendered as they were."""
    secrets = cluster_secrets(ctx.store, ctx.lab)
    first_boot_seeds(
        ctx.spec,
        ctx.artifacts,
        NodeVersions(ctx.store, ctx.lab).born(),
        secrets,
        NodeKeysRecord(ctx.store, ctx.lab).born(),
        BornFirstRecord(ctx.store, ctx.lab).all(),
    )


def _first_control_plane(ctx: LabContext, observed: Observed) -> None:
    """Record the first control plane of running nodes the store does not know yet (the spec's
    first made them); and when the spec's first control plane is absent while another of the
    lab's runs (it left and comes back), it joins that cluster: its seed takes the running one
    for the first, never ``kubeadm init`` (a second, empty cluster)."""
    first = _first_of(ctx.spec)
    if first is None:
        return
    present = {vm.name: vm for vm in lab_vms(ctx.lab, observed.vms) if vm.name in ctx.spec.vms}
    record = BornFirstRecord(ctx.store, ctx.lab)
    known = record.all()
    unknown = {name: first for name in present if name not in known}
    if unknown:
        record.seed(unknown)
    planes = ctx.spec.control_planes
    running = [n for n in planes[1:] if n in present and present[n].status == "running"]
    if first[0] in present or not running:
        return
    joins = (running[0], str(ctx.spec.vms[running[0]].ip))
    ctx.born_first[first[0]] = joins
    secrets = cluster_secrets(ctx.store, ctx.lab)
    then = with_first(ctx.spec, *joins)
    ctx.artifacts.seeds[first[0]] = render_lab(then, secrets).seeds[first[0]]


def record_born_first(ctx: LabContext, plan: Plan, done: set[str]) -> None:
    """VMs apply created or replaced took the first control plane their seed was rendered
    with; gone ones are forgotten."""
    record = BornFirstRecord(ctx.store, ctx.lab)
    first = _first_of(ctx.spec)
    made = [a.vm for a in plan.actions if kind_of(a) in ("create", "replace") and a.vm in done]
    gone = [a.vm for a in plan.actions if kind_of(a) == "destroy" and a.vm in done]
    if gone:
        record.forget(gone)
    for vm in made:
        born = ctx.born_first.get(vm, first)
        if born is not None:
            record.born(vm, born)


def _component_changes(ctx: LabContext) -> tuple[ComponentChange, ...]:
    """What `up` would install or move in the cluster, against what the last `up` recorded."""
    desired = desired_components(ctx.artifacts.cluster)
    return component_changes(desired, InstalledComponents(ctx.store, ctx.lab).get())


def _with_bridge_errors(conn: Connection, ctx: LabContext, plan: Plan) -> Plan:
    """The plan, refused when a VM it would start sits on a bridge its node cannot give it
    (``core.plan.bridges``): found here, before anything changes, not at the VM's start."""
    targets = bridge_targets(plan)
    if not targets:
        return plan
    bridges = {}
    for node in sorted({node for _, node in targets}):
        try:
            bridges[node] = conn.client.node_bridges(node)
        except ProxmoxError as exc:  # not judged; the start will say what is wrong
            log.warning("could not read the bridges of node %s: %s", node, exc)
    problems = bridge_problems(ctx.spec, targets, bridges)
    if not problems:
        return plan
    errors = tuple(f"{p.problem} (fix: {p.fix})" for p in problems)
    return replace(plan, errors=(*plan.errors, *errors))


@dataclass(frozen=True)
class StatusRow:
    """One VM of the lab as ``homelab status`` shows it."""

    vm: str
    role: str
    vmid: int | None
    node: str | None
    state: str
    ips: tuple[str, ...]
    drift: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "vm": self.vm,
            "role": self.role,
            "vmid": self.vmid,
            "node": self.node,
            "state": self.state,
            "ips": list(self.ips),
            "drift": self.drift,
            "reason": self.reason,
        }


def lab_status(conn: Connection, ctx: LabContext) -> tuple[list[StatusRow], Plan]:
    """Every VM of the spec (and every VM of the lab the spec lost): state, IPs and drift."""
    plan, observed = make_plan(conn, ctx)
    actions = {action.vm: action for action in plan.actions}
    ours = {vm.name: vm for vm in lab_vms(ctx.lab, observed.vms) if vm.name}
    # a VM left as it is may still have its node upgraded or its keys pushed by apply
    pending = {step.vm: ("upgrade", step.reason) for step in plan.upgrades}
    for pushed in plan.key_pushes:
        pending.setdefault(pushed, ("ssh keys", "apply pushes the spec's SSH keys (they differ)"))
    rows = []
    for name in [*ctx.spec.vms, *(n for n in ours if n not in ctx.spec.vms)]:
        vm = ours.get(name)
        action = actions.get(name)
        role = ctx.spec.vms[name].role if name in ctx.spec.vms else (action.role if action else "")
        drift, reason = (
            pending[name]
            if isinstance(action, NoOp) and name in pending
            else (
                "in sync" if isinstance(action, NoOp) else kind_of(action) if action else "?",
                action.reason if action else _error_for(plan, name),
            )
        )
        rows.append(
            StatusRow(
                vm=name,
                role=role,
                vmid=vm.vmid if vm else None,
                node=vm.node if vm else None,
                state=vm.status if vm else "absent",
                ips=guest_ips(conn, vm) if vm is not None else (),
                drift=drift,
                reason=reason,
            )
        )
    return rows, plan


def _error_for(plan: Plan, name: str) -> str:
    return next((e for e in plan.errors if e.startswith(f"vm {name}:")), "")


def guest_ips(conn: Connection, vm: ObservedVm) -> tuple[str, ...]:
    """The global IPv4 addresses the guest agent reports (none if it does not answer)."""
    if vm.status != "running":
        return ()
    try:
        interfaces = conn.client.agent_interfaces(vm.node, vm.vmid)
    except ProxmoxError:
        return ()
    return tuple(str(addr.ip) for addrs in interfaces.values() for addr in addrs if _global(addr))


def _global(addr: IPv4Interface) -> bool:
    return not (addr.ip.is_loopback or addr.ip.is_link_local)
