"""Runtime: everything the steps of one apply share, and the clock they wait on.

The clock is injectable (``Clock``): against the simulator, apply runs on its virtual time, so
timeouts and poll intervals mean the same thing they mean against a real Proxmox, only faster.
Tasks run through the client's one task path (``PveClient.run_task``, on the connection's clock)
with apply's own ``TaskWaits``: a short, capped poll interval, so a chain notices a finished task
within a fraction of a second (virtual), which keeps apply close to its critical path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from homelab.core.ownership import Steward
from homelab.core.render.artifacts import NodeSeed
from homelab.engine.apply.progress import ProgressEvent, ProgressSink, Silent, Status
from homelab.engine.apply.vmids import VmidAllocator
from homelab.engine.clock import Clock
from homelab.engine.guest.channel import CommandSink
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import ProxmoxError
from homelab.engine.proxmox.tasks import TaskResult, TaskWaits
from homelab.engine.state import Intents

if TYPE_CHECKING:  # the Kubernetes client loads only when a lab has a cluster to drain
    from homelab.engine.kube.drain import NodeDrainer

__all__ = ["Limits", "Runtime"]


@dataclass(frozen=True)
class Limits:
    """Concurrency and timeouts of one apply (seconds on the runtime's clock)."""

    per_node: int = 4
    task_timeout: float = 1800.0
    agent_timeout: float = 180.0
    poll: float = 0.25
    poll_cap: float = 0.5
    wait_agent: bool = True
    #: nodes drained at once (their VMs restarted, replaced or destroyed); control planes are
    #: always drained one at a time, whatever this says
    max_unavailable: int = 1
    #: how long a node may take to be Ready again after its restart (beyond the agent's wait)
    ready_timeout: float = 600.0
    #: how long one node's drain may wait for disruption budgets before it gives up
    drain_timeout: float = 600.0

    @property
    def task_waits(self) -> TaskWaits:
        return TaskWaits(timeout=self.task_timeout, poll=self.poll, poll_cap=self.poll_cap)


@dataclass
class Runtime:
    """What the chains of one apply share. Thread-safe where chains meet."""

    client: PveClient
    journal: Intents
    lab: str
    iso_storage: str
    seeds: Mapping[str, NodeSeed]
    allocator: VmidAllocator
    limits: Limits = field(default_factory=Limits)
    clock: Clock = field(default_factory=Clock)
    progress: ProgressSink = field(default_factory=Silent)
    steward: Steward = field(default_factory=Steward)
    #: the lab's cluster nodes, when the lab has a cluster to drain (``engine.apply.drains``)
    nodes: NodeDrainer | None = None
    #: where the guest channel's commands are kept (``engine.guest.record``), if anywhere
    guest_log: CommandSink | None = None
    _node_slots: dict[str, threading.BoundedSemaphore] = field(default_factory=dict)
    _storage_locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _storage_keys: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.drain_slot = threading.BoundedSemaphore(max(1, self.limits.max_unavailable))
        self.control_plane_slot = threading.BoundedSemaphore(1)

    def emit(self, vm: str, phase: str, status: Status, detail: str = "") -> None:
        self.progress(ProgressEvent(vm, phase, status, detail))

    def node_slot(self, node: str) -> threading.BoundedSemaphore:
        """The semaphore bounding concurrent work on ``node``."""
        with self._guard:
            slot = self._node_slots.get(node)
            if slot is None:
                slot = self._node_slots[node] = threading.BoundedSemaphore(self.limits.per_node)
            return slot

    def storage_lock(self, node: str, storage: str) -> threading.Lock:
        """The lock that serialises full clones onto one storage (PVE holds its storage lock
        through the whole copy, and parallel ones time out). A shared storage (Ceph, NFS...)
        is one storage for every node; a local one (local-lvm) is one per node."""
        with self._guard:
            key = self._storage_keys.get((node, storage))
        if key is None:
            try:
                shared = self.client.storage_status(node, storage).shared
            except ProxmoxError:
                shared = False  # the clone itself will say what is wrong with the storage
            key = ("*" if shared else node, storage)
        with self._guard:
            self._storage_keys[(node, storage)] = key
            return self._storage_locks.setdefault(key, threading.Lock())

    def run_task(self, dispatch: Callable[[], str | None], what: str) -> TaskResult | None:
        """Start a task and wait for it with apply's waits (see ``PveClient.run_task``)."""
        return self.client.run_task(dispatch, what=what, waits=self.limits.task_waits)
