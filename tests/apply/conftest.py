"""Fixtures of the apply tests. Every simulator a test makes is checked afterwards: no request
our client sent may have been rejected by the simulator's schema validation."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab.verbs.lab import prepare_lab
from tests.apply import support
from tests.apply.support import SIM_TOKEN_ID, Cli, new_sim, over_https, write_spec


@pytest.fixture(autouse=True)
def schema_clean_requests() -> Iterator[None]:
    support.SIMS.clear()
    support.REJECTED.clear()
    yield
    rejected = [entry for sim in support.SIMS for entry in sim.log.rejections()]
    rejected += [entry for entry in support.REJECTED if entry not in rejected]
    for sim in support.SIMS:
        sim.close()  # stops the simulated Kubernetes APIs a test's apply may have started
    support.SIMS.clear()
    support.REJECTED.clear()
    assert rejected == [], f"the simulator rejected requests of our client: {rejected[:3]}"


@pytest.fixture(scope="session")
def lab_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .homelab/ folder holding the reference lab's PKI, made once per session (RSA keys
    take a while); each test gets a copy, so tests stay independent."""
    folder = tmp_path_factory.mktemp("lab-state")
    prepare_lab(support.write_spec(folder)).close()
    return folder / ".homelab"


@pytest.fixture
def lab(tmp_path: Path, lab_state: Path) -> Iterator[support.Lab]:
    shutil.copytree(lab_state, tmp_path / ".homelab")
    path = support.write_spec(tmp_path)
    opened = support.Lab(path, prepare_lab(path))
    yield opened
    opened.ctx.close()


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    sim = new_sim()
    spec = write_spec(tmp_path, {"proxmox.token_id": SIM_TOKEN_ID})
    with over_https(sim) as conn:
        settings = conn.client.settings
        env = {
            "PROXMOX_VE_ENDPOINT": settings.endpoint,
            "PROXMOX_VE_API_TOKEN": f"{settings.token_id}={settings.token_secret.reveal()}",
            "PROXMOX_VE_FINGERPRINT": settings.fingerprint or "",
        }
        monkeypatch.delenv("HOMELAB_STATE_URL", raising=False)
        yield Cli(sim, spec, env, monkeypatch, capsys)
