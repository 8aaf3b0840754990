"""HTTP on the simulator's side of the wire: requests in, responses out, as pveproxy does it.

Parameter extraction follows pve-http-server (BEHAVIOUR §1): the body is JSON for
``application/json``, multipart for uploads, form-urlencoded otherwise; query parameters are
parsed for every method and override body keys; a repeated key becomes a list; ``_dc`` is
dropped. Responses carry pveproxy's headers, the ``{"data": ...}`` envelope, the error message
as reason phrase, and ``Connection: close`` on every status >= 400. Unlike pveproxy it never
gzips bodies: on loopback compression only costs CPU, and no client depends on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from python_multipart.multipart import MultipartParser, parse_options_header

from homelab_sim.pve.errors import ApiError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_BODY = 512 * 1024
_BASE_HEADERS = (
    ("content-type", "application/json;charset=UTF-8"),
    ("server", "pve-api-daemon/3.0"),
    ("cache-control", "max-age=0"),
    ("pragma", "no-cache"),
)


@dataclass(frozen=True)
class SimRequest:
    """One HTTP request as an adapter hands it over. Header names are lower-case."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class SimResponse:
    """One HTTP response. ``drop`` means: close the connection and send nothing (a fault)."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    drop: bool = False
    auth_failure: bool = False  # a 401 the adapter delays (PVE's anti brute force)


@dataclass(frozen=True)
class UploadFile:
    """A file part of a multipart upload."""

    filename: str
    data: bytes


def respond(
    status: int,
    reason: str,
    payload: Any | None,
    extra: Mapping[str, Any] | None = None,
    *,
    raw: bytes | None = None,
) -> SimResponse:
    """A JSON response; ``payload`` None with status 401 gives PVE's empty body."""
    headers = list(_BASE_HEADERS)
    if status >= 400:
        headers.append(("connection", "close"))
    if status == 401:
        return SimResponse(status, reason, [h for h in headers if h[0] != "content-type"], b"")
    extra = extra or {}
    if raw is not None:
        tail = json.dumps(extra, separators=(",", ":"))[1:] if extra else "}"
        body = b'{"data":' + raw + (b"," if extra else b"") + tail.encode()
        return SimResponse(status, reason, headers, body)
    payload = {"data": payload, **extra}
    return SimResponse(status, reason, headers, json.dumps(payload, separators=(",", ":")).encode())


def respond_error(err: ApiError) -> SimResponse:
    reason = err.message.split("\n", 1)[0]
    extra: dict[str, Any] = {"message": err.message if err.status == 501 else f"{err.message}\n"}
    if err.errors is not None:
        extra["errors"] = err.errors
    return respond(err.status, reason, None, extra)


def parse_query(query: str) -> dict[str, Any]:
    return _collect(parse_qsl(query, keep_blank_values=True))


def parse_body(request: SimRequest, *, upload: bool) -> tuple[dict[str, Any], UploadFile | None]:
    """Body parameters (and the uploaded file), raising PVE's errors for what it refuses."""
    body = request.body
    if not body:
        return {}, None
    if request.method in {"GET", "DELETE", "HEAD"}:
        raise ApiError(501, f"Unexpected content for method '{request.method}'")
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    ctype_s = ctype.decode().lower()
    if ctype_s == "multipart/form-data":
        if not upload:
            raise ApiError(506, f"upload 'Content-Type '{ctype_s}' not implemented")
        return _parse_multipart(body, options.get(b"boundary", b""))
    if len(body) > MAX_BODY:
        raise ApiError(501, "for data too large")
    if ctype_s == "application/json":
        try:
            value = json.loads(body)
        except ValueError as exc:
            raise ApiError(400, f"unable to parse JSON body - {exc}") from exc
        if not isinstance(value, dict):
            raise ApiError(400, "JSON body must be an object")
        return value, None
    if ctype_s in {"", "application/x-www-form-urlencoded"}:
        return _collect(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)), None
    raise ApiError(506, f"upload 'Content-Type '{ctype_s}' not implemented")


def _collect(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key == "_dc":
            continue
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


class _Parts:
    """Collects multipart parts via python-multipart's callbacks."""

    def __init__(self) -> None:
        self.parts: list[tuple[dict[str, str], bytearray]] = []
        self._field = bytearray()
        self._value = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._on_field,
            "on_header_value": self._on_value,
            "on_header_end": self._header_end,
            "on_part_data": self._on_data,
        }

    def _begin(self) -> None:
        self.parts.append(({}, bytearray()))

    def _on_field(self, data: bytes, start: int, end: int) -> None:
        self._field.extend(data[start:end])

    def _on_value(self, data: bytes, start: int, end: int) -> None:
        self._value.extend(data[start:end])

    def _on_data(self, data: bytes, start: int, end: int) -> None:
        self.parts[-1][1].extend(data[start:end])

    def _header_end(self) -> None:
        self.parts[-1][0][self._field.decode().lower()] = self._value.decode()
        self._field.clear()
        self._value.clear()


def _parse_multipart(body: bytes, boundary: bytes) -> tuple[dict[str, Any], UploadFile | None]:
    if not boundary:
        raise ApiError(400, "multipart body without boundary")
    collector = _Parts()
    parser = MultipartParser(boundary, collector.callbacks())
    parser.write(body)
    parser.finalize()
    params: dict[str, Any] = {}
    upload: UploadFile | None = None
    for headers, data in collector.parts:
        _, opts = parse_options_header(headers.get("content-disposition", ""))
        name = opts.get(b"name", b"").decode()
        if b"filename" in opts:
            upload = UploadFile(opts[b"filename"].decode(), bytes(data))
            if name != "filename":
                raise ApiError(400, f"wrong field name for file upload '{name}'")
        elif name:
            params[name] = data.decode("utf-8", "replace")
    return params, upload
