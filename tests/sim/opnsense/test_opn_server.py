"""The OPNsense simulator served over HTTPS on loopback, with a dropped client."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterator

import httpx
import pytest

from homelab_sim.clock import VirtualClock
from homelab_sim.opnsense import OpnsenseSimulator
from homelab_sim.server import RunningServer, start_opnsense_server


@pytest.fixture
def served() -> Iterator[tuple[OpnsenseSimulator, RunningServer, httpx.Client]]:
    sim = OpnsenseSimulator(version="26.1.2", clock=VirtualClock(time_scale=0))
    server = start_opnsense_server(sim)
    context = ssl.create_default_context(cadata=server.cert_pem.decode())
    context.check_hostname = False  # the certificate names opnsense.homelab.sim, not 127.0.0.1
    client = httpx.Client(base_url=server.endpoint, verify=context, headers=sim.auth_header())
    yield sim, server, client
    client.close()
    server.stop()


def test_it_listens_on_loopback_with_tls(
    served: tuple[OpnsenseSimulator, RunningServer, httpx.Client],
) -> None:
    sim, server, client = served
    assert server.endpoint.startswith("https://127.0.0.1:")
    assert server.token == sim.api_secret
    reply = client.get("/api/core/firmware/status")
    assert reply.json()["product"]["product_version"] == "26.1.2"
    der = ssl.PEM_cert_to_DER_cert(server.cert_pem.decode())
    assert server.fingerprint.replace(":", "").lower() == hashlib.sha256(der).hexdigest()


def test_a_dropped_client_gets_no_response(
    served: tuple[OpnsenseSimulator, RunningServer, httpx.Client],
) -> None:
    sim, _, client = served
    sim.drop_after_apply(requests=1)
    assert client.post("/api/firewall/filter/apply", json={}).json() == {"status": "OK\n\n"}
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/api/core/firmware/status")
    assert client.get("/api/core/firmware/status").status_code == 200
    assert [e.dropped for e in sim.log.entries] == [False, True, False]


def test_errors_keep_their_status_and_json(
    served: tuple[OpnsenseSimulator, RunningServer, httpx.Client],
) -> None:
    _, _, client = served
    reply = client.get("/api/firewall/nothing/here")
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {"errorMessage": "Endpoint not found"}
