"""Per-node facts the state store keeps for a lab, each kind as one sealed JSON record.

``NodeRecord`` is the shape they share: ``{"nodes": {vm: entry}}`` in the lab's ``SecretBox``
(so a team's PostgreSQL store shares them like everything else), read and written whole. A
subclass names its record (``key``) and says how an entry is read (``_load``) and written
(``_dump``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from homelab.engine.state import StateStore

__all__ = ["NodeRecord"]

T = TypeVar("T")

# A change reads the record whole and writes it back: threads of one process (a rollout's
# workers recording their nodes) take turns; other processes are kept out by the lab's lock.
_CHANGES = threading.RLock()


class NodeRecord(Generic[T]):
    """One lab's record of ``T`` per VM."""

    key: ClassVar[str]  # the record's name in the box

    def __init__(self, store: StateStore, lab: str) -> None:
        self._box = store.secrets(lab)

    def _load(self, entry: Any) -> T:
        raise NotImplementedError

    def _dump(self, value: T) -> Any:
        raise NotImplementedError

    def all(self) -> dict[str, T]:
        raw = self._box.get(self.key)
        if raw is None:
            return {}
        return {vm: self._load(entry) for vm, entry in json.loads(raw).get("nodes", {}).items()}

    def put(self, vm: str, value: T) -> None:
        with _CHANGES:
            nodes = self.all()
            nodes[vm] = value
            self._write(nodes)

    def add_new(self, values: Mapping[str, T]) -> None:
        """Record VMs seen for the first time; those already known keep their entry."""
        with _CHANGES:
            nodes = self.all()
            for vm, value in values.items():
                nodes.setdefault(vm, value)
            self._write(nodes)

    def forget(self, vms: Iterable[str]) -> None:
        """VMs re-created or gone: their next entry starts anew."""
        with _CHANGES:
            nodes = self.all()
            for vm in vms:
                nodes.pop(vm, None)
            self._write(nodes)

    def _write(self, nodes: Mapping[str, T]) -> None:
        doc = {"nodes": {vm: self._dump(value) for vm, value in sorted(nodes.items())}}
        self._box.put(self.key, json.dumps(doc, sort_keys=True).encode())
