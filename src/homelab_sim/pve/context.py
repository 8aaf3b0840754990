"""What a handler gets: the cluster state, the clock, the caller, and the request's extras.

Handlers are plain functions ``handler(ctx, params) -> data`` (or ``Result`` for responses with
extra top-level keys such as ``total``); they raise ``ApiError`` for PVE's error answers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homelab_sim.clock import VirtualClock
from homelab_sim.pve.auth import Authenticator, Identity
from homelab_sim.pve.errors import ApiError, fail, missing_vm_text
from homelab_sim.pve.permissions import Permissions
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

    def require(self, path: str, *privs: str, any_of: bool = False) -> None:
        """RPCEnvironment::check (all of ``privs``) / check_any: ApiError 403 with PVE's text."""
        denied = self.perms.require(self.ident, path, privs, any_of=any_of)
        if denied is not None:
            raise ApiError(403, denied)

    @property
    def is_root(self) -> bool:
        """``root@pam`` itself (a ticket): handlers skip their extra checks for it, as PVE's do."""
        return self.ident.tokenid is None and self.ident.userid == "root@pam"
