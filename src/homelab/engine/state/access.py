"""The SSH keys of each node, as the state store records them: ``born``, the keys its seed
carried at first boot (cloud-init runs once per instance: an existing node keeps that seed, so
a key change alone never makes the plan replace it), and ``current``, what its
``authorized_keys`` holds now (apply pushes a changed list through the guest agent). Kept as
one record in the lab's sealed store."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from homelab.engine.state import StateStore

__all__ = ["FIRST_RECORD", "RECORD", "BornFirstRecord", "NodeKeys", "NodeKeysRecord"]

RECORD = "access/ssh-keys"


@dataclass(frozen=True)
class NodeKeys:
    born: tuple[str, ...]
    current: tuple[str, ...]


class NodeKeysRecord:
    """Read and write the record of one lab."""

    def __init__(self, store: StateStore, lab: str) -> None:
        self._box = store.secrets(lab)

    def all(self) -> dict[str, NodeKeys]:
        raw = self._box.get(RECORD)
        if raw is None:
            return {}
        nodes = json.loads(raw).get("nodes", {})
        return {
            vm: NodeKeys(tuple(entry["born"]), tuple(entry["current"]))
            for vm, entry in nodes.items()
        }

    def born(self) -> dict[str, tuple[str, ...]]:
        return {vm: entry.born for vm, entry in self.all().items()}

    def seed(self, keys: Mapping[str, tuple[str, ...]]) -> None:
        """Nodes seen for the first time: what they hold is what they were born with."""
        nodes = self.all()
        for vm, held in keys.items():
            nodes.setdefault(vm, NodeKeys(held, held))
        self._write(nodes)

    def pushed(self, vm: str, keys: tuple[str, ...]) -> None:
        nodes = self.all()
        known = nodes.get(vm)
        nodes[vm] = NodeKeys(known.born if known else keys, keys)
        self._write(nodes)

    def forget(self, vms: Iterable[str]) -> None:
        """VMs re-created or gone: their next record starts anew."""
        nodes = self.all()
        for vm in vms:
            nodes.pop(vm, None)
        self._write(nodes)

    def _write(self, nodes: Mapping[str, NodeKeys]) -> None:
        doc = {
            "nodes": {
                vm: {"born": list(entry.born), "current": list(entry.current)}
                for vm, entry in sorted(nodes.items())
            }
        }
        self._box.put(RECORD, json.dumps(doc, sort_keys=True).encode())


FIRST_RECORD = "cluster/born-first"


class BornFirstRecord:
    """Which control plane each node's seed took for the cluster's first (the one that runs
    ``kubeadm init``, and that joiners wait for), by name and address, at its first boot: when
    that control plane goes or the spec's order changes, each node keeps the seed it was born
    with."""

    def __init__(self, store: StateStore, lab: str) -> None:
        self._box = store.secrets(lab)

    def all(self) -> dict[str, tuple[str, str]]:
        raw = self._box.get(FIRST_RECORD)
        if raw is None:
            return {}
        nodes = json.loads(raw).get("nodes", {})
        return {vm: (str(first[0]), str(first[1])) for vm, first in nodes.items()}

    def seed(self, firsts: Mapping[str, tuple[str, str]]) -> None:
        """Nodes seen for the first time: the spec's first made them."""
        nodes = self.all()
        for vm, first in firsts.items():
            nodes.setdefault(vm, first)
        self._write(nodes)

    def born(self, vm: str, first: tuple[str, str]) -> None:
        nodes = self.all()
        nodes[vm] = first
        self._write(nodes)

    def forget(self, vms: Iterable[str]) -> None:
        nodes = self.all()
        for vm in vms:
            nodes.pop(vm, None)
        self._write(nodes)

    def _write(self, nodes: Mapping[str, tuple[str, str]]) -> None:
        doc = {"nodes": {vm: list(first) for vm, first in sorted(nodes.items())}}
        self._box.put(FIRST_RECORD, json.dumps(doc, sort_keys=True).encode())
