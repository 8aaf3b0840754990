"""A lab brought up on the simulator whose state store is then lost, for the recover tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from homelab.core.cluster import ClusterSecrets
from homelab.core.plan.actions import Plan
from homelab.engine.state.crypto import key_file_for
from homelab.verbs.connection import Connection, open_connection
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.secrets import cluster_secrets
from homelab.verbs.up import up_lab
from tests.up.simlab import copy_example


@dataclass
class LostStore:
    """A running simulated lab whose ``.homelab/state.db`` (and its key) is gone."""

    spec: Path
    conn: Connection
    secrets: ClusterSecrets  # what the lost store held
    store_id: str

    @property
    def db(self) -> Path:
        return self.spec.parent / ".homelab" / "state.db"

    def plan(self) -> Plan:
        ctx = prepare_lab(self.spec)
        try:
            plan, _observed = make_plan(self.conn, ctx)
        finally:
            ctx.close()
        return plan


def lose_store(spec: Path, store_id: str) -> None:
    folder = spec.parent / ".homelab"
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (folder / name).unlink(missing_ok=True)
    key_file_for(store_id).unlink(missing_ok=True)


@contextmanager
def lost_store(example: str, into: Path) -> Iterator[LostStore]:
    """Up ``example`` in ``into`` on the simulator, then lose its state store; yields while the
    simulated lab runs."""
    spec = copy_example(example, into)
    ctx = prepare_lab(spec)
    try:
        with open_connection(ctx.spec, spec, sim=True) as conn:
            up_lab(conn, ctx, confirm=lambda _plan: True, timeout=1800)
            secrets, store_id = cluster_secrets(ctx.store, ctx.lab), ctx.store.store_id
            ctx.close()
            lose_store(spec, store_id)
            yield LostStore(spec, conn, secrets, store_id)
    finally:
        ctx.close()
