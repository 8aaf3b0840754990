"""Rebuilding a lost SQLite state store in one step: made aside, then put in place by a rename.

``Rebuild`` makes the new store as ``.homelab/state.db.recovering`` (its own identity and key,
sealed like any store's secrets), lets the caller fill it, then ``commit`` checkpoints it into
one file and renames it over ``.homelab/state.db`` (``os.replace``: atomic on POSIX, then the
folder is synced). A kill at any moment leaves either the old state (no store, or the store
that was there) or the complete new one; a rerun first discards what a killed run left aside
(the half-made file and the key made for it).

A store that exists is never replaced unless asked (``replace=True``); then a consistent copy
of it (SQLite's online backup, 0600) is kept beside it as ``state.db.backup-<UTC time>``
before anything changes, and the rename happens only once its lab lock is free. A PostgreSQL
store (``HOMELAB_STATE_URL``) is refused: a shared database is recovered by its own backups.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sqlite3
from pathlib import Path
from typing import IO

from homelab.engine.state import URL_ENV, StateStore, open_keyless, state_dir
from homelab.engine.state.backends import SqliteBackend
from homelab.engine.state.crypto import KEY_ENV, Cipher, key_file_for, load_key
from homelab.errors import StateError, StateLockedError

__all__ = ["PENDING_NAME", "STORE_NAME", "Rebuild", "StoreExists"]

STORE_NAME = "state.db"
PENDING_NAME = "state.db.recovering"
LOCK_NAME = "recover.lock"
_SIDECARS = ("-wal", "-shm", "-journal")


class StoreExists(StateError):
    """The state store is still there: recovering would replace it."""


class Rebuild:
    """One rebuild of the store beside ``spec_path`` (see the module docstring)."""

    def __init__(self, spec_path: Path, *, replace: bool = False) -> None:
        if os.environ.get(URL_ENV):
            raise StateError(
                f"{URL_ENV} is set: the state store is a PostgreSQL database, which recover "
                "does not rebuild",
                hint="restore that database from its backups, or unset the variable to "
                "recover into the SQLite store in .homelab/",
            )
        self.spec_path = spec_path
        self.directory = state_dir(spec_path)
        self.target = self.directory / STORE_NAME
        self.pending = self.directory / PENDING_NAME
        self.replace = replace
        self._store: StateStore | None = None
        self._key_made: Path | None = None
        self._lock: IO[str] | None = None

    def check(self, lab: str) -> None:
        """Refuse when a store is there and ``replace`` was not asked for."""
        if not self.target.exists() or self.replace:
            return
        with open_keyless(self.spec_path) as store:
            applied = store.has_applied(lab)
        why = (
            f"it manages lab {lab}"
            if applied
            else f"it never applied lab {lab} (made after the loss, by a plan or a status?)"
        )
        raise StoreExists(
            f"the state store {self.target} exists: {why}; recover does not replace it",
            hint="pass --replace to replace it (a copy is kept beside it as "
            "state.db.backup-<time>)",
        )

    def open(self) -> StateStore:
        """The new store, empty, with its own identity and key (made aside); one rebuild at a
        time per folder (``StateLockedError`` while another runs)."""
        self._hold()
        self.discard()
        store = StateStore(SqliteBackend(self.pending), None)
        try:
            key_path = key_file_for(store.store_id)
            had_key = key_path.exists()
            key = load_key(
                store.store_id,
                legacy=self.directory / "no-legacy-key",
                has_secrets=False,
                store=store.backend.description,
            )
            if not had_key and not os.environ.get(KEY_ENV):
                self._key_made = key_path
        except BaseException:
            store.close()
            raise
        store.cipher = Cipher(key)
        self._store = store
        return store

    def commit(self) -> Path | None:
        """Put the new store in place; returns the copy kept of the old one, if any."""
        store = self._require()
        if self.target.exists() and not self.replace:
            raise StoreExists(
                f"a state store appeared at {self.target} while recover ran (another command "
                "made it): not replacing it",
                hint="run recover again with --replace (a copy of it is kept)",
            )
        backup = self._backup_old() if self.target.exists() else None
        store.backend.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        self._store = None
        _remove_sidecars(self.target)
        self.pending.replace(self.target)  # atomic: os.replace
        _remove_sidecars(self.pending)
        _sync_dir(self.directory)
        self._key_made = None
        self._release()
        return backup

    def discard(self) -> None:
        """Forget a half-made store: this run's, or one a killed run left (with its key)."""
        if self._store is not None:
            self._store.close()
            self._store = None
        if self.pending.exists():
            stale = _store_id_of(self.pending)
            if stale is not None and not os.environ.get(KEY_ENV):
                key_file_for(stale).unlink(missing_ok=True)
        elif self._key_made is not None:
            self._key_made.unlink(missing_ok=True)
        self._key_made = None
        self.pending.unlink(missing_ok=True)
        _remove_sidecars(self.pending)

    def close(self) -> None:
        """Discard what was not committed and let another rebuild run."""
        self.discard()
        self._release()

    def _hold(self) -> None:
        if self._lock is not None:
            return
        handle = (self.directory / LOCK_NAME).open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StateLockedError(
                f"another `state recover` is rebuilding the store in {self.directory}",
                hint="wait for it to finish",
            ) from None
        self._lock = handle

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file frees the lock (a killed process frees it too)
            self._lock = None

    def _require(self) -> StateStore:
        if self._store is None:
            raise StateError("the new state store was not opened")
        return self._store

    def _backup_old(self) -> Path:
        """A consistent copy of the store being replaced, once nobody holds a lab lock on it."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        backup = self.directory / f"{STORE_NAME}.backup-{stamp}"
        try:
            source = sqlite3.connect(self.target, timeout=10.0)
            try:
                held = source.execute("SELECT lab, purpose, pid FROM hl_locks").fetchall()
                if held:
                    lab, purpose, pid = held[0]
                    raise StateError(
                        f"the state store {self.target} is locked ({purpose} of lab {lab} by "
                        f"pid {pid}): not replacing it under a running command",
                        hint="wait for it to end, or `homelab unlock SPEC` if it is gone",
                    )
                source.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.close(fd)
                copy = sqlite3.connect(backup)
                try:
                    source.backup(copy)
                finally:
                    copy.close()
            finally:
                source.close()
        except sqlite3.Error as exc:
            raise StateError(
                f"cannot copy the state store {self.target} before replacing it: {exc}",
                hint="nothing was replaced; move the file aside yourself to recover without it",
            ) from exc
        return backup

    def __enter__(self) -> Rebuild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _store_id_of(path: Path) -> str | None:
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM hl_meta WHERE name = 'store-id'").fetchone()
        finally:
            conn.close()
        return str(row[0]) if row else None
    return None


def _remove_sidecars(path: Path) -> None:
    for suffix in _SIDECARS:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
