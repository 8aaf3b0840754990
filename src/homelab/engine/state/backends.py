"""The two SQL backends of the state store: SQLite (default) and PostgreSQL (shared labs).

Each backend owns its connection, its DDL dialect and its lab lock; the store above speaks
one small SQL subset to both (`?` placeholders, INSERT ... ON CONFLICT). Library errors become
StateError here and go no further.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from homelab.errors import StateError, StateLockedError

Row = tuple[Any, ...]

_TABLES = """
CREATE TABLE IF NOT EXISTS hl_secrets (
  lab TEXT NOT NULL, name TEXT NOT NULL, value {blob} NOT NULL, updated TEXT NOT NULL,
  PRIMARY KEY (lab, name));
CREATE TABLE IF NOT EXISTS hl_intents (
  lab TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, created TEXT NOT NULL,
  PRIMARY KEY (lab, key));
CREATE TABLE IF NOT EXISTS hl_history (
  id {serial}, lab TEXT NOT NULL, at TEXT NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS hl_history_lab ON hl_history (lab, id);
CREATE TABLE IF NOT EXISTS hl_meta (
  name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hl_locks (
  lab TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
  purpose TEXT NOT NULL, acquired TEXT NOT NULL, process TEXT NOT NULL DEFAULT '');
"""
# Stores made before the lock recorded the holder's process identity lack its column.
_LOCK_PROCESS_COLUMN = "ALTER TABLE hl_locks ADD COLUMN process TEXT NOT NULL DEFAULT ''"


_LOCK_UPSERT = (
    "INSERT INTO hl_locks (lab, owner, host, pid, purpose, acquired, process) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (lab) DO UPDATE SET owner = "
    "excluded.owner, host = excluded.host, pid = excluded.pid, purpose = "
    "excluded.purpose, acquired = excluded.acquired, process = excluded.process"
)
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Backend(Protocol):
    """What the store needs from a database."""

    description: str

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def acquire_lock(self, lab: str, owner: str, purpose: str) -> None: ...

    def release_lock(self, lab: str, owner: str) -> None: ...

    def close(self) -> None: ...


def _holder_text(row: Row) -> str:
    owner, host, pid, purpose, acquired = row
    return f"{purpose} by {owner} (pid {pid} on {host}) since {acquired}"


def process_identity(pid: int, *, proc: Path = Path("/proc"), boot_id: Path = BOOT_ID) -> str:
    """``<boot id>/<start time>`` of process ``pid`` (Linux: the kernel's boot id and the
    process's start in clock ticks since boot, field 22 of ``/proc/PID/stat``); "" where that
    cannot be read. A pid reused by another process, or a pid from before a reboot, gives
    another identity."""
    try:
        boot = boot_id.read_text(encoding="ascii").strip()
        stat = (proc / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
        start = stat[stat.rindex(")") + 2 :].split()[19]
    except (OSError, ValueError, IndexError):
        return ""
    return f"{boot}/{start}"


def holder_gone(host: str, pid: int, process: str) -> bool:
    """Whether the lock holder recorded as (host, pid, process identity) is gone for sure: on
    this host, its pid is not alive, or alive but another process (reused pid, or a reboot
    since). A holder on another host cannot be judged from here."""
    if host != socket.gethostname():
        return False
    if not pid_alive(pid):
        return True
    return bool(process) and process_identity(pid) != process


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie waiting to be reaped has;
    it is reaped here when it is this process's child)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    if stat[stat.rindex(")") + 2 :].split()[0] != "Z":
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return True


class SqliteBackend:
    """SQLite in WAL mode; the lab lock is a row, taken over when its process is gone."""

    def __init__(self, path: Path) -> None:
        self.description = str(path)
        self._mutex = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(
                _TABLES.format(blob="BLOB", serial="INTEGER PRIMARY KEY AUTOINCREMENT")
            )
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(hl_locks)")}
            if "process" not in columns:
                self._conn.execute(_LOCK_PROCESS_COLUMN)
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"cannot open the state store {path}: {exc}") from exc
        with contextlib.suppress(OSError):
            path.chmod(0o600)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._mutex, self._errors():
            return list(self._conn.execute(sql, tuple(params)).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._mutex, self._errors():
            self._conn.execute(sql, tuple(params))

    def acquire_lock(self, lab: str, owner: str, purpose: str) -> None:
        host = socket.gethostname()
        with self._mutex, self._errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute(
                    "SELECT owner, host, pid, purpose, acquired, process FROM hl_locks "
                    "WHERE lab = ?",
                    (lab,),
                ).fetchone()
                if row is not None and not holder_gone(row[1], int(row[2]), str(row[5])):
                    raise StateLockedError(
                        f"lab {lab!r} is locked: {_holder_text(row[:5])}",
                        hint="wait for it to finish; if that process is gone for good, run "
                        "`homelab unlock SPEC`",
                    )
                pid = os.getpid()
                self._conn.execute(
                    _LOCK_UPSERT,
                    (lab, owner, host, pid, purpose, utc_now(), process_identity(pid)),
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def release_lock(self, lab: str, owner: str) -> None:
        self.execute("DELETE FROM hl_locks WHERE lab = ? AND owner = ?", (lab, owner))

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StateError(f"state store {self.description}: {exc}") from exc


def _lock_key(lab: str) -> int:
    digest = hashlib.sha256(f"homelab-lab-lock/{lab}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresBackend:
    """PostgreSQL; the lab lock is a session advisory lock, freed by the server if we die."""

    def __init__(self, url: str) -> None:
        import psycopg  # the driver loads only for a PostgreSQL store (fast CLI start-up)

        self.description = _redact_url(url)
        self._mutex = threading.RLock()
        try:
            self._conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(7266564)")  # serialise DDL
                for statement in _TABLES.format(blob="BYTEA", serial="BIGSERIAL PRIMARY KEY").split(
                    ";"
                ):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(
                    _LOCK_PROCESS_COLUMN.replace("ADD COLUMN", "ADD COLUMN IF NOT EXISTS")
                )
        except psycopg.Error as exc:
            raise StateError(f"cannot open the state store {self.description}: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._mutex, self._errors():
            cur = self._conn.execute(_pg(sql), tuple(params))
            return [tuple(_unwrap(v) for v in row) for row in cur.fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._mutex, self._errors():
            self._conn.execute(_pg(sql), tuple(params))

    def acquire_lock(self, lab: str, owner: str, purpose: str) -> None:
        with self._mutex, self._errors():
            got = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (_lock_key(lab),))
            row = got.fetchone()
            if not row or not row[0]:
                holder = self._conn.execute(
                    "SELECT owner, host, pid, purpose, acquired FROM hl_locks WHERE lab = %s",
                    (lab,),
                ).fetchone()
                who = _holder_text(tuple(holder)) if holder else "by another session"
                raise StateLockedError(
                    f"lab {lab!r} is locked: {who}",
                    hint="wait for the other apply to finish (PostgreSQL frees the lock "
                    "when its session ends)",
                )
            pid = os.getpid()
            self._conn.execute(
                _pg(_LOCK_UPSERT),
                (lab, owner, socket.gethostname(), pid, purpose, utc_now(), process_identity(pid)),
            )

    def release_lock(self, lab: str, owner: str) -> None:
        with self._mutex, self._errors():
            self._conn.execute("DELETE FROM hl_locks WHERE lab = %s AND owner = %s", (lab, owner))
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(lab),))

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise StateError(f"state store {self.description}: {exc}") from exc


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


def _unwrap(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def _redact_url(url: str) -> str:
    """postgresql://user:password@host/db -> postgresql://user:***@host/db"""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
