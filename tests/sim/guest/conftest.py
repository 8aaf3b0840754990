"""Fixtures for the guest tests: an in-process simulator whose node fits a whole lab."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from tests.sim.support import Api


@pytest.fixture
def sim() -> Iterator[PveSimulator]:
    simulator = PveSimulator(SimConfig(time_scale=0, seed=11))
    yield simulator
    simulator.close()


@pytest.fixture
def api(sim: PveSimulator) -> Iterator[Api]:
    client = Api(sim)
    yield client
    client.http.close()
