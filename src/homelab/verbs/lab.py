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
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.userdata import Bootstrap, BornFacts, read_born
from homelab.engine.observe import observe_settled, refine
from homelab.engine.proxmox.errors import ProxmoxError
from homelab.engine.state import StateStore, open_store
from homelab.engine.state.access import BornFirstRecord, NodeKeysRecord
from homelab.engine.state.components import InstalledComponents
from homelab.engine.upgrade.versions import NodeVersion, NodeVersions
from homelab.errors import LabError
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
    #: first-boot facts read back from guests this run (None: could not be read), by VM
    born_facts: dict[str, BornFacts | None] = field(default_factory=dict)
    #: what the plan may get wrong where they could not be read
    born_warnings: list[str] = field(default_factory=list)

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
        _first_control_plane(conn, ctx, observed)  # before the seed digests are read
        upgrade.ensure_versions(conn, ctx, observed)
        if access.ensure_keys(conn, ctx, observed) | _born_versions(ctx):
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
            warnings=plan.warnings + tuple(ctx.born_warnings),
        )
    return _with_bridge_errors(conn, ctx, plan), observed


def _born_versions(ctx: LabContext) -> bool:
    """Correct the recorded birth version of nodes whose user-data was read this run (a store
    that lost its records seeds them from the kubelets, which an upgrade since moved); True if
    any changed."""
    record = NodeVersions(ctx.store, ctx.lab)
    known = record.all()
    changed = []
    for name, facts in ctx.born_facts.items():
        entry = known.get(name)
        if facts is None or facts.version is None or entry is None:
            continue
        if entry.born != facts.version:
            record.put(name, NodeVersion(entry.version, facts.version))
            changed.append(name)
    if changed:  # rendered at the wrong version: back to the spec's, rendered again from there
        spec_seeds = render_lab(ctx.spec, cluster_secrets(ctx.store, ctx.lab)).seeds
        ctx.artifacts.seeds.update({name: spec_seeds[name] for name in changed})
    return bool(changed)


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


def _first_control_plane(conn: Connection, ctx: LabContext, observed: Observed) -> None:
    """Record the first control plane of nodes the store does not know yet: the one their seed
    took, as cloud-init's copy of it in the guest tells (``born_first_from``), else the spec's
    first (a warning says so for a running node that could not be read); and when the spec's
    first control plane is absent while another of the lab's runs (it left and comes back), it
    joins that cluster: its seed takes the running one for the first, never ``kubeadm init``
    (a second, empty cluster)."""
    first = _first_of(ctx.spec)
    if first is None:
        return
    present = {vm.name: vm for vm in lab_vms(ctx.lab, observed.vms) if vm.name in ctx.spec.vms}
    record = BornFirstRecord(ctx.store, ctx.lab)
    known = record.all()
    unknown = {name: first for name in present if name not in known}
    for name in unknown:
        if present[name].status != "running":
            continue
        facts = read_born_facts(conn, ctx, present[name])
        said = born_first_from(ctx.spec, name, facts.bootstrap) if facts else None
        if said is not None:
            unknown[name] = said
        elif facts is not None:
            ctx.born_warnings.append(
                f"vm {name}: its user-data does not tell which control plane was the cluster's "
                f"first at its birth: taken to be {first[0]}; if it was another, the plan "
                "shows the node replaced: do not apply that"
            )
    if unknown:
        record.seed(unknown)
    if any(said != first for said in unknown.values()):
        _rerender_first_boot(ctx)  # prepare_lab rendered them with the spec's first
    planes = ctx.spec.control_planes
    running = [n for n in planes[1:] if n in present and present[n].status == "running"]
    if first[0] in present or not running:
        return
    joins = (running[0], str(ctx.spec.vms[running[0]].ip))
    ctx.born_first[first[0]] = joins
    secrets = cluster_secrets(ctx.store, ctx.lab)
    then = with_first(ctx.spec, *joins)
    ctx.artifacts.seeds[first[0]] = render_lab(then, secrets).seeds[first[0]]


def read_born_facts(conn: Connection, ctx: LabContext, vm: ObservedVm) -> BornFacts | None:
    """The first-boot facts of a running VM from cloud-init's copy of its user-data
    (``engine.guest.userdata``), read once per run; None when it cannot be read (no agent, no
    file-read privilege, no such file): a warning says why."""
    name = vm.name or str(vm.vmid)
    if name not in ctx.born_facts:
        ctx.born_facts[name] = born_facts_of(conn, ctx.spec, vm, ctx.born_warnings)
    return ctx.born_facts[name]


def born_facts_of(
    conn: Connection, spec: LabSpec, vm: ObservedVm, warnings: list[str]
) -> BornFacts | None:
    """``read_born_facts`` without the cache: a warning added to ``warnings`` on failure. An
    adopted VM (its record says so) was not born from a seed of homelab's: nothing to read, and
    nothing the plan compares (its seed is never replaced)."""
    channel = GuestChannel(conn.client, conn.clock)
    name = vm.name or str(vm.vmid)
    config = vm.config if vm.config is not None else conn.client.vm_config(vm.node, vm.vmid)[1]
    if config.record is not None and config.record.adopted:
        return None
    try:
        return read_born(channel, vm.node, vm.vmid, spec.access.user)
    except LabError as exc:
        warnings.append(
            f"vm {name}: cloud-init's user-data could not be read through the guest agent "
            f"({exc.message}): the SSH keys and the first control plane it was born with are "
            "guessed (the keys it holds now, the spec's first); if they differ, the plan shows "
            "the node replaced: do not apply that, make the file readable (on PVE 9 the token "
            "needs VM.GuestAgent.FileRead) and plan again"
        )
        return None


def born_first_from(spec: LabSpec, vm: str, bootstrap: Bootstrap | None) -> tuple[str, str] | None:
    """The first control plane (name, address) ``vm``'s seed took, found by how it
    bootstrapped: the spec's first, or each of its control planes, or the one a joining
    control plane waited for, put first (``with_first``), until one bootstraps ``vm`` that way.
    None when the seed does not tell (no bootstrap steps) or no such control plane is known."""
    first = _first_of(spec)
    if bootstrap is None or first is None or vm not in spec.vms:
        return None
    candidates = [first, *((p, str(spec.vms[p].ip)) for p in spec.control_planes)]
    if bootstrap.previous is not None:
        candidates.append(bootstrap.previous)
    for candidate in candidates:
        if _bootstrap_of(with_first(spec, *candidate), vm) == bootstrap:
            return candidate
    return None


def _bootstrap_of(spec: LabSpec, vm: str) -> Bootstrap:
    """How ``core.render.cloudinit`` bootstraps ``vm`` from ``spec``."""
    order = spec.control_planes
    if vm == order[0]:
        return Bootstrap(init=True, endpoint="")
    endpoint = str(spec.api_endpoint())
    if spec.vms[vm].role == "worker":
        return Bootstrap(init=False, endpoint=endpoint)
    previous = order[order.index(vm) - 1]
    return Bootstrap(init=False, endpoint=endpoint, previous=(previous, str(spec.vms[previous].ip)))


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
