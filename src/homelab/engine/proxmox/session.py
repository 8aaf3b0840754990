"""PveSession: requests to the Proxmox VE API with retries, and waiting for tasks.

``get/post/put/delete(path, **params)`` return the envelope's ``data`` after retrying
transient errors per the RetryPolicy: GET and PUT are idempotent; a POST or DELETE is repeated
only on errors that prove Proxmox did nothing, unless the caller passes ``idempotent=True``.
``wait_task`` follows a UPID to its end; ``run_task`` starts a task and waits for it, starting
it again when it failed on a lock.

Nothing from httpx escapes: every request runs inside ``map_httpx_errors``. The API token is
in ``settings`` as a Secret and goes out only in the Authorization header. The typed calls the
engine uses are in client.py (PveClient).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from homelab.engine.proxmox.config import ConnectionSettings
from homelab.engine.proxmox.errors import TaskFailed
from homelab.engine.proxmox.resources import as_int
from homelab.engine.proxmox.retry import RetryPolicy
from homelab.engine.proxmox.tasks import TaskResult, Upid, wait_for_task
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


class PveSession:
    """A keep-alive, retrying connection to one Proxmox VE API endpoint."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        on_request: RequestHook | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry if retry is not None else RetryPolicy()
        self._transport = transport
        self._sleep = sleep
        self._monotonic = monotonic
        self._hooks: list[RequestHook] = [on_request] if on_request else []
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()  # the engine calls from several worker threads

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(endpoint={self.settings.endpoint!r}, token_id={self.settings.token_id!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._http_lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def add_request_hook(self, hook: RequestHook) -> None:
        """Call ``hook(method, path)`` before every HTTP request (benchmarks count them)."""
        self._hooks.append(hook)

    # -- low level ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
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
        self,
        method: str,
        path: str,
        params: dict[str, str],
        files: Mapping[str, tuple[str, bytes, str]] | None,
    ) -> dict[str, Any]:
        what = f"{method} {path}"
        for hook in self._hooks:
            hook(method, path)
        started = self._monotonic()
        with map_httpx_errors(self.settings, request=what):
            http = self._client()
            if method in ("GET", "DELETE"):
                response = http.request(method, path, params=params)
            else:
                response = http.request(method, path, data=params, files=files)
        log.debug("%s -> %d (%.3f s)", what, response.status_code, self._monotonic() - started)
        return decode_envelope(response, request=what)

    def _client(self) -> httpx.Client:
        with self._http_lock:
            if self._http is None:
                self._http = build_http_client(self.settings, self._transport)
            return self._http

    # -- tasks -------------------------------------------------------------------------------

    def wait_task(self, upid: str | Upid, timeout: float = 600.0, poll: float = 1.0) -> TaskResult:
        """Wait for a task to stop; TaskFailed (with its log tail) unless it ended OK/WARNINGS."""
        parsed = upid if isinstance(upid, Upid) else Upid.parse(upid)
        return wait_for_task(
            parsed,
            fetch_status=self.task_status,
            fetch_log_tail=self.task_log_tail,
            timeout=timeout,
            poll=poll,
            sleep=self._sleep,
            monotonic=self._monotonic,
        )

    def task_status(self, upid: Upid) -> dict[str, Any]:
        data = self.get(f"/nodes/{upid.node}/tasks/{_upid_segment(upid)}/status")
        return data if isinstance(data, dict) else {}

    def task_log_tail(self, upid: Upid, lines: int = 20) -> tuple[str, ...]:
        """The last ``lines`` lines of a task's log (two small requests, never the whole log)."""
        path = f"/nodes/{upid.node}/tasks/{_upid_segment(upid)}/log"
        total = as_int(self.request("GET", path, {"start": 0, "limit": 1}).get("total")) or 0
        data = self.get(path, start=max(0, total - lines), limit=lines)
        rows = data if isinstance(data, list) else []
        return tuple(str(row.get("t", "")) for row in rows if isinstance(row, dict))

    def run_task(
        self, dispatch: Callable[[], str | None], *, timeout: float = 600.0, what: str = "task"
    ) -> TaskResult | None:
        """Start a task with ``dispatch`` and wait for it, starting it again when it failed on a
        lock (which proves it did nothing). ``dispatch`` returning None means done synchronously.
        """

        def attempt() -> TaskResult | None:
            upid = dispatch()
            return None if upid is None else self.wait_task(upid, timeout)

        return self.retry.call(
            attempt, idempotent=False, what=what, retry_if=lambda e: isinstance(e, TaskFailed)
        )


def _upid_segment(upid: Upid) -> str:
    return quote(upid.raw, safe=":@!")
