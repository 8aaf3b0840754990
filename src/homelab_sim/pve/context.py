"""What a handler gets: the cluster state, the clock, the caller, and the request's extras.

Handlers are plain functions ``handler(ctx, params) -> data`` (or ``Result`` for responses with
extra top-level keys such as ``total``); they raise ``ApiError`` for PVE's error answers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homelab_sim.clock import VirtualClock
from homelab_sim.pve.auth import Authenticator, Identity, Permissions
from homelab_sim.pve.errors import fail, missing_vm_text
from homelab_sim.pve.state import ClusterState, Node, Vm
from homelab_sim.pve.wire import UploadFile

if TYPE_CHECKING:
    from homelab_sim.guest.model import GuestModel
    from homelab_sim.pve.faults import Fault


@dataclass
class Result:
    """A handler result with extra envelope keys (``total``, ``changes``)."""

    data: Any
    extra: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None  # ``data`` already serialised as JSON (cached responses)


@dataclass
class Ctx:
    state: ClusterState
    clock: VirtualClock
    ident: Identity
    perms: Permissions
    auth: Authenticator
    guest: GuestModel
    blobs: dict[str, bytes]
    fault: Fault | None = None
    upload: UploadFile | None = None
    changed: bool = False
    generation: int = 0  # bumps whenever the state may have changed (for response caches)
    cache: dict[Any, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)  # seeded by SimConfig.seed

    def now(self) -> float:
        return self.clock.now()

    def node(self, name: str) -> Node:
        node = self.state.node(name)
        if node is None:
            raise fail(
                f"hostname lookup '{name}' failed - failed to get address info for: "
                f"{name}: Name or service not known"
            )
        return node

    def vm(self, node: str, vmid: int) -> Vm:
        """The VM whose config lives on ``node`` (PVE addresses VMs through their node)."""
        self.node(node)
        vm = self.state.vms.get(vmid)
        if vm is None or vm.node != node:
            raise fail(missing_vm_text(node, vmid))
        return vm

    def can(self, path: str, priv: str) -> bool:
        return self.perms.has(self.ident, path, priv)
