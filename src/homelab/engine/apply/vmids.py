"""VmidAllocator: VMIDs for new VMs, from the lab's ``vmid_range``, shared by parallel chains.

Proxmox cannot reserve a VMID (``/cluster/nextid`` is a read), so two creators can pick the same
one. The allocator hands each chain a distinct VMID that nothing observed uses, and a chain that
still collides (someone else took it meanwhile) marks it taken and asks for the next.

VMs and LXC containers share one VMID space: ``in_use`` (``PveClient.guest_vmids``, which
lists both) is read once, when the first VMID is picked, so containers in the range are
skipped instead of being found by a clone that fails on them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from homelab.errors import LabError

__all__ = ["VmidAllocator", "VmidExhausted"]


class VmidExhausted(LabError):
    """Every VMID of the lab's range is in use."""


class VmidAllocator:
    """Thread-safe: ``take`` returns the lowest VMID of the range nobody uses or was given."""

    def __init__(
        self,
        vmids: range,
        taken: Iterable[int],
        in_use: Callable[[], Iterable[int]] | None = None,
    ) -> None:
        self._range = vmids
        self._taken = set(taken)
        self._in_use = in_use
        self._lock = threading.Lock()

    def take(self, pinned: int | None = None) -> int:
        """A pinned VMID is returned as is (the spec chose it); else the lowest free one."""
        with self._lock:
            if pinned is not None:
                self._taken.add(pinned)
                return pinned
            if self._in_use is not None:
                self._taken.update(self._in_use())
                self._in_use = None
            for vmid in self._range:
                if vmid not in self._taken:
                    self._taken.add(vmid)
                    return vmid
        raise VmidExhausted(
            f"no free VMID left in vmid_range {self._range.start}-{self._range.stop - 1}",
            hint="widen proxmox.vmid_range in the spec",
        )

    def mark_taken(self, vmid: int) -> None:
        with self._lock:
            self._taken.add(vmid)
