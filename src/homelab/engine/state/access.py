"""The SSH keys of each node, as the state store records them: ``born``, the keys its seed
carried at first boot (cloud-init runs once per instance: an existing node keeps that seed, so
a key change alone never makes the plan replace it), and ``current``, what its
``authorized_keys`` holds now (apply pushes a changed list through the guest agent). Kept as
one record in the lab's sealed store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homelab.engine.state.records import NodeRecord

__all__ = ["FIRST_RECORD", "RECORD", "BornFirstRecord", "NodeKeys", "NodeKeysRecord"]

RECORD = "access/ssh-keys"


@dataclass(frozen=True)
class NodeKeys:
    born: tuple[str, ...]
    current: tuple[str, ...]


class NodeKeysRecord(NodeRecord[NodeKeys]):
    """Read and write the record of one lab."""

    key = RECORD

    def _load(self, entry: Any) -> NodeKeys:
        return NodeKeys(tuple(entry["born"]), tuple(entry["current"]))

    def _dump(self, value: NodeKeys) -> Any:
        return {"born": list(value.born), "current": list(value.current)}

    def born(self) -> dict[str, tuple[str, ...]]:
        return {vm: entry.born for vm, entry in self.all().items()}

    def read_back(self, keys: Mapping[str, NodeKeys]) -> None:
        """Nodes seen for the first time, with what they were born with and hold read back
        from the guest (cloud-init's user-data, ``authorized_keys``)."""
        self.add_new(keys)

    def pushed(self, vm: str, keys: tuple[str, ...]) -> None:
        known = self.all().get(vm)
        self.put(vm, NodeKeys(known.born if known else keys, keys))


FIRST_RECORD = "cluster/born-first"


class BornFirstRecord(NodeRecord[tuple[str, str]]):
    """Which control plane each node's seed took for the cluster's first (the one that runs
    ``kubeadm init``, and that joiners wait for), by name and address, at its first boot: when
    that control plane goes or the spec's order changes, each node keeps the seed it was born
    with."""

    key = FIRST_RECORD

    def _load(self, entry: Any) -> tuple[str, str]:
        return (str(entry[0]), str(entry[1]))

    def _dump(self, value: tuple[str, str]) -> Any:
        return list(value)

    def seed(self, firsts: Mapping[str, tuple[str, str]]) -> None:
        """Nodes seen for the first time: the spec's first made them."""
        self.add_new(firsts)

    def born(self, vm: str, first: tuple[str, str]) -> None:
        self.put(vm, first)
