"""The Kubernetes version of each node, as the state store records it.

Two facts per VM: ``version``, what its kubelet runs now (the rollout moves it node by node),
and ``born``, the version its seed was rendered at (cloud-init runs once per instance: an
existing node's seed stays the one it first booted with, so a version change alone never
makes the plan replace it). Kept as one record in the lab's sealed store (``SecretBox``), so a
team's PostgreSQL store shares them like everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homelab.engine.state.records import NodeRecord

__all__ = ["RECORD", "NodeVersion", "NodeVersions"]

RECORD = "kubernetes/versions"


@dataclass(frozen=True)
class NodeVersion:
    version: str
    born: str


class NodeVersions(NodeRecord[NodeVersion]):
    """Read and write the record of one lab."""

    key = RECORD

    def _load(self, entry: Any) -> NodeVersion:
        return NodeVersion(str(entry["version"]), str(entry.get("born", entry["version"])))

    def _dump(self, value: NodeVersion) -> Any:
        return {"version": value.version, "born": value.born}

    def current(self) -> dict[str, str]:
        return {vm: entry.version for vm, entry in self.all().items()}

    def born(self) -> dict[str, str]:
        return {vm: entry.born for vm, entry in self.all().items()}

    def record(self, vm: str, version: str, *, born: str | None = None) -> None:
        """``vm`` now runs ``version`` (its birth version kept, or ``born`` for a new one)."""
        known = self.all().get(vm)
        self.put(vm, NodeVersion(version, known.born if known else (born or version)))

    def seed(self, versions: Mapping[str, str]) -> None:
        """Record nodes seen for the first time (their birth version is what they run)."""
        self.add_new({vm: NodeVersion(v, v) for vm, v in versions.items()})
