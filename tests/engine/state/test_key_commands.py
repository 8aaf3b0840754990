"""`homelab state key export|import`: the key leaves for safekeeping and comes back, checked."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from homelab.engine.state import open_store
from homelab.engine.state.crypto import KEY_ENV, generate_key, key_file_for

LAB = "home-lab"


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "lab" / "home-lab.yaml"
    path.parent.mkdir()
    path.write_text("name: home-lab\n")
    return path


def run(*args: str) -> tuple[int, str]:
    """The command as a user runs it (errors become one line and exit 1 in ``main``)."""
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV} | {"COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "homelab", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


def test_export_then_import_on_a_machine_without_the_key(spec: Path, tmp_path: Path) -> None:
    with open_store(spec) as store:
        store.secrets(LAB).put("cluster-pki", b"secret material")
        key_file = key_file_for(store.store_id)
    saved = tmp_path / "safe" / "home-lab.key"
    code, output = run("state", "key", "export", str(spec), "--out", str(saved))
    assert code == 0, output
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert saved.read_text() == key_file.read_text()
    assert "secret material" not in output and saved.read_text().strip() not in output
    code, output = run("state", "key", "export", str(spec), "--out", str(saved))
    assert code == 1 and "exists: not overwriting it" in output

    key_file.unlink()  # another machine: the store came, the key did not
    code, output = run("state", "key", "import", str(spec), str(saved))
    assert code == 0, output
    with open_store(spec) as store:
        assert store.secrets(LAB).get("cluster-pki") == b"secret material"


def test_a_key_that_does_not_open_the_store_is_refused(spec: Path, tmp_path: Path) -> None:
    with open_store(spec) as store:
        store.secrets(LAB).put("cluster-pki", b"x")
        key_file = key_file_for(store.store_id)
    before = key_file.read_text()
    wrong = tmp_path / "wrong.key"
    wrong.write_text(generate_key())
    code, output = run("state", "key", "import", str(spec), str(wrong))
    assert code == 1 and "does not open the secrets of the state store" in output
    assert key_file.read_text() == before
    junk = tmp_path / "junk.key"
    junk.write_text("not a key")
    code, output = run("state", "key", "import", str(spec), str(junk))
    assert code == 1 and "is not 32 bytes of URL-safe base64" in output


def test_another_key_already_here_is_replaced_only_with_force(spec: Path, tmp_path: Path) -> None:
    with open_store(spec) as store:  # no secret yet: any key opens it
        key_file = key_file_for(store.store_id)
    other = tmp_path / "other.key"
    other.write_text(generate_key() + "\n")
    code, output = run("state", "key", "import", str(spec), str(other))
    assert code == 1 and "already holds another key" in output and "--force" in output
    code, output = run("state", "key", "import", str(spec), str(other), "--force")
    assert code == 0, output
    assert key_file.read_text() == other.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
