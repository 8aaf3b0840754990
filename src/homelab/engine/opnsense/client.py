"""OpnsenseClient: requests to ``/api/<module>/<controller>/<command>[/<param>]`` over httpx.

GET reads, POST writes with a JSON body. Answers are checked as OPNsense gives them: 401 (the
key/secret), 403 (a privilege the key's user lacks), 404 (an endpoint this version does not
have), 500 with ``errorMessage`` (a UserException, e.g. an alias still in use), and HTTP 200
with ``{"result": "failed", "validations": ...}`` for an object the model refuses. Nothing
from httpx escapes. ``requests`` counts what was sent, per method and path (benchmarks).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from homelab.engine.opnsense.errors import (
    OpnsenseApiError,
    OpnsenseError,
    OpnsenseTransportError,
    OpnsenseValidationError,
)
from homelab.engine.opnsense.settings import FirewallSettings
from homelab.engine.opnsense.tls import ssl_context, tls_error

RequestHook = Callable[[str, str], None]


class OpnsenseClient:
    """A keep-alive connection to one OPNsense API."""

    def __init__(
        self,
        settings: FirewallSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        self.settings = settings
        self.requests: Counter[str] = Counter()
        self._transport = transport
        self._on_request = on_request
        self._http: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"OpnsenseClient({self.settings!r})"

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = self._new_http()
        return self._http

    def _new_http(self) -> httpx.Client:
        kwargs: dict[str, Any] = {}
        if self._transport is not None:
            kwargs["transport"] = self._transport
        else:
            kwargs["verify"] = ssl_context(self.settings)
        return httpx.Client(
            base_url=self.settings.endpoint + "/api/",
            headers={"Authorization": self.settings.authorization(), "Accept": "application/json"},
            timeout=self.settings.timeout,
            **kwargs,
        )

    def __enter__(self) -> OpnsenseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return _decode(path, self._send("GET", path, params=params))

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return _decode(path, self._send("POST", path, body=body))

    def download(self, path: str) -> bytes:
        """A raw body (core/backup/download): the configuration XML."""
        response = self._send("GET", path)
        return response.content

    def save(self, path: str, item: str, fields: Mapping[str, str]) -> dict[str, Any]:
        """An add/set: ``{"<item>": fields}``; a refusal raises OpnsenseValidationError."""
        reply = self.post(path, {item: dict(fields)})
        if not isinstance(reply, dict) or reply.get("result") != "saved":
            validations = reply.get("validations") if isinstance(reply, dict) else None
            raise OpnsenseValidationError(
                f"OPNsense refused {path}: {_validation_text(validations, reply)}",
                validations if isinstance(validations, dict) else {},
            )
        return reply

    def probe(self) -> bool:
        """Whether a fresh connection (no keep-alive) reaches the API now."""
        probe = OpnsenseClient(
            self.settings, transport=self._transport, on_request=self._on_request
        )
        probe.requests = self.requests
        try:
            probe.get("core/firmware/status")
        except OpnsenseError:
            return False
        finally:
            probe.close()
        return True

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        self.requests[f"{method} {path}"] += 1
        if self._on_request is not None:
            self._on_request(method, path)
        try:
            response = self._client().request(
                method, path, params=params, json=dict(body) if body is not None else None
            )
        except httpx.HTTPError as exc:
            self.close()  # a dropped connection is not reused
            trust = tls_error(exc, self.settings)
            if trust is not None:
                raise trust from exc
            raise OpnsenseTransportError(
                f"{method} /api/{path}: no answer from {self.settings.host} "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        _check_status(method, path, response)
        return response


def _check_status(method: str, path: str, response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    where = f"{method} /api/{path}"
    if status == 401:
        raise OpnsenseApiError(
            f"{where}: 401, the API key and secret were not accepted",
            status=status,
            hint="check opnsense.key and HOMELAB_OPNSENSE_SECRET",
        )
    if status == 403:
        raise OpnsenseApiError(
            f"{where}: 403, the key's user lacks the privilege for this page",
            status=status,
            hint="docs/opnsense.md lists the privileges homelab needs",
        )
    if status == 404:
        raise OpnsenseApiError(f"{where}: 404, this OPNsense has no such endpoint", status=status)
    message = ""
    try:
        data = response.json()
        if isinstance(data, dict):
            message = str(data.get("errorMessage") or data.get("message") or "")
    except ValueError:
        message = ""
    raise OpnsenseApiError(f"{where}: {status} {message}".rstrip(), status=status)


def _decode(path: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError) as exc:
        raise OpnsenseApiError(f"/api/{path}: the answer is not JSON", status=200) from exc


def _validation_text(validations: object, reply: object) -> str:
    if isinstance(validations, dict) and validations:
        parts = []
        for key, message in validations.items():
            text = "; ".join(message) if isinstance(message, list) else str(message)
            parts.append(f"{key}: {text}")
        return ", ".join(parts)
    return f"result {reply.get('result') if isinstance(reply, dict) else reply!r}"
