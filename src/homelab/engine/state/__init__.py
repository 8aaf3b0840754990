"""The state store: encrypted secrets, apply intents (the crash journal), history, the lab lock.

SQLite at `.homelab/state.db` beside the spec by default (the folder gets its own .gitignore),
or PostgreSQL when HOMELAB_STATE_URL=postgresql://... so a team or CI can share a lab. Secrets
are sealed with AES-GCM (see crypto.py) before they reach either database.

Every store has an identity (``store_id``): a random id made with the store and kept in it (so a
copied `.homelab/` or a shared PostgreSQL database is the same store). apply records it on the
VMs it manages, so a second store for the same lab knows it does not manage them.

    store = open_store(spec_path)
    pki = store.secrets("home-lab").get_or_create("cluster-pki", make_pki)
    with store.lock("home-lab", purpose="apply"):
        store.intents("home-lab").put("clone/k8s-worker-2", {...})
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homelab.engine.state.backends import (
    Backend,
    PostgresBackend,
    SqliteBackend,
    utc_now,
)
from homelab.engine.state.crypto import Cipher, load_key
from homelab.errors import StateError, StateLockedError

URL_ENV = "HOMELAB_STATE_URL"
STATE_DIRNAME = ".homelab"
LEGACY_KEY_FILE = "state.key"  # where homelab kept the key before it moved out of the store
STORE_ID_KEY = "store-id"
APPLIED_PREFIX = "applied:"
JOBS_PREFIX = "backup-jobs:"

__all__ = [
    "HistoryEvent",
    "Intents",
    "SecretBox",
    "StateStore",
    "open_keyless",
    "open_store",
    "state_dir",
]


def state_dir(spec_path: Path) -> Path:
    """`.homelab/` beside the spec, created with a .gitignore that ignores all of it."""
    directory = spec_path.resolve().parent / STATE_DIRNAME
    directory.mkdir(mode=0o700, exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# homelab state: secrets and journals; never commit\n*\n")
    return directory


def open_store(spec_path: Path, *, url: str | None = None) -> StateStore:
    """The store for the lab whose spec is at spec_path (PostgreSQL if a URL is given/set)."""
    store = open_keyless(spec_path, url=url)
    try:
        key = load_key(
            store.store_id,
            legacy=state_dir(spec_path) / LEGACY_KEY_FILE,
            has_secrets=store.has_secrets(),
            store=store.backend.description,
        )
    except BaseException:
        store.close()
        raise
    store.cipher = Cipher(key)
    return store


def open_keyless(spec_path: Path, *, url: str | None = None) -> StateStore:
    """The store without its key: enough to read its identity and bring a key to it."""
    url = url or os.environ.get(URL_ENV) or None
    directory = state_dir(spec_path)
    backend: Backend
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise StateError(
                f"{URL_ENV} must be a postgresql:// URL",
                hint="unset it to use the SQLite store in .homelab/",
            )
        backend = PostgresBackend(url)
    else:
        backend = SqliteBackend(directory / "state.db")
    return StateStore(backend, None)


class SecretBox:
    """A lab's secrets: named byte strings, sealed at rest."""

    def __init__(self, store: StateStore, lab: str) -> None:
        self._db, self._cipher, self._lab = store.backend, store.cipher, lab

    def get(self, name: str) -> bytes | None:
        rows = self._db.query(
            "SELECT value FROM hl_secrets WHERE lab = ? AND name = ?", (self._lab, name)
        )
        return self._cipher.open(self._lab, name, bytes(rows[0][0])) if rows else None

    def put(self, name: str, value: bytes) -> None:
        sealed = self._cipher.seal(self._lab, name, value)
        self._db.execute(
            "INSERT INTO hl_secrets (lab, name, value, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (lab, name) DO UPDATE SET value = excluded.value, "
            "updated = excluded.updated",
            (self._lab, name, sealed, utc_now()),
        )

    def get_or_create(self, name: str, factory: Callable[[], bytes]) -> bytes:
        """The stored value, or factory()'s, stored first; concurrent creators agree on one."""
        existing = self.get(name)
        if existing is not None:
            return existing
        sealed = self._cipher.seal(self._lab, name, factory())
        self._db.execute(
            "INSERT INTO hl_secrets (lab, name, value, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (lab, name) DO NOTHING",
            (self._lab, name, sealed, utc_now()),
        )
        stored = self.get(name)
        if stored is None:  # pragma: no cover - the row was just written
            raise StateError(f"secret {name!r} vanished while it was being created")
        return stored

    def delete(self, name: str) -> None:
        self._db.execute("DELETE FROM hl_secrets WHERE lab = ? AND name = ?", (self._lab, name))

    def names(self) -> list[str]:
        rows = self._db.query(
            "SELECT name FROM hl_secrets WHERE lab = ? ORDER BY name", (self._lab,)
        )
        return [str(r[0]) for r in rows]


