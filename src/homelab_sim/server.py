"""The simulator over HTTPS: a raw ASGI app served by uvicorn on 127.0.0.1 only.

``start_server(sim)`` runs it in a background thread (tests, ``--sim``) and returns a
``RunningServer`` (endpoint, fingerprint, token, stop()); ``serve_forever`` runs it in the
foreground for ``homelab sim serve``. The address is always loopback: the simulator is a
rehearsal tool and never listens on a network a lab could reach.

Two things ASGI cannot say are done at the protocol level: PVE puts its error message in the
HTTP reason phrase (clients such as proxmoxer report it), so the app passes the phrase in an
internal header that ``PveH11Protocol`` turns into the status line; and a connection-reset
fault aborts the TCP connection without any response.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import tempfile
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from homelab_sim.errors import SimError
from homelab_sim.opnsense.asgi import OpnsenseApp
from homelab_sim.opnsense.simulator import OpnsenseSimulator
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.pve.wire import SimRequest, SimResponse, body_limit, too_large
from homelab_sim.secret import Secret
from homelab_sim.tls import Certificate, make_certificate

HOST = "127.0.0.1"
SERVER_AUTH_DELAY = 0.1
_REASON = b"x-homelab-reason"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class PveH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with the reason phrase taken from the app's internal header."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        original = self.conn.send

        def send(event: Any) -> bytes | None:
            if isinstance(event, h11.Response):
                headers = [(k, v) for k, v in event.headers if k != _REASON]
                reason = next((v for k, v in event.headers if k == _REASON), event.reason)
                event = h11.Response(
                    status_code=event.status_code,
                    headers=headers,
                    reason=reason,
                    http_version=event.http_version,
                )
            data: bytes | None = original(event)
            return data

        self.conn.send = send  # type: ignore[method-assign,assignment]

    def shutdown(self) -> None:
        """Close idle keep-alive connections at once (no TLS close_notify wait on shutdown)."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()


