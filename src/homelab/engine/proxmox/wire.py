"""The httpx side of the Proxmox client: building the httpx.Client, encoding, decoding, errors.

This is the only module that knows httpx's exceptions; ``map_httpx_errors`` turns each into
the Proxmox error tree (``raise ... from exc``) so no httpx type escapes the client. The token
travels in an ``Authorization`` header added per request by ``TokenAuth``, so it is not part of
the client's default headers, and httpx masks that header in reprs.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx

from homelab.engine.proxmox.config import ConnectionSettings
from homelab.engine.proxmox.errors import ServerError, TransportError, classify_response
from homelab.engine.proxmox.tls import build_ssl_context, tls_error_from
from homelab.errors import ProxmoxError

__all__ = [
    "Repeated",
    "TokenAuth",
    "build_http_client",
    "decode_envelope",
    "encode_params",
    "map_httpx_errors",
    "path_segment",
]

USER_AGENT = "homelab (+https://github.com/homelab)"


class TokenAuth(httpx.Auth):
    """Adds ``Authorization: PVEAPIToken=user@realm!id=secret`` to every request."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self._settings = settings

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._settings.authorization()
        yield request

    def __repr__(self) -> str:
        return f"TokenAuth({self._settings.token_id!r}, secret=***)"


def build_http_client(
    settings: ConnectionSettings, transport: httpx.BaseTransport | None
) -> httpx.Client:
    """A keep-alive httpx.Client for ``settings``; TLS trust from tls.py unless ``transport``.

    ``trust_env`` is off: proxy variables, ``SSL_CERT_FILE`` and ``.netrc`` must not silently
    change where the token goes or which certificates are trusted.
    """
    timeout = httpx.Timeout(settings.http_timeout, connect=settings.connect_timeout)
    verify = True if transport is not None else build_ssl_context(settings)
    return httpx.Client(
        base_url=settings.base_url,
        auth=TokenAuth(settings),
        timeout=timeout,
        verify=verify,
        transport=transport,
        trust_env=False,
        follow_redirects=False,
        headers={"Accept": "application/json", "User-Agent": USER_AGENT},
    )


def path_segment(value: object) -> str:
    """One URL path segment (volume ids contain ``/`` and ``:``)."""
    return quote(str(value), safe="")


class Repeated(tuple[str, ...]):
    """A parameter PVE takes as an array: sent as the key repeated (``command=ls&command=-la``)
    rather than comma-joined."""


def encode_params(params: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """Proxmox wire values: booleans 0/1, lists comma-joined (``Repeated``: the key repeated),
    ``None`` left out."""
    encoded: dict[str, str | list[str]] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, Repeated):
            encoded[key] = list(value)
            continue
        if isinstance(value, bool):
            encoded[key] = "1" if value else "0"
        elif isinstance(value, set | frozenset):
            encoded[key] = ",".join(sorted(str(item) for item in value))
        elif isinstance(value, list | tuple):
            encoded[key] = ",".join(str(item) for item in value)
        else:
            encoded[key] = str(value)
    return encoded


def decode_envelope(response: httpx.Response, *, request: str) -> dict[str, Any]:
    """The ``{"data": ...}`` envelope of a success, or the classified ApiError of a failure."""
    body = _json_body(response)
    if not response.is_success:
        raise classify_response(response.status_code, response.reason_phrase, body, request=request)
    if not isinstance(body, dict) or "data" not in body:
        raise ServerError(
            response.status_code,
            response.reason_phrase,
            "the reply is not a Proxmox API envelope (is the endpoint a Proxmox VE API?)",
            request=request,
        )
    return body


def _json_body(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        return None


@contextmanager
def map_httpx_errors(settings: ConnectionSettings, *, request: str) -> Iterator[None]:
    """Turn httpx exceptions raised in the block into the Proxmox error tree."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        tls = tls_error_from(exc, settings)
        if tls is not None:
            raise tls from exc
        raise TransportError(
            f"cannot connect to Proxmox at {settings.host} ({request}): {_text(exc)}",
            sent=False,
            hint="check the endpoint, that pveproxy runs (port 8006) and that no firewall "
            "blocks the way",
        ) from exc
    except httpx.TimeoutException as exc:
        raise TransportError(
            f"Proxmox at {settings.host} did not answer {request} within "
            f"{settings.http_timeout:g} s",
            sent=True,
            hint="a busy node answers slowly; raise the HTTP timeout if this repeats",
        ) from exc
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
        raise ProxmoxError(f"cannot send {request} to Proxmox: {_text(exc)}") from exc
    except httpx.TransportError as exc:
        tls = tls_error_from(exc, settings)
        if tls is not None:
            raise tls from exc
        raise TransportError(
            f"the connection to Proxmox at {settings.host} broke during {request}: {_text(exc)}",
            sent=True,
        ) from exc
    except httpx.HTTPError as exc:
        raise ProxmoxError(f"cannot send {request} to Proxmox: {_text(exc)}") from exc
    except httpx.InvalidURL as exc:
        raise ProxmoxError(f"invalid Proxmox URL for {request}: {_text(exc)}") from exc


def _text(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
