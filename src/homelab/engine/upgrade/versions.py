"""The Kubernetes version of each node, as the state store records it.

Two facts per VM: ``version``, what its kubelet runs now (the rollout moves it node by node),
and ``born``, the version its seed was rendered at (cloud-init runs once per instance: an
existing node's seed stays the one it first booted with, so a version change alone never
makes the plan replace it). Kept as one record in the lab's sealed store (``SecretBox``), so a
team's PostgreSQL store shares them like everything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from homelab.engine.state import StateStore

__all__ = ["RECORD", "NodeVersion", "NodeVersions"]

RECORD = "kubernetes/versions"


@dataclass(frozen=True)
class NodeVersion:
    version: str
    born: str


class NodeVersions:
    """Read and write the record of one lab."""

    def __init__(self, store: StateStore, lab: str) -> None:
        self._box = store.secrets(lab)

    def all(self) -> dict[str, NodeVersion]:
        raw = self._box.get(RECORD)
        if raw is None:
            return {}
        nodes = json.loads(raw).get("nodes", {})
        return {
            vm: NodeVersion(str(entry["version"]), str(entry.get("born", entry["version"])))
            for vm, entry in nodes.items()
        }

    def current(self) -> dict[str, str]:
        return {vm: entry.version for vm, entry in self.all().items()}

    def born(self) -> dict[str, str]:
        return {vm: entry.born for vm, entry in self.all().items()}

    def record(self, vm: str, version: str, *, born: str | None = None) -> None:
        """``vm`` now runs ``version`` (its birth version kept, or ``born`` for a new one)."""
        nodes = self.all()
        known = nodes.get(vm)
        nodes[vm] = NodeVersion(version, known.born if known else (born or version))
        self._write(nodes)

    def seed(self, versions: Mapping[str, str]) -> None:
        """Record nodes seen for the first time (their birth version is what they run)."""
        nodes = self.all()
        for vm, version in versions.items():
            nodes.setdefault(vm, NodeVersion(version, version))
        self._write(nodes)

    def forget(self, vms: Iterable[str]) -> None:
        """VMs re-created or gone: their next record starts anew."""
        nodes = self.all()
        for vm in vms:
            nodes.pop(vm, None)
        self._write(nodes)

    def _write(self, nodes: Mapping[str, NodeVersion]) -> None:
        doc = {
            "nodes": {
                vm: {"version": entry.version, "born": entry.born}
                for vm, entry in sorted(nodes.items())
            }
        }
        self._box.put(RECORD, json.dumps(doc, sort_keys=True).encode())
