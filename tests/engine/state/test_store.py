"""The state store against both backends: secrets sealed at rest, intents, history, the lock."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from homelab.engine.state import StateStore, backends, open_store, state_dir
from homelab.engine.state.crypto import KEY_ENV, generate_key, key_file_for
from homelab.errors import SecretKeyError, StateError, StateLockedError
from tests.support.postgres import postgres_url

SECRET = b"-----BEGIN PRIVATE KEY-----\nvery-secret-material-0123456789\n"


@pytest.fixture(params=["sqlite", "postgres"])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    url = postgres_url()
    if url is None:
        pytest.skip("no PostgreSQL server (run the suite via make test)")
    return url


@pytest.fixture
def spec_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv("HOMELAB_STATE_URL", raising=False)
    path = tmp_path / "lab.yaml"
    path.write_text("name: x\n")
    return path


@pytest.fixture
def lab() -> str:
    return f"lab-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def store_factory(spec_path: Path, backend_url: str | None) -> Iterator[object]:
    opened = []

    def make() -> object:
        store = open_store(spec_path, url=backend_url)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def test_secret_roundtrip_and_sealed_at_rest(spec_path: Path, lab: str) -> None:
    with open_store(spec_path) as store:
        store.secrets(lab).put("cluster-pki", SECRET)
        assert store.secrets(lab).get("cluster-pki") == SECRET
        assert store.secrets(lab).names() == ["cluster-pki"]
    raw = (spec_path.parent / ".homelab" / "state.db").read_bytes()
    wal = spec_path.parent / ".homelab" / "state.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert b"very-secret-material" not in raw
    rows = sqlite3.connect(spec_path.parent / ".homelab" / "state.db").execute(
        "SELECT value FROM hl_secrets"
    )
    assert all(b"very-secret" not in bytes(r[0]) for r in rows)


def test_both_backends_secrets(store_factory, lab: str) -> None:  # type: ignore[no-untyped-def]
    store = store_factory()
    box = store.secrets(lab)
    assert box.get("missing") is None
    box.put("a", b"1")
    box.put("a", b"2")
    assert box.get("a") == b"2"
    assert box.get_or_create("b", lambda: b"first") == b"first"
    assert box.get_or_create("b", lambda: b"second") == b"first"
    other = store_factory()
    assert other.secrets(lab).get("b") == b"first"
    assert other.secrets(lab + "-other").get("b") is None
    box.delete("a")
    assert box.names() == ["b"]


def test_the_key_lives_apart_from_the_store_private_and_reused(spec_path: Path, lab: str) -> None:
    with open_store(spec_path) as store:
        store.secrets(lab).put("s", b"v")
        key_file = key_file_for(store.store_id)
    assert key_file.parent == Path(os.environ["XDG_CONFIG_HOME"]) / "homelab" / "keys"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.parent.stat().st_mode & 0o777 == 0o700
    assert not list(state_dir(spec_path).glob("*.key")), "no key beside the store"
    with open_store(spec_path) as store:
        assert store.secrets(lab).get("s") == b"v"
    assert (spec_path.parent / ".homelab" / ".gitignore").read_text().strip().endswith("*")


def test_a_copied_store_without_its_key_says_how_to_bring_it(
    spec_path: Path, lab: str, tmp_path: Path
) -> None:
    with open_store(spec_path) as store:
        store.secrets(lab).put("s", b"v")
        key_file = key_file_for(store.store_id)
    text = key_file.read_text()
    key_file.unlink()
    with pytest.raises(SecretKeyError, match="holds secrets, and its key is not on this machine"):
        open_store(spec_path)
    assert not key_file.exists(), "no new key for a store that has secrets"
    # an older homelab's key beside the store is moved to the configuration directory
    legacy = state_dir(spec_path) / "state.key"
    legacy.write_text(text)
    with open_store(spec_path) as store:
        assert store.secrets(lab).get("s") == b"v"
    assert not legacy.exists() and key_file.read_text() == text


def test_wrong_key_is_a_clear_error(
    spec_path: Path, lab: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(spec_path) as store:
        store.secrets(lab).put("s", b"v")
    monkeypatch.setenv(KEY_ENV, generate_key())
    with open_store(spec_path) as store, pytest.raises(SecretKeyError, match="cannot be decrypted"):
        store.secrets(lab).get("s")


def test_malformed_env_key(spec_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    with pytest.raises(SecretKeyError, match="HOMELAB_STATE_KEY"):
        open_store(spec_path)


def test_value_bound_to_its_name(spec_path: Path, lab: str) -> None:
    with open_store(spec_path) as store:
        store.secrets(lab).put("a", b"value-a")
        store.backend.execute(
            "INSERT INTO hl_secrets (lab, name, value, updated) "
            "SELECT lab, 'b', value, updated FROM hl_secrets WHERE name = 'a'"
        )
        with pytest.raises(SecretKeyError):
            store.secrets(lab).get("b")


def test_intents_and_history(store_factory, lab: str) -> None:  # type: ignore[no-untyped-def]
    store = store_factory()
    intents = store.intents(lab)
    intents.put("clone/w2", {"vmid": 203, "node": "pve"})
    intents.put("seed/w2", {"volid": "local:iso/x.iso"})
    assert store_factory().intents(lab).all() == {
        "clone/w2": {"node": "pve", "vmid": 203},
        "seed/w2": {"volid": "local:iso/x.iso"},
    }
    intents.remove("clone/w2")
    assert list(intents.all()) == ["seed/w2"]
    history = store.history(lab)
    history.append("apply", {"created": 3})
    history.append("destroy", {"destroyed": 1})
    events = history.recent()
    assert [e.event for e in events] == ["destroy", "apply"]
    assert events[1].data == {"created": 3}
    for n in range(6):
        history.append("guest-exec" if n % 2 else "guest-write", {"n": n})
    assert [e.data["n"] for e in history.recent(3, events=("guest-exec",))] == [5, 3, 1]
    history.prune(("guest-exec", "guest-write"), 4)
    assert [e.data.get("n") for e in history.recent()] == [5, 4, 3, 2, None, None]
    history.prune(("guest-exec", "guest-write"), 4)  # nothing beyond the newest 4: kept
    assert len(history.recent()) == 6
    assert store_factory().history(lab).recent(1)[0].data == {"n": 5}


def test_lock_excludes_a_second_holder(store_factory, lab: str) -> None:  # type: ignore[no-untyped-def]
    first, second = store_factory(), store_factory()
    with first.lock(lab, purpose="apply"):
        with (
            pytest.raises(StateLockedError, match="locked: apply by"),
            second.lock(lab, purpose="x"),
        ):
            pass
        with pytest.raises(StateLockedError), first.lock(lab, purpose="apply"):
            pass
    with second.lock(lab, purpose="apply"):
        pass


#: A child process that takes the lab's lock, says so with its pid, waits for its stdin to close
#: and then dies without releasing the lock (os._exit skips every cleanup).
HOLDER = (
    "import os, sys; from pathlib import Path; from homelab.engine.state import open_store;"
    "url = sys.argv[3] or None; s = open_store(Path(sys.argv[1]), url=url);"
    "cm = s.lock(sys.argv[2], purpose='apply'); cm.__enter__();"
    "print('held', os.getpid(), flush=True); sys.stdin.read(); os._exit(0)"
)


@contextmanager
def lock_held_by_a_child(spec_path: Path, lab: str, url: str | None) -> Iterator[int]:
    """Run HOLDER; yields its pid once it holds the lock; it has died when the block ends."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(spec_path), lab, url or ""],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            assert proc.stdout.readline().split() == ["held", str(proc.pid)]
            yield proc.pid
        finally:
            proc.stdin.close()
            assert proc.wait(timeout=60) == 0