class Intents:
    """The crash journal: what apply is about to do, written before it does it.

    An intent is put before a side effect (e.g. "clone VMID 203 as k8s-worker-2") and removed once
    its outcome is visible in Proxmox and recorded. After a crash, the intents still present say
    which half-made things to look for; the engine reconciles them before planning anew.
    """

    def __init__(self, store: StateStore, lab: str) -> None:
        self._db, self._lab = store.backend, lab

    def put(self, key: str, data: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO hl_intents (lab, key, data, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (lab, key) DO UPDATE SET data = excluded.data",
            (self._lab, key, json.dumps(data, sort_keys=True), utc_now()),
        )

    def remove(self, key: str) -> None:
        self._db.execute("DELETE FROM hl_intents WHERE lab = ? AND key = ?", (self._lab, key))

    def all(self) -> dict[str, dict[str, Any]]:
        rows = self._db.query(
            "SELECT key, data FROM hl_intents WHERE lab = ? ORDER BY key", (self._lab,)
        )
        return {str(k): json.loads(d) for k, d in rows}


@dataclass(frozen=True)
class HistoryEvent:
    id: int
    at: str
    event: str
    data: dict[str, Any]


class History:
    """Append-only record of what was applied, for `status` and audits."""

    def __init__(self, store: StateStore, lab: str) -> None:
        self._db, self._lab = store.backend, lab

    def append(self, event: str, data: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO hl_history (lab, at, event, data) VALUES (?, ?, ?, ?)",
            (self._lab, utc_now(), event, json.dumps(data, sort_keys=True)),
        )

    def prune(self, events: Sequence[str], keep: int) -> None:
        """Delete all but the newest ``keep`` of ``events`` (a busy kind's retention)."""
        marks = ", ".join("?" for _ in events)
        rows = self._db.query(
            f"SELECT id FROM hl_history WHERE lab = ? AND event IN ({marks}) "  # noqa: S608 - placeholders only
            "ORDER BY id DESC LIMIT 1 OFFSET ?",
            (self._lab, *events, keep),
        )
        if rows:
            self._db.execute(
                f"DELETE FROM hl_history WHERE lab = ? AND event IN ({marks}) AND id <= ?",  # noqa: S608 - placeholders only
                (self._lab, *events, rows[0][0]),
            )

    def recent(self, limit: int = 50, *, events: Sequence[str] = ()) -> list[HistoryEvent]:
        """The newest ``limit`` events, newest first (only those named ``events`` if given)."""
        only = f" AND event IN ({', '.join('?' for _ in events)})" if events else ""
        rows = self._db.query(
            f"SELECT id, at, event, data FROM hl_history WHERE lab = ?{only} "  # noqa: S608 - placeholders only
            "ORDER BY id DESC LIMIT ?",
            (self._lab, *events, limit),
        )
        return [HistoryEvent(int(i), str(a), str(e), json.loads(d)) for i, a, e, d in rows]


class StateStore:
    """One open state store (see the module docstring)."""

    def __init__(self, backend: Backend, cipher: Cipher | None) -> None:
        self.backend = backend
        self._cipher = cipher
        self._held: set[str] = set()
        self._id: str | None = None

    def __repr__(self) -> str:
        return f"StateStore({self.backend.description})"

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            raise StateError("the state store was opened without its key")
        return self._cipher

    @cipher.setter
    def cipher(self, cipher: Cipher) -> None:
        self._cipher = cipher

    def has_secrets(self) -> bool:
        """Whether any secret is sealed in this store (then its key must not change)."""
        return bool(self.backend.query("SELECT 1 FROM hl_secrets LIMIT 1"))

    def sealed_sample(self) -> tuple[str, str, bytes] | None:
        """One sealed secret (lab, name, sealed bytes), to check a key opens this store."""
        rows = self.backend.query("SELECT lab, name, value FROM hl_secrets LIMIT 1")
        return (str(rows[0][0]), str(rows[0][1]), bytes(rows[0][2])) if rows else None

    def secrets(self, lab: str) -> SecretBox:
        return SecretBox(self, lab)

    @property
    def store_id(self) -> str:
        """This store's identity, made on first use; concurrent first users agree on one."""
        if self._id is None:
            self.backend.execute(
                "INSERT INTO hl_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (STORE_ID_KEY, uuid.uuid4().hex[:16]),
            )
            rows = self.backend.query("SELECT value FROM hl_meta WHERE name = ?", (STORE_ID_KEY,))
            self._id = str(rows[0][0])
        return self._id

    def mark_applied(self, lab: str) -> None:
        """Note that this store is about to change ``lab``'s VMs (before the first change, so
        an interrupted first apply can resume)."""
        self.backend.execute(
            "INSERT INTO hl_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (f"{APPLIED_PREFIX}{lab}", utc_now()),
        )

    def has_applied(self, lab: str) -> bool:
        """Whether this store ever changed ``lab``'s VMs (marked, or history of older stores)."""
        rows = self.backend.query(
            "SELECT value FROM hl_meta WHERE name = ?", (f"{APPLIED_PREFIX}{lab}",)
        )
        return bool(rows) or bool(self.history(lab).recent(1))

    def note_backup_jobs(self, lab: str, present: bool) -> None:
        """Remember whether ``lab`` has backup jobs on Proxmox (so a plan reads them even after
        the spec lost its ``backup:`` section, and deletes them)."""
        name = f"{JOBS_PREFIX}{lab}"
        if present:
            self.backend.execute(
                "INSERT INTO hl_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, utc_now()),
            )
        else:
            self.backend.execute("DELETE FROM hl_meta WHERE name = ?", (name,))

    def has_backup_jobs(self, lab: str) -> bool:
        rows = self.backend.query(
            "SELECT value FROM hl_meta WHERE name = ?", (f"{JOBS_PREFIX}{lab}",)
        )
        return bool(rows)

    def intents(self, lab: str) -> Intents:
        return Intents(self, lab)

    def history(self, lab: str) -> History:
        return History(self, lab)

    @contextlib.contextmanager
    def lock(self, lab: str, *, purpose: str) -> Iterator[None]:
        """Hold the lab's lock for the block; StateLockedError if someone else holds it."""
        if lab in self._held:
            raise StateLockedError(f"lab {lab!r} is already locked by this process")
        owner = uuid.uuid4().hex
        self.backend.acquire_lock(lab, owner, purpose)
        self._held.add(lab)
        try:
            yield
        finally:
            self._held.discard(lab)
            self.backend.release_lock(lab, owner)

    def force_unlock(self, lab: str) -> bool:
        """Remove a stale lock row (SQLite). Returns whether there was one."""
        rows = self.backend.query("SELECT owner FROM hl_locks WHERE lab = ?", (lab,))
        self.backend.execute("DELETE FROM hl_locks WHERE lab = ?", (lab,))
        return bool(rows)

    def close(self) -> None:
        self.backend.close()
