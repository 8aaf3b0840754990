"""What the last successful `up` installed in the cluster: each component's version and the
digest of its rendered configuration (``homelab.core.plan.components``). The plan compares the
rendering with it; `up` writes it once its addons are applied and the cluster is healthy. Kept
as one record in the lab's sealed store, so a team's PostgreSQL store shares it."""

from __future__ import annotations

import json
from collections.abc import Iterable

from homelab.core.plan.components import Component
from homelab.engine.state import StateStore

__all__ = ["RECORD", "InstalledComponents"]

RECORD = "cluster/components"


class InstalledComponents:
    """Read and write the record of one lab."""

    def __init__(self, store: StateStore, lab: str) -> None:
        self._box = store.secrets(lab)

    def get(self) -> dict[str, Component] | None:
        """The record, or None when no `up` recorded one yet."""
        raw = self._box.get(RECORD)
        if raw is None:
            return None
        listed = json.loads(raw).get("components", [])
        return {
            str(c["name"]): Component(str(c["name"]), str(c["version"]), str(c["config"]))
            for c in listed
        }

    def put(self, components: Iterable[Component]) -> None:
        doc = {"components": [c.to_dict() for c in components]}
        self._box.put(RECORD, json.dumps(doc, sort_keys=True).encode())
