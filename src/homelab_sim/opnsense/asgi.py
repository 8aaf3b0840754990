"""The simulated OPNsense as a raw ASGI app (served by ``homelab_sim.server``).

Every connection comes from loopback; the simulator treats it as the tool's client
(``OpnsenseSimulator.set_client``). A dropped request aborts the TCP connection without a
response, as a packet filter that stops passing the client's packets looks from the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from homelab_sim.opnsense.simulator import OpnsenseSimulator
from homelab_sim.opnsense.wire import OpnRequest, OpnResponse

MAX_BODY = 16 * 1024 * 1024
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class OpnsenseApp:
    def __init__(self, sim: OpnsenseSimulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            if len(body) > MAX_BODY:
                await _send(send, OpnResponse(413, b"", []))
                return
            if not message.get("more_body"):
                break
        request = OpnRequest(
            method=scope["method"],
            path=(scope.get("raw_path") or scope["path"].encode())
            .decode("latin-1")
            .split("?", 1)[0],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=bytes(body),
        )
        answer = self.sim.handle(request)
        if answer.drop:
            _abort(receive)
            return
        await _send(send, answer)


async def _send(send: Send, answer: OpnResponse) -> None:
    headers = [(k.encode(), v.encode()) for k, v in answer.headers]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


def _abort(receive: Receive) -> None:
    """Abort the TCP connection (uvicorn's request cycle owns the transport behind ``receive``)."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionResetError("simulated drop")
    transport.abort()
    cycle.disconnected = True  # type: ignore[union-attr]  # uvicorn must not answer on it
