"""OpnsenseTransport: an httpx transport answering from an in-process ``OpnsenseSimulator``.

    sim = OpnsenseSimulator(version="26.1.2")
    client = httpx.Client(transport=OpnsenseTransport(sim), base_url="https://10.0.10.1")

No sockets, the same bytes as the HTTPS server. A dropped request raises
``httpx.RemoteProtocolError`` as a connection closed without a response does.
"""

from __future__ import annotations

import httpx

from homelab_sim.opnsense.simulator import OpnsenseSimulator
from homelab_sim.opnsense.wire import OpnRequest


class OpnsenseTransport(httpx.BaseTransport):
    def __init__(self, sim: OpnsenseSimulator) -> None:
        self.sim = sim

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.sim.handle(to_sim_request(request))
        if answer.drop:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(
            answer.status, headers=answer.headers, content=answer.body, request=request
        )


def to_sim_request(request: httpx.Request) -> OpnRequest:
    headers = {key.decode().lower(): value.decode() for key, value in request.headers.raw}
    return OpnRequest(
        method=request.method,
        path=request.url.raw_path.split(b"?", 1)[0].decode(),
        query=request.url.query.decode(),
        headers=headers,
        body=request.read(),
    )
