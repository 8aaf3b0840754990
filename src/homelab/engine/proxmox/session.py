"""PveSession: requests to the Proxmox VE API, with retries. The client's transport.

``request(method, path, params)`` sends one request and returns the whole ``{"data": ...}``
envelope after retrying transient errors per the RetryPolicy: GET and PUT are idempotent; a POST
or DELETE is repeated only on errors that prove Proxmox did nothing, unless the caller passes
``idempotent=True``. ``get/post/put/delete(path, **params)`` return the envelope's ``data``.

Only PveClient (client.py) builds API paths; the session knows nothing of them. Nothing from
httpx escapes: every request runs inside ``map_httpx_errors``. The API token is in ``settings``
as a Secret and goes out only in the Authorization header.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from homelab.engine.proxmox.config import ConnectionSettings
from homelab.engine.proxmox.retry import RetryPolicy
from homelab.engine.proxmox.wire import (
    build_http_client,
    decode_envelope,
    encode_params,
    map_httpx_errors,
)

__all__ = ["PveSession", "RequestHook"]

log = logging.getLogger(__name__)

#: Called with (method, path) before every HTTP request, retries and task polls included.
RequestHook = Callable[[str, str], None]
IDEMPOTENT_METHODS = frozenset({"GET", "PUT"})
Files = Mapping[str, tuple[str, bytes, str]]


class PveSession:
    """A keep-alive, retrying connection to one Proxmox VE API endpoint."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry if retry is not None else RetryPolicy()
        self._transport = transport
        self._on_request = on_request
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()  # the engine calls from several worker threads

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(endpoint={self.settings.endpoint!r}, token_id={self.settings.token_id!r})"

    def close(self) -> None:
        with self._http_lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
        files: Files | None = None,
    ) -> dict[str, Any]:
        """Send one API request (with retries) and return the whole envelope."""
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        what = f"{method} {path}"
        return self.retry.call(
            lambda: self._send(method, path, encode_params(params or {}), files),
            idempotent=safe,
            what=what,
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params)["data"]

    def post(self, path: str, *, idempotent: bool = False, **params: Any) -> Any:
        return self.request("POST", path, params, idempotent=idempotent)["data"]

    def put(self, path: str, **params: Any) -> Any:
        return self.request("PUT", path, params)["data"]

    def delete(self, path: str, *, idempotent: bool = False, **params: Any) -> Any:
        return self.request("DELETE", path, params, idempotent=idempotent)["data"]

    def _send(
        self, method: str, path: str, params: dict[str, str | list[str]], files: Files | None
    ) -> dict[str, Any]:
        what = f"{method} {path}"
        if self._on_request is not None:
            self._on_request(method, path)
        started = time.monotonic()
        with map_httpx_errors(self.settings, request=what):
            http = self._client()
            if method in ("GET", "DELETE"):
                response = http.request(method, path, params=params)
            else:
                response = http.request(method, path, data=params, files=files)
        log.debug("%s -> %d (%.3f s)", what, response.status_code, time.monotonic() - started)
        return decode_envelope(response, request=what)

    def _client(self) -> httpx.Client:
        with self._http_lock:
            if self._http is None:
                self._http = build_http_client(self.settings, self._transport)
            return self._http
