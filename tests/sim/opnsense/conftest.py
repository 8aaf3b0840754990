"""Fixtures for the OPNsense simulator: an in-process firewall behind an httpx client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from homelab_sim.clock import VirtualClock
from homelab_sim.opnsense import OpnsenseSimulator
from tests.sim.opnsense.support import LAB_INTERFACES, Factory, client_for


@pytest.fixture
def make() -> Iterator[Factory]:
    clients: list[httpx.Client] = []

    def factory(**kwargs: object) -> tuple[OpnsenseSimulator, httpx.Client]:
        kwargs.setdefault("clock", VirtualClock(base=1_780_000_000.0, time_scale=0))
        kwargs.setdefault("interfaces", LAB_INTERFACES)
        kwargs.setdefault("devices", ("vtnet0", "vtnet1", "vtnet2"))
        sim = OpnsenseSimulator(**kwargs)  # type: ignore[arg-type]
        sim.seed("vlan", {"if": "vtnet1", "tag": "20", "descr": "apps", "vlanif": "vlan01"})
        client = client_for(sim)
        clients.append(client)
        return sim, client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture(params=["26.1.2", "26.7.1"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fw(make: Factory, version: str) -> tuple[OpnsenseSimulator, httpx.Client]:
    return make(version=version)
