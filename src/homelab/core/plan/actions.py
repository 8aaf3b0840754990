"""The plan's vocabulary: actions on VMs (frozen values, each with a reason) and the Plan itself.

    CreateVm    clone the template, configure, upload and attach the seed ISO, resize, start
    UpdateVm    change managed settings in place; ``Change.restart`` marks what needs a restart
    ReplaceVm   destroy the VM, then create it again (same name, new VMID unless pinned)
    DestroyVm   stop and destroy a VM of this lab that the spec no longer has (or every VM of
                the lab, in the plan of ``homelab destroy``)
    AdoptVm     take over an existing VM with a spec VM's name: set the lab's tags and record
                (the plan of ``homelab adopt``; the next apply then manages it)
    NoOp        nothing to do, and why

``drain`` on an update that restarts, a replace or a destroy says the VM is a running node of
the lab's cluster: apply cordons and drains it (Eviction API, disruption budgets respected) before
the disruption, and afterwards uncordons it once Ready (update) or deletes its Node object
(replace, destroy). The planner decides it (``homelab.core.plan.disruption``).

Actions carry everything apply needs (the desired VM, the observed VMID and config digest), so a
saved plan is applied exactly as written, without re-reading the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

from homelab.core.backup.jobs import JobAction
from homelab.core.backup.storage import StorageAction
from homelab.core.desired import DesiredVm
from homelab.core.plan.components import ComponentChange
from homelab.core.plan.upgrade import UpgradeStep

ChangeValue = str | int | bool | None


@dataclass(frozen=True)
class Change:
    """One managed key going from ``old`` to ``new``; ``restart`` if it only applies on restart."""

    key: str
    old: ChangeValue
    new: ChangeValue
    restart: bool = False


@dataclass(frozen=True)
class TemplateSource:
    """The template a new VM is cloned from, as observed: its VMID and the node holding it."""

    vmid: int
    node: str


@dataclass(frozen=True)
class CreateVm:
    """Clone ``source``, configure, upload and attach the seed ISO, grow the disk, start."""

    vm: str
    node: str
    reason: str
    desired: DesiredVm
    source: TemplateSource | None = None

    @property
    def role(self) -> str:
        return self.desired.role


@dataclass(frozen=True)
class UpdateVm:
    vm: str
    node: str
    reason: str
    vmid: int
    changes: tuple[Change, ...]
    reseed: bool
    desired: DesiredVm
    config_digest: str
    drain: bool = False

    @property
    def role(self) -> str:
        return self.desired.role

    @property
    def restart(self) -> bool:
        return any(change.restart for change in self.changes)


@dataclass(frozen=True)
class ReplaceVm:
    """Stop and destroy VM ``vmid``, then create it again from ``source``."""

    vm: str
    node: str
    reason: str
    vmid: int
    desired: DesiredVm
    source: TemplateSource | None = None
    drain: bool = False

    @property
    def role(self) -> str:
        return self.desired.role


@dataclass(frozen=True)
class DestroyVm:
    vm: str
    node: str
    reason: str
    vmid: int
    role: str
    drain: bool = False
    #: a control plane leaving an HA lab: its etcd member is removed through this one, which
    #: stays, before the VM goes (``homelab.core.plan.disruption``)
    etcd_peer: EtcdPeer | None = None


@dataclass(frozen=True)
class EtcdPeer:
    """A running control plane that stays, on whose etcd a leaving member is removed."""

    vm: str
    node: str
    vmid: int


@dataclass(frozen=True)
class AdoptVm:
    """Write the lab's tags (the user's kept) and description record on VM ``vmid``."""

    vm: str
    node: str
    reason: str
    vmid: int
    desired: DesiredVm
    config_digest: str
    tags_before: str
    tags_after: str

    @property
    def role(self) -> str:
        return self.desired.role


@dataclass(frozen=True)
class NoOp:
    vm: str
    node: str
    reason: str
    vmid: int
    role: str


Action = CreateVm | UpdateVm | ReplaceVm | DestroyVm | AdoptVm | NoOp

ACTION_KINDS: dict[type[Action], str] = {
    CreateVm: "create",
    UpdateVm: "update",
    ReplaceVm: "replace",
    DestroyVm: "destroy",
    AdoptVm: "adopt",
    NoOp: "no-op",
}


def kind_of(action: Action) -> str:
    return ACTION_KINDS[type(action)]


def drains(action: Action) -> bool:
    """Whether apply drains the action's node before disrupting it."""
    return isinstance(action, UpdateVm | ReplaceVm | DestroyVm) and action.drain


@dataclass(frozen=True)
class Plan:
    """Ordered actions for one lab, with what stops it (errors) and what it still needs.

    ``needs_configs`` names VMs whose config must be read before the plan is final; ``errors``
    are conflicts the user must resolve (nothing is applied while there are any).
    ``spec_digest`` and ``observed_digests`` (vmid -> fingerprint of its /cluster/resources
    entry) are what the plan was made against, so apply can refuse a stale plan.
    """

    lab: str
    actions: tuple[Action, ...]
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    needs_configs: tuple[str, ...] = ()
    spec_digest: str = ""
    observed_digests: tuple[tuple[int, str], ...] = ()
    #: the lab's backup jobs (``homelab.core.backup.jobs``), applied after the VMs
    jobs: tuple[JobAction, ...] = ()
    #: the PBS storage to add before the jobs (``homelab.core.backup.storage``)
    storage: StorageAction | None = None
    #: the fingerprint of the backup jobs the plan was made against ("" when not read)
    jobs_digest: str = ""
    #: the rolling Kubernetes upgrade, one step per node in the order it runs, after the VM
    #: actions (``homelab.core.plan.upgrade``)
    upgrades: tuple[UpgradeStep, ...] = ()
    #: what `up` would install or move in the cluster against its last record
    #: (``homelab.core.plan.components``): shown, not applied by `apply`, not a change of it
    components: tuple[ComponentChange, ...] = ()
    #: running nodes whose SSH keys apply pushes through the guest agent (``verbs.access``)
    key_pushes: tuple[str, ...] = ()

    @property
    def changes(self) -> tuple[Action, ...]:
        """The VM actions that change something."""
        return tuple(action for action in self.actions if not isinstance(action, NoOp))

    @property
    def job_changes(self) -> tuple[JobAction, ...]:
        return tuple(job for job in self.jobs if job.changes_anything)

    @property
    def has_changes(self) -> bool:
        return (
            bool(self.changes)
            or bool(self.job_changes)
            or self.storage is not None
            or bool(self.upgrades)
            or bool(self.key_pushes)
        )

    @property
    def is_final(self) -> bool:
        return not self.needs_configs

    @property
    def is_applicable(self) -> bool:
        return self.is_final and not self.errors

    @property
    def detailed_exit_code(self) -> int:
        """``--detailed-exitcode``: 0 no changes, 2 changes, 1 errors or not final."""
        if not self.is_applicable:
            return 1
        return 2 if self.has_changes else 0

    def count(self, kind: type[Action]) -> int:
        return sum(1 for action in self.actions if isinstance(action, kind))
