"""The state store's identity: made once, kept in the store (so a copied `.homelab/` is the same
store and another folder is another), and the labs it applied."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from homelab.engine.state import open_store
from homelab.engine.state.crypto import KEY_ENV
from tests.support.postgres import postgres_url


def spec_in(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lab.yaml"
    path.write_text("name: x\n")
    return path


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv("HOMELAB_STATE_URL", raising=False)


def test_the_id_is_made_once_and_kept(tmp_path: Path) -> None:
    spec = spec_in(tmp_path / "a")
    with open_store(spec) as store:
        first = store.store_id
        assert len(first) == 16 and store.store_id == first
    with open_store(spec) as store:
        assert store.store_id == first


def test_a_copied_store_is_the_same_store_another_folder_is_another(tmp_path: Path) -> None:
    spec = spec_in(tmp_path / "a")
    with open_store(spec) as store:
        first = store.store_id
    shutil.copytree(tmp_path / "a" / ".homelab", tmp_path / "b" / ".homelab")
    with open_store(spec_in(tmp_path / "b")) as copy:
        assert copy.store_id == first
    with open_store(spec_in(tmp_path / "c")) as other:
        assert other.store_id != first


def test_a_store_knows_the_labs_it_applied(tmp_path: Path) -> None:
    with open_store(spec_in(tmp_path / "a")) as store:
        assert not store.has_applied("home-lab")
        store.mark_applied("home-lab")
        store.mark_applied("home-lab")  # again: no error
        assert store.has_applied("home-lab") and not store.has_applied("other")
        store.history("older").append("apply", {})  # a store from before the mark
        assert store.has_applied("older")


def test_postgres_keeps_one_id_for_every_client(tmp_path: Path) -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("no PostgreSQL server (run the suite via make test)")
    with (
        open_store(spec_in(tmp_path / "a"), url=url) as one,
        open_store(spec_in(tmp_path / "b"), url=url) as two,
    ):
        assert one.store_id == two.store_id
        lab = f"lab-{uuid.uuid4().hex[:8]}"
        one.mark_applied(lab)
        assert two.has_applied(lab)
