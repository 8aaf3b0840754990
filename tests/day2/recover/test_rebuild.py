"""The store rebuilt aside and put in place by one rename: refused over a store that exists
unless asked, a copy kept of a replaced one, what a killed run left discarded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from homelab.engine.state import URL_ENV, open_keyless, open_store
from homelab.engine.state.crypto import key_file_for
from homelab.engine.state.recover import PENDING_NAME, Rebuild, StoreExists
from homelab.errors import StateError, StateLockedError


def spec_in(tmp_path: Path) -> Path:
    spec = tmp_path / "lab.yaml"
    spec.write_text("name: lab\n")
    return spec


def an_applied_store(spec: Path) -> str:
    with open_store(spec) as store:
        store.secrets("lab").put("cluster-pki", b"old pki")
        store.mark_applied("lab")
        return store.store_id


def test_a_postgresql_store_is_not_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_ENV, "postgresql://u:p@127.0.0.1/db")
    with pytest.raises(StateError, match="recover does not rebuild"):
        Rebuild(spec_in(tmp_path))


def test_the_new_store_appears_only_at_commit(tmp_path: Path) -> None:
    spec = spec_in(tmp_path)
    rebuild = Rebuild(spec)
    rebuild.check("lab")
    store = rebuild.open()
    store.secrets("lab").put("cluster-pki", b"read back")
    store_id = store.store_id
    assert not rebuild.target.exists() and rebuild.pending.exists()
    assert rebuild.commit() is None
    assert not rebuild.pending.exists()
    with open_store(spec) as opened:
        assert opened.store_id == store_id
        assert opened.secrets("lab").get("cluster-pki") == b"read back"


def test_an_existing_store_is_refused_then_replaced_with_a_copy_kept(tmp_path: Path) -> None:
    spec = spec_in(tmp_path)
    old_id = an_applied_store(spec)
    with pytest.raises(StoreExists, match="it manages lab lab"):
        Rebuild(spec).check("lab")
    rebuild = Rebuild(spec, replace=True)
    rebuild.check("lab")
    rebuild.open().secrets("lab").put("cluster-pki", b"new pki")
    backup = rebuild.commit()
    assert backup is not None and backup.stat().st_mode & 0o777 == 0o600
    copy = sqlite3.connect(backup)
    try:
        row = copy.execute("SELECT value FROM hl_meta WHERE name = 'store-id'").fetchone()
    finally:
        copy.close()
    assert row == (old_id,)
    with open_store(spec) as opened:
        assert opened.store_id != old_id
        assert opened.secrets("lab").get("cluster-pki") == b"new pki"


def test_a_store_locked_by_a_running_command_is_not_replaced(tmp_path: Path) -> None:
    spec = spec_in(tmp_path)
    an_applied_store(spec)
    with open_keyless(spec) as holder, holder.lock("lab", purpose="apply"):
        rebuild = Rebuild(spec, replace=True)
        rebuild.open()
        with pytest.raises(StateError, match="is locked \\(apply of lab lab"):
            rebuild.commit()
        rebuild.close()
    assert not (spec.parent / ".homelab" / PENDING_NAME).exists()
    with open_store(spec) as opened:
        assert opened.secrets("lab").get("cluster-pki") == b"old pki"


def test_what_a_killed_run_left_is_discarded_with_its_key(tmp_path: Path) -> None:
    spec = spec_in(tmp_path)
    killed = Rebuild(spec)
    dead_id = killed.open().store_id
    killed._require().close()  # the process died: the file and its key stay,
    killed._release()  # and the kernel freed its lock
    assert key_file_for(dead_id).exists() and killed.pending.exists()
    rerun = Rebuild(spec)
    with rerun:
        assert rerun.open().store_id != dead_id
        assert not key_file_for(dead_id).exists()
    assert not rerun.pending.exists()  # left without commit: discarded


def test_a_store_that_cannot_be_copied_is_not_replaced(tmp_path: Path) -> None:
    spec = spec_in(tmp_path)
    rebuild = Rebuild(spec, replace=True)
    rebuild.target.write_bytes(b"not a database, and big enough to be read as one" * 100)
    rebuild.pending.write_bytes(b"what a killed run left, unreadable")
    rebuild.check("lab")
    rebuild.open()
    with pytest.raises(StateError, match=r"cannot copy the state store .* before replacing it"):
        rebuild.commit()
    rebuild.close()
    assert rebuild.target.read_bytes().startswith(b"not a database")


def test_one_rebuild_at_a_time_and_never_over_a_store_made_meanwhile(tmp_path: Path) -> None:
    spec = spec_in(tmp_path)
    first = Rebuild(spec)
    first.open()
    with pytest.raises(StateLockedError, match="another `state recover` is rebuilding"):
        Rebuild(spec).open()
    an_applied_store(spec)  # a plan ran meanwhile
    with pytest.raises(StoreExists, match=r"appeared .* while recover ran"):
        first.commit()
    first.close()
    assert not first.pending.exists()
    with open_store(spec) as opened:
        assert opened.secrets("lab").get("cluster-pki") == b"old pki"
    second = Rebuild(spec, replace=True)
    second.open()  # the lock was freed
    second.close()
