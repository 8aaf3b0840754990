"""Fixtures for the simulator's wire tests: an in-process PveSimulator behind httpx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.secret import Secret
from tests.sim.support import PASSWORD, Api


@pytest.fixture
def sim() -> Iterator[PveSimulator]:
    yield PveSimulator(SimConfig(time_scale=0, password=Secret(PASSWORD), seed=7))


@pytest.fixture
def api(sim: PveSimulator) -> Iterator[Api]:
    client = Api(sim)
    yield client
    client.http.close()
