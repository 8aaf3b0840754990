"""Admin kubeconfigs: credentials read back, written 0600, merged into a user's kubeconfig."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from homelab.core.cluster import ClusterSecrets
from homelab.engine.kube.kubeconfig import (
    credentials_of,
    default_kubeconfig_path,
    merge_into,
    write_private,
)
from homelab.engine.pki import mint_admin_kubeconfig
from homelab.errors import KubeError

SERVER = "https://127.0.0.1:40001"


def minted(secrets: ClusterSecrets) -> str:
    return mint_admin_kubeconfig(
        secrets, cluster="t-lab", server=SERVER, tls_server_name="10.0.20.10"
    )


def test_credentials_are_read_from_the_minted_kubeconfig(lab_secrets: ClusterSecrets) -> None:
    creds = credentials_of(minted(lab_secrets))
    assert creds.server == SERVER
    assert creds.tls_server_name == "10.0.20.10"
    assert creds.ca_pem == lab_secrets.ca_cert
    assert "BEGIN CERTIFICATE" in creds.client_cert_pem
    assert "PRIVATE KEY" in creds.client_key_pem.reveal()
    assert "PRIVATE KEY" not in repr(creds)


def test_a_kubeconfig_without_embedded_data_is_refused() -> None:
    text = yaml.safe_dump(
        {
            "clusters": [{"name": "c", "cluster": {"server": SERVER}}],
            "users": [{"name": "u", "user": {"token": "abc"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )
    with pytest.raises(KubeError, match="lacks embedded certificate data"):
        credentials_of(text)


def test_write_private_creates_the_file_0600(tmp_path: Path) -> None:
    path = tmp_path / "lab" / "admin.conf"
    write_private(path, "secret: yes\n")
    assert path.read_text() == "secret: yes\n"
    assert path.stat().st_mode & 0o777 == 0o600


def other_config() -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "work", "cluster": {"server": "https://work:6443"}}],
        "users": [{"name": "work", "user": {"token": "t"}}],
        "contexts": [{"name": "work", "context": {"cluster": "work", "user": "work"}}],
        "current-context": "work",
    }


def test_merge_keeps_other_entries_and_backs_the_file_up(
    tmp_path: Path, lab_secrets: ClusterSecrets
) -> None:
    target = tmp_path / "config"
    before = yaml.safe_dump(other_config())
    target.write_text(before)
    backup = merge_into(target, minted(lab_secrets), "t-lab")
    assert backup is not None and backup.read_text() == before
    doc = yaml.safe_load(target.read_text())
    assert [c["name"] for c in doc["clusters"]] == ["work", "t-lab"]
    assert [u["name"] for u in doc["users"]] == ["work", "t-lab"]
    assert doc["contexts"][1] == {"name": "t-lab", "context": {"cluster": "t-lab", "user": "t-lab"}}
    assert doc["current-context"] == "work"  # the user's choice is kept
    assert doc["clusters"][1]["cluster"]["tls-server-name"] == "10.0.20.10"
    assert target.stat().st_mode & 0o777 == 0o600


def test_merging_again_replaces_the_lab_entries_only(
    tmp_path: Path, lab_secrets: ClusterSecrets
) -> None:
    target = tmp_path / "config"
    target.write_text(yaml.safe_dump(other_config()))
    merge_into(target, minted(lab_secrets), "t-lab")
    merge_into(target, minted(lab_secrets), "t-lab")
    doc = yaml.safe_load(target.read_text())
    assert [c["name"] for c in doc["contexts"]] == ["work", "t-lab"]


def test_a_new_kubeconfig_gets_the_lab_as_current_context(
    tmp_path: Path, lab_secrets: ClusterSecrets
) -> None:
    target = tmp_path / "new" / "config"
    assert merge_into(target, minted(lab_secrets), "t-lab") is None
    doc = yaml.safe_load(target.read_text())
    assert doc["current-context"] == "t-lab"
    assert credentials_of(target.read_text()).server == SERVER


def test_the_first_path_of_kubeconfig_env_is_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert default_kubeconfig_path() == first
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_kubeconfig_path() == tmp_path / ".kube" / "config"