def test_lock_held_by_another_process_excludes_us_until_it_dies(
    spec_path: Path, lab: str, backend_url: str | None
) -> None:
    """The child really holds the lock (we are refused, and told its pid); once it died without
    releasing it, the lock is taken over (SQLite: dead pid on this host; PostgreSQL: the
    advisory lock ends with its session)."""
    held_by = r"locked: apply by .*\(pid {} on "
    with open_store(spec_path, url=backend_url) as store:
        with (
            lock_held_by_a_child(spec_path, lab, backend_url) as pid,
            pytest.raises(StateLockedError, match=held_by.format(pid)),
            store.lock(lab, purpose="x"),
        ):
            pass
        with (
            _taken_once_free(store, lab),
            open_store(spec_path, url=backend_url) as other,
            pytest.raises(StateLockedError, match=held_by.format(os.getpid())),
            other.lock(lab, purpose="x"),
        ):
            pass


@contextmanager
def _taken_once_free(store: StateStore, lab: str, seconds: float = 15.0) -> Iterator[None]:
    """The lab's lock, taken as soon as it is free: PostgreSQL ends a dead client's session
    (and its advisory lock) only once its backend noticed the closed socket, a moment after the
    process died; SQLite's dead pid is seen at once."""
    deadline = time.monotonic() + seconds
    with ExitStack() as stack:
        while True:
            try:
                stack.enter_context(store.lock(lab, purpose="apply"))
                break
            except StateLockedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield


