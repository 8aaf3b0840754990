"""A scripted Proxmox API for httpx.MockTransport: canned replies per (method, path), and a log
of every request received. Not a simulator: each test says exactly what the server answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx

from homelab.core.secret import Secret
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ConnectionSettings
from homelab.engine.proxmox.retry import RetryPolicy

SECRET = "5f0c1a3e-9a6b-4d2e-8f11-2b3c4d5e6f70"
TOKEN_ID = "root@pam!homelab"
UPID_CLONE = "UPID:pve1:0003A1F2:01B2C3D4:66A1B2C3:qmclone:9000:root@pam!homelab:"
PREFIX = "/api2/json"

Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


def ok(data: Any, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"data": data, **extra})


def fail(status: int, reason: str, body: Any = None) -> httpx.Response:
    """An error reply with ``reason`` as the HTTP reason phrase, as pveproxy sends it."""
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(
        status,
        content=content,
        headers={"Content-Type": "application/json;charset=UTF-8"} if content else {},
        extensions={"reason_phrase": reason.encode()},
    )


class ScriptedPve:
    """Replies per (METHOD, path-under-/api2/json); the last reply of a list repeats."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *replies: Reply) -> ScriptedPve:
        self.routes[(method, path)] = list(replies)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        path = unquote(request.url.raw_path.decode().split("?")[0])
        assert path.startswith(PREFIX), path
        key = (request.method, path[len(PREFIX) :])
        replies = self.routes.get(key)
        if not replies:
            return fail(501, f"Method '{key[0]} {key[1]}' not implemented")
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        return reply(request) if callable(reply) else reply

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        wanted = PREFIX + path
        return [
            r
            for r in self.requests
            if r.method == method and unquote(r.url.raw_path.decode().split("?")[0]) == wanted
        ]


def form(request: httpx.Request) -> dict[str, str]:
    """The form body of a POST/PUT as a flat dict."""
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def settings() -> ConnectionSettings:
    return ConnectionSettings(
        endpoint="https://pve.test:8006", token_id=TOKEN_ID, token_secret=Secret(SECRET)
    )


class FakeClock:
    """monotonic() and sleep() for tests: sleeping advances the clock instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(
    pve: ScriptedPve, clock: FakeClock | None = None, attempts: int = 4
) -> tuple[PveClient, FakeClock, list[float]]:
    """A client on ``pve`` with a fake clock; returns the retry waits list as well."""
    clock = clock or FakeClock()
    retry_waits: list[float] = []
    policy = RetryPolicy(
        attempts=attempts,
        base=0.5,
        cap=4.0,
        jitter=0.5,
        sleep=retry_waits.append,
        random=lambda: 0.0,
    )
    client = PveClient(
        settings(),
        transport=httpx.MockTransport(pve),
        retry=policy,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    return client, clock, retry_waits
