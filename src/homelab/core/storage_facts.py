"""A storage as ``GET /storage`` describes it (parsed by ``homelab.core.pve_inventory``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PBS_KEYS", "StorageFacts"]

PBS_KEYS = ("server", "port", "datastore", "namespace", "username", "fingerprint")


@dataclass(frozen=True)
class StorageFacts:
    """A storage as ``GET /storage`` describes it; ``nodes`` None: on every node."""

    storage: str
    content: frozenset[str]
    shared: bool = False
    nodes: frozenset[str] | None = None
    disabled: bool = False
    type: str = ""
    #: a pbs storage's server, port, datastore, namespace, username and fingerprint
    pbs: tuple[tuple[str, str], ...] = ()

    def on_node(self, node: str) -> bool:
        return not self.disabled and (self.nodes is None or node in self.nodes)
