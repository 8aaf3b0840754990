"""SimTransport: an httpx transport that answers from an in-process PveSimulator.

    sim = PveSimulator(SimConfig(time_scale=1000))
    client = httpx.Client(transport=SimTransport(sim), base_url="https://127.0.0.1:8006")

No sockets, same bytes on the "wire" as the HTTPS server. A connection-reset fault raises
``httpx.RemoteProtocolError`` as a dropped keep-alive connection does with the real transport.
"""

from __future__ import annotations

import time

import httpx

from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.pve.wire import SimRequest


class SimTransport(httpx.BaseTransport):
    def __init__(self, sim: PveSimulator) -> None:
        self.sim = sim

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        headers = {key.decode().lower(): value.decode() for key, value in request.headers.raw}
        sim_request = SimRequest(
            method=request.method,
            path=request.url.raw_path.split(b"?", 1)[0].decode(),
            query=request.url.query.decode(),
            headers=headers,
            body=body,
        )
        answer = self.sim.handle(sim_request)
        if answer.drop:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if answer.auth_failure and self.sim.auth_delay(0.0):
            time.sleep(self.sim.auth_delay(0.0))
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            content=answer.body,
            request=request,
            extensions={"reason_phrase": answer.reason.encode("latin-1", "replace")},
        )