def test_bad_url_and_unreachable_server(spec_path: Path) -> None:
    with pytest.raises(StateError, match="postgresql://"):
        open_store(spec_path, url="mysql://x")
    with pytest.raises(StateError, match=r"cannot open the state store postgresql://u:\*\*\*@"):
        open_store(spec_path, url="postgresql://u:hunter2@127.0.0.1:1/db")


def test_state_dir_is_private(spec_path: Path) -> None:
    directory = state_dir(spec_path)
    assert directory.stat().st_mode & 0o777 == 0o700


def test_process_identity_reads_boot_id_and_start_time(tmp_path: Path) -> None:
    proc, boot = tmp_path / "proc", tmp_path / "boot_id"
    (proc / "42").mkdir(parents=True)
    boot.write_text("b0b-1\n")
    # comm may hold spaces and parentheses; the start time is field 22
    fields = " ".join(str(n) for n in range(3, 30))
    (proc / "42" / "stat").write_text(f"42 (a (b) c) {fields}\n")
    assert backends.process_identity(42, proc=proc, boot_id=boot) == "b0b-1/22"
    assert backends.process_identity(43, proc=proc, boot_id=boot) == ""
    mine = backends.process_identity(os.getpid())
    assert mine.count("/") == 1 and mine == backends.process_identity(os.getpid())


def test_a_lock_whose_pid_now_belongs_to_another_process_is_taken_over(
    spec_path: Path, lab: str
) -> None:
    """Our own pid is alive, but the row's identity says it was another process (a reused pid
    or a reboot since): the holder is gone, the lock is ours. The same row with our identity
    still excludes us."""
    with open_store(spec_path) as store:
        row = (lab, "old", socket.gethostname(), os.getpid(), "apply", "2026-01-01T00:00:00+00:00")
        insert = (
            "INSERT INTO hl_locks (lab, owner, host, pid, purpose, acquired, process) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        store.backend.execute(insert, (*row, "another-boot/123"))
        with store.lock(lab, purpose="apply"):
            pass
        store.backend.execute(insert, (*row, backends.process_identity(os.getpid())))
        with (
            pytest.raises(StateLockedError, match="is locked: apply by old"),
            store.lock(lab, purpose="apply"),
        ):
            pass
        store.force_unlock(lab)


def test_a_store_made_before_the_process_column_gets_it(spec_path: Path, lab: str) -> None:
    path = state_dir(spec_path) / "state.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE hl_locks (lab TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT "
            "NULL, pid INTEGER NOT NULL, purpose TEXT NOT NULL, acquired TEXT NOT NULL)"
        )
    with open_store(spec_path) as store, store.lock(lab, purpose="apply"):
        (process,) = store.backend.query("SELECT process FROM hl_locks WHERE lab = ?", (lab,))[0]
        assert process == backends.process_identity(os.getpid()) != ""
