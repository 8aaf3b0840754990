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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from python_multipart.multipart import parse_options_header

from homelab_sim.pve.errors import ApiError

MAX_BODY = 512 * 1024  # pveproxy's $limit_max_post
JSON_MAX_DEPTH = 512  # JSON::XS's default max_depth
# pveproxy streams an upload into a file and has no limit of its own; the simulator keeps it in
# memory, so it refuses larger ones (seed ISOs are kilobytes, cloud images a few hundred MiB)
MAX_UPLOAD = 512 * 1024 * 1024
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
    if "\r" in reason:
        # pveproxy's response(): a status text still holding a line break after its first
        # line is taken is the client's doing; it answers a bare 400 instead
        return SimResponse(400, "Bad Request", [*_BASE_HEADERS, ("connection", "close")], b"")
    extra: dict[str, Any] = {"message": err.message if err.status == 501 else f"{err.message}\n"}
    if err.errors is not None:
        extra["errors"] = err.errors
    return respond(err.status, reason, None, extra)


def body_limit(headers: Mapping[str, str]) -> int:
    """The most body bytes a request with ``headers`` (lower-case names) may send: a multipart
    upload MAX_UPLOAD, anything else pveproxy's MAX_BODY. Adapters check it before buffering."""
    ctype, _ = parse_options_header(headers.get("content-type", ""))
    return MAX_UPLOAD if ctype.decode("latin-1").lower() == "multipart/form-data" else MAX_BODY


def too_large() -> SimResponse:
    """pveproxy's answer to a body over the limit (sent before reading the body)."""
    return respond_error(ApiError(501, "for data too large"))


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
    ctype_s = ctype.decode("latin-1").lower()
    if len(body) > body_limit(request.headers):
        raise ApiError(501, "for data too large")
    if upload:  # pveproxy streams an upload to a file; only multipart with a boundary will do
        if ctype_s != "multipart/form-data" or not options.get(b"boundary"):
            raw = request.headers.get("content-type", "")
            raise ApiError(500, f"upload 'Content-Type '{raw}' not implemented")
        return _parse_multipart(body, options[b"boundary"])
    if ctype_s == "multipart/form-data":
        raise ApiError(506, f"upload 'Content-Type '{ctype_s}' not implemented")
    if ctype_s == "application/json":
        value = _decode_json(body)
        if not isinstance(value, dict):
            raise ApiError(400, "JSON body must be an object")
        return value, None
    if ctype_s in {"", "application/x-www-form-urlencoded"}:
        return _collect(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)), None
    raise ApiError(506, f"upload 'Content-Type '{ctype_s}' not implemented")


def _decode_json(body: bytes) -> Any:
    """A JSON body as pveproxy's ``decode_json`` (JSON::XS) reads it: nesting deeper than its
    ``max_depth`` of 512 and malformed text are refused with JSON::XS's text, as a 500."""
    deep = _too_deep_at(body)
    if deep is not None:
        raise ApiError(
            500,
            "json text or perl structure exceeds maximum nesting level (max_depth set too low?), "
            f'at character offset {deep} (before "{_before(body, deep)}")',
        )
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        pos = getattr(exc, "pos", 0)
        raise ApiError(
            500, f'malformed JSON string, at character offset {pos} (before "{_before(body, pos)}")'
        ) from None


def _too_deep_at(body: bytes) -> int | None:
    """The offset where arrays/objects nest deeper than JSON_MAX_DEPTH, or None."""
    depth = 0
    in_string = escaped = False
    for offset, byte in enumerate(body):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > JSON_MAX_DEPTH:
                return offset
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return None


def _before(body: bytes, offset: int) -> str:
    return body[offset : offset + 20].decode("utf-8", "replace").replace('"', '\\"')


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


# pve-http-server's multipart parser (PVE/APIServer/AnyEvent.pm, ``file_upload_multipart``)
# reads the form fields ``content``, ``checksum-algorithm`` and ``checksum``, in that order,
# then the file part, whose data runs up to the closing delimiter. A field out of that order is
# skipped over (lost) or swallowed into the file part's name; a body that ends before the
# closing delimiter is "upload failed"; both are 500s, as pveproxy answers them.
_FIELDS = ("content", "checksum-algorithm", "checksum")


def _parse_multipart(body: bytes, boundary: bytes) -> tuple[dict[str, Any], UploadFile | None]:
    newline = rb"\r?\n"
    delim = b"--" + re.escape(boundary) + newline
    close = b"--" + re.escape(boundary) + b"--"
    first = re.search(delim, body)
    if first is None:
        raise ApiError(500, "upload failed")
    buf = body[first.start() :]
    params: dict[str, Any] = {}
    for name in _FIELDS:
        field_re = (
            b"^"
            + delim
            + rb".*?Content-Disposition: (.*?); name=\""
            + re.escape(name.encode())
            + rb"\"(.*?"
            + delim
            + b")"
        )
        found = re.match(field_re, buf, re.DOTALL)
        if found is None:
            continue
        _assert_form_data(found[1])
        buf = _skip_part_headers(found[2] + buf[found.end() :])
        value = re.match(b"^(.*?)(" + delim + b")", buf, re.DOTALL)
        if value is not None:
            params[name] = value[1].decode("utf-8", "replace").strip()
            buf = buf[value.start(2) :]
    file_re = b"^" + delim + rb'Content-Disposition: (.*?); name="(.*?)"; filename="([^"]+)"'
    part = re.match(file_re, buf, re.DOTALL)
    if part is None:
        raise ApiError(500, "upload failed")
    _assert_form_data(part[1])
    field = part[2].decode("utf-8", "replace")
    if field != "filename":
        raise ApiError(500, f"wrong field name '{field}' for file upload, expected 'filename'")
    filename = part[3].decode("utf-8", "replace").strip()
    buf = _skip_part_headers(buf[part.end() :])
    data = re.match(b"^(.*?)(?:" + newline + b")?+" + close, buf, re.DOTALL)
    if data is None:
        raise ApiError(500, "upload failed")
    params["filename"] = filename
    return params, UploadFile(filename, data[1])


def _assert_form_data(disposition: bytes) -> None:
    if disposition != b"form-data":
        text = disposition.decode("utf-8", "replace")
        raise ApiError(
            500, f"wrong Content-Disposition '{text}' in multipart, expected 'form-data'"
        )


def _skip_part_headers(buf: bytes) -> bytes:
    """Drop what is left of a part's headers, up to the empty line before its data."""
    return re.sub(rb"^.*?(?:\r?\n){2}", b"", buf, count=1, flags=re.DOTALL)
