"""The ASGI adapter alone: scopes it ignores, a client gone mid-body, an oversized body."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from homelab_sim.opnsense import OpnsenseSimulator
from homelab_sim.opnsense.asgi import MAX_BODY, OpnsenseApp


def run(
    app: OpnsenseApp, scope: dict[str, Any], messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def http(path: str, method: str = "POST") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}


def test_non_http_scopes_are_ignored() -> None:
    assert run(OpnsenseApp(OpnsenseSimulator()), {"type": "lifespan"}, []) == []


def test_a_client_gone_mid_body_gets_nothing() -> None:
    sim = OpnsenseSimulator()
    sent = run(OpnsenseApp(sim), http("/api/firewall/filter/apply"), [{"type": "http.disconnect"}])
    assert sent == []
    assert sim.log.entries == []


def test_an_oversized_body_is_refused() -> None:
    chunk = {"type": "http.request", "body": b"x" * (MAX_BODY + 1), "more_body": True}
    sent = run(OpnsenseApp(OpnsenseSimulator()), http("/api/firewall/alias/addItem"), [chunk])
    assert sent[0]["status"] == 413


def test_a_drop_outside_uvicorn_resets() -> None:
    sim = OpnsenseSimulator()
    sim.drop_after_apply(requests=1)
    sim.after_filter_apply()
    body = {"type": "http.request", "body": b"", "more_body": False}
    with pytest.raises(ConnectionResetError):
        run(OpnsenseApp(sim), http("/api/core/firmware/status", "GET"), [body])
