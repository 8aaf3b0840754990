"""Fixtures for the simulator's wire tests: an in-process PveSimulator behind httpx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.secret import Secret
from homelab_sim.transport import SimTransport

PASSWORD = "correct horse battery staple"


class Api:
    """A thin PVE API client over SimTransport (the test's view of the wire)."""

    def __init__(self, sim: PveSimulator, token: Secret | None = None) -> None:
        self.sim = sim
        headers = {"Authorization": f"PVEAPIToken={(token or sim.token).reveal()}"}
        self.http = httpx.Client(
            transport=SimTransport(sim),
            base_url="https://127.0.0.1:8006/api2/json",
            headers=headers,
        )

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, (response.status_code, response.reason_phrase)
        return response.json()["data"]

    def finish(self, upid: str, seconds: float = 3600.0) -> dict[str, Any]:
        """Advance the virtual clock until the task has ended; its status."""
        node = upid.split(":")[1]
        self.sim.advance(seconds)
        status: dict[str, Any] = self.ok("GET", f"/nodes/{node}/tasks/{upid}/status")
        assert status["status"] == "stopped"
        return status

    def log(self, upid: str) -> list[str]:
        node = upid.split(":")[1]
        return [line["t"] for line in self.ok("GET", f"/nodes/{node}/tasks/{upid}/log")]

    def clone(self, newid: int, source: int = 9000, **params: Any) -> str:
        upid: str = self.ok(
            "POST", f"/nodes/pve/qemu/{source}/clone", data={"newid": newid, **params}
        )
        return upid


@pytest.fixture
def sim() -> Iterator[PveSimulator]:
    yield PveSimulator(SimConfig(time_scale=0, password=Secret(PASSWORD), seed=7))


@pytest.fixture
def api(sim: PveSimulator) -> Iterator[Api]:
    client = Api(sim)
    yield client
    client.http.close()
