"""`homelab init`: the reference lab as a first spec, with the user's key; never over a file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from homelab.errors import LabError
from homelab.verbs.init import reference_lab_text, write_reference_lab
from tests.support.paths import EXAMPLES

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICR1Kjxkp8TY39QQ8rPrvZta2Cl81ledsQySZv20Y4+h me@desk"


def test_the_shipped_reference_lab_is_the_example() -> None:
    assert reference_lab_text() == (EXAMPLES / "home-lab.yaml").read_text(encoding="utf-8")


def test_init_writes_a_valid_spec_with_comments_the_name_and_the_users_key(
    tmp_path: Path,
) -> None:
    key = tmp_path / "id.pub"
    key.write_text(KEY + "\n")
    out = tmp_path / "lab.yaml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "homelab",
            "init",
            "--out",
            str(out),
            "--name",
            "my-lab",
            "--ssh-key",
            str(key),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    text = out.read_text()
    assert text.startswith("# The reference lab")  # the comments come along
    data = yaml.safe_load(text)
    assert data["name"] == "my-lab"
    assert data["access"]["ssh_authorized_keys"] == [KEY]
    again = subprocess.run(
        [sys.executable, "-m", "homelab", "init", "--out", str(out), "--ssh-key", str(key)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "exists: not overwriting it" in again.stderr
    assert "Traceback" not in again.stderr
    assert out.read_text() == text


def test_the_default_key_comes_from_the_users_ssh_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(LabError, match="no SSH public key found"):
        write_reference_lab(tmp_path / "a.yaml")
    assert not (tmp_path / "a.yaml").exists()
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa.pub").write_text("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ x@y\n")
    (tmp_path / ".ssh" / "id_ed25519.pub").write_text(KEY + "\n")
    written = write_reference_lab(tmp_path / "b.yaml")
    assert yaml.safe_load(written.read_text())["access"]["ssh_authorized_keys"] == [KEY]


def test_bad_input_is_refused_and_nothing_is_left_behind(tmp_path: Path) -> None:
    private = tmp_path / "id"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n")
    with pytest.raises(LabError, match="holds a private key"):
        write_reference_lab(tmp_path / "a.yaml", ssh_key=private)
    with pytest.raises(LabError, match="not an RFC 1123 label"):
        write_reference_lab(tmp_path / "a.yaml", name="Home_Lab", ssh_key=private)
    junk = tmp_path / "junk.pub"
    junk.write_text("ssh-ed25519 not-base64!! x@y\n")
    with pytest.raises(LabError):  # the key does not validate: no spec is left
        write_reference_lab(tmp_path / "c.yaml", ssh_key=junk)
    assert not (tmp_path / "c.yaml").exists() and not (tmp_path / "a.yaml").exists()
