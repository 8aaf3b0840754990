"""Fixtures of the firewall tests (helpers in support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.core.spec.models import LabSpec
from homelab.simulated.opnsense import new_simulator
from homelab.verbs.net import Firewall
from homelab_sim.opnsense import OpnsenseSimulator
from tests.network.support import EXAMPLE, MakeSim, firewall_for, spec_from


@pytest.fixture
def example_text() -> str:
    return EXAMPLE.read_text()


@pytest.fixture
def lab(example_text: str) -> LabSpec:
    return spec_from(example_text)


@pytest.fixture
def make_sim(tmp_path: Path) -> MakeSim:
    def make(
        spec: LabSpec, version: str = "26.7", dhcp: str = "dnsmasq"
    ) -> tuple[OpnsenseSimulator, Firewall]:
        sim = new_simulator(spec, version=version, dhcp=dhcp)
        return sim, firewall_for(sim, tmp_path / "recovery")

    return make
