"""Connection settings from the spec and the environment, and their errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homelab.core.secret import Secret
from homelab.core.spec.models import ProxmoxSpec
from homelab.engine.proxmox.config import (
    SettingsError,
    normalize_endpoint,
    normalize_fingerprint,
    resolve_settings,
)

from .scripted import SECRET, TOKEN_ID

PIN = ":".join(["AB"] * 32)


def spec(**overrides: Any) -> ProxmoxSpec:
    values: dict[str, Any] = {
        "endpoint": "https://pve.lan:8006",
        "token_id": TOKEN_ID,
        "nodes": ["pve1"],
        "template": 9000,
        "vmid_range": "200-299",
    }
    return ProxmoxSpec(**(values | overrides))


def env(**values: str) -> dict[str, str]:
    return {"PROXMOX_VE_API_TOKEN": f"{TOKEN_ID}={SECRET}"} | values


def test_spec_plus_token_from_env() -> None:
    settings = resolve_settings(spec(fingerprint=PIN.lower()), env())
    assert settings.endpoint == "https://pve.lan:8006"
    assert settings.base_url == "https://pve.lan:8006/api2/json"
    assert settings.token_id == TOKEN_ID
    assert settings.token_secret == Secret(SECRET)
    assert settings.fingerprint == PIN
    assert settings.authorization() == f"PVEAPIToken={TOKEN_ID}={SECRET}"


def test_environment_wins_for_endpoint_fingerprint_and_bundle() -> None:
    other_pin = ":".join(["CD"] * 32)
    settings = resolve_settings(
        spec(fingerprint=PIN, ca_bundle="/spec/ca.pem"),
        env(
            PROXMOX_VE_ENDPOINT="https://10.0.0.2:8006/",
            PROXMOX_VE_FINGERPRINT=other_pin.replace(":", ""),
            PROXMOX_VE_CA_BUNDLE="/env/ca.pem",
        ),
    )
    assert settings.endpoint == "https://10.0.0.2:8006"
    assert settings.fingerprint == other_pin
    assert str(settings.ca_bundle) == "/env/ca.pem"


def test_env_alone_is_enough() -> None:
    settings = resolve_settings(None, env(PROXMOX_VE_ENDPOINT="https://pve.lan"))
    assert settings.endpoint == "https://pve.lan:8006"


def test_explicit_token_beats_the_environment() -> None:
    settings = resolve_settings(spec(), {}, token=Secret(f"{TOKEN_ID}=other-secret"))
    assert settings.token_secret.reveal() == "other-secret"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://pve.lan:8006/", "https://pve.lan:8006"),
        ("https://pve.lan:8006/api2/json", "https://pve.lan:8006"),
        ("https://pve.lan", "https://pve.lan:8006"),
        ("https://[fd00::2]:8006", "https://[fd00::2]:8006"),
    ],
)
def test_endpoint_forms(raw: str, expected: str) -> None:
    assert normalize_endpoint(raw) == expected


@pytest.mark.parametrize("raw", ["http://pve.lan:8006", "pve.lan:8006", "https://pve/x/y", ""])
def test_bad_endpoints_are_refused(raw: str) -> None:
    with pytest.raises(SettingsError):
        normalize_endpoint(raw)


def test_missing_token_says_which_variable() -> None:
    with pytest.raises(SettingsError, match="PROXMOX_VE_API_TOKEN"):
        resolve_settings(spec(), {})


@pytest.mark.parametrize(
    "raw",
    [SECRET, f"{TOKEN_ID}=", f"root@pam={SECRET}", f"not a token={SECRET}", f"={SECRET}"],
)
def test_malformed_token_is_refused_without_showing_it(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        resolve_settings(spec(), {"PROXMOX_VE_API_TOKEN": raw})
    assert SECRET not in str(caught.value) and SECRET not in (caught.value.hint or "")
    assert "user@realm!tokenid=secret" in (str(caught.value) + (caught.value.hint or ""))


def test_token_id_must_match_the_spec_and_both_are_named() -> None:
    with pytest.raises(SettingsError) as caught:
        resolve_settings(spec(), {"PROXMOX_VE_API_TOKEN": f"ci@pve!deploy={SECRET}"})
    message = str(caught.value)
    assert "'ci@pve!deploy'" in message and f"'{TOKEN_ID}'" in message
    assert SECRET not in message


@pytest.mark.parametrize("raw", ["AB:CD", "zz" * 32, ":".join(["AB"] * 20)])
def test_bad_fingerprints_are_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="SHA-256"):
        normalize_fingerprint(raw)


def test_settings_repr_hides_the_secret() -> None:
    settings = resolve_settings(spec(), env())
    assert SECRET not in repr(settings) and SECRET not in str(settings)


def test_relative_ca_bundle_is_relative_to_the_spec_folder(tmp_path: Path) -> None:
    from_spec = resolve_settings(spec(ca_bundle="certs/pve-root-ca.pem"), env(), base_dir=tmp_path)
    assert from_spec.ca_bundle == tmp_path / "certs/pve-root-ca.pem"
    from_env = resolve_settings(spec(), env(PROXMOX_VE_CA_BUNDLE="ca.pem"), base_dir=tmp_path)
    assert from_env.ca_bundle == Path("ca.pem")