class SimApp:
    """The ASGI callable: one request in, ``PveSimulator.handle``, one response out."""

    def __init__(self, sim: PveSimulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = body_limit(headers)
        body = bytearray()
        declared = headers.get("content-length", "0")
        too_big = not declared.isdigit() or int(declared) > limit
        while not too_big:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away mid-request: pveproxy would not act on it either
            body.extend(message.get("body", b""))
            too_big = len(body) > limit  # chunked bodies declare no length: count as they come
            if not message.get("more_body"):
                break
        if too_big:  # refused before the body is read (pveproxy checks Content-Length first)
            await _send(send, too_large())
            return
        request = SimRequest(
            method=scope["method"],
            path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=bytes(body),
        )
        answer = self.sim.handle(request)
        if answer.drop:
            await _drop(receive)
            return
        if answer.auth_failure:
            await asyncio.sleep(self.sim.auth_delay(SERVER_AUTH_DELAY))
        await _send(send, answer)


async def _send(send: Send, answer: SimResponse) -> None:
    headers = [(k.encode(), v.encode()) for k, v in answer.headers]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    headers.append((_REASON, answer.reason.encode("latin-1", "replace")[:400]))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _drop(receive: Receive) -> None:
    """Abort the TCP connection (uvicorn's cycle owns the transport behind ``receive``)."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionResetError("simulated connection reset")
    transport.abort()
    cycle.disconnected = True  # type: ignore[union-attr]  # so uvicorn does not try to answer on the aborted connection


@dataclass
class RunningServer:
    endpoint: str
    fingerprint: str
    token: Secret
    cert_pem: bytes
    _stop: Callable[[], None]

    def stop(self) -> None:
        self._stop()


def _config(app: Any, cert: Certificate, workdir: Path, **extra: Any) -> uvicorn.Config:
    """uvicorn's settings for an app served with ``cert`` (its files written in ``workdir``,
    the key 0600 from the start)."""
    certfile, keyfile = workdir / "cert.pem", workdir / "key.pem"
    certfile.write_bytes(cert.cert_pem)
    keyfile.touch(mode=0o600)
    keyfile.write_text(cert.key_pem.reveal(), encoding="ascii")
    return uvicorn.Config(
        app,
        http=PveH11Protocol,
        ssl_certfile=str(certfile),
        ssl_keyfile=str(keyfile),
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        **extra,
    )


def _bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (never another address), or a SimError."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: a response goes out as headers + body writes, and
        # Nagle would hold the body back for the client's delayed ACK (~40 ms a request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise SimError(
            f"the simulator cannot listen on {HOST}:{port}: {exc.strerror}",
            hint="pick another --port, or 0 for any free one",
        ) from exc
    return sock


def start_server(sim: PveSimulator, *, port: int = 0) -> RunningServer:
    """Serve ``sim`` over HTTPS on 127.0.0.1 in a background thread; returns once it listens."""
    cert = make_certificate()
    sim.set_fingerprint(cert.fingerprint)
    return _serve_in_thread(
        "homelab-sim",
        lambda workdir: _config(SimApp(sim), cert, workdir, timeout_keep_alive=30),
        cert,
        sim.token,
        port,
        ticker=sim.start_ticker,
    )


def start_opnsense_server(sim: OpnsenseSimulator, *, port: int = 0) -> RunningServer:
    """Serve a simulated OPNsense over HTTPS on 127.0.0.1 in a background thread.

    Its ``token`` is the root API secret; every connection is the simulator's client.
    """
    cert = make_certificate("opnsense.homelab.sim")
    return _serve_in_thread(
        "homelab-sim-opnsense",
        lambda workdir: _config(OpnsenseApp(sim), cert, workdir),
        cert,
        sim.api_secret,
        port,
    )


def _serve_in_thread(
    name: str,
    config: Callable[[Path], uvicorn.Config],
    cert: Certificate,
    token: Secret,
    port: int,
    *,
    ticker: Callable[[], Callable[[], None]] | None = None,
) -> RunningServer:
    """uvicorn in a daemon thread on a loopback socket; returns once it listens (a SimError
    if it cannot), with ``stop()`` that ends the thread and removes the certificate files."""
    sock = _bind(port)
    workdir = tempfile.TemporaryDirectory(prefix=f"{name}-")
    server = uvicorn.Server(config(Path(workdir.name)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    stop_ticker = ticker() if ticker is not None else (lambda: None)
    while not server.started:
        if not thread.is_alive():
            stop_ticker()
            sock.close()
            workdir.cleanup()
            raise SimError(f"the simulator ({name}) failed to start on {HOST}:{port}")
        thread.join(0.01)

    def stop() -> None:
        stop_ticker()
        server.should_exit = True
        thread.join(10)
        sock.close()
        with contextlib.suppress(OSError):
            workdir.cleanup()

    return RunningServer(
        endpoint=f"https://{HOST}:{sock.getsockname()[1]}",
        fingerprint=cert.fingerprint,
        token=token,
        cert_pem=cert.cert_pem,
        _stop=stop,
    )


def serve_forever(sim: PveSimulator, *, port: int, on_ready: Callable[[str, str], None]) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; ``on_ready(endpoint, fingerprint)``."""
    sock = _bind(port)
    cert = make_certificate()
    with tempfile.TemporaryDirectory(prefix="homelab-sim-") as tmp, sock:
        sim.set_fingerprint(cert.fingerprint)
        server = uvicorn.Server(_config(SimApp(sim), cert, Path(tmp), timeout_keep_alive=30))

        async def run() -> None:
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started:
                if serving.done():
                    await serving
                    raise SimError(f"the simulator failed to start on {HOST}:{port}")
                await asyncio.sleep(0.01)
            on_ready(f"https://{HOST}:{sock.getsockname()[1]}", cert.fingerprint)
            await serving

        previous = signal.signal(signal.SIGTERM, _stop_signal)
        stop_ticker = sim.start_ticker()
        try:
            asyncio.run(run())
        except (KeyboardInterrupt, _Stopped):
            return
        finally:
            signal.signal(signal.SIGTERM, previous)
            stop_ticker()
            sim.close()  # the simulated Kubernetes API servers go with the PVE one


class _Stopped(Exception):
    """SIGTERM arrived (re-raised by uvicorn once it has shut down)."""


def _stop_signal(signum: int, frame: object) -> None:
    raise _Stopped()
