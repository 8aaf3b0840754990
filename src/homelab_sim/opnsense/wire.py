"""HTTP on the OPNsense side of the wire: requests in, JSON replies out, as ``www/api.php`` does.

Body parsing follows ``ApiControllerBase::parseJsonBodyData``: ``application/json`` bodies
become the posted data (an empty body is HTTP 400 ``Invalid JSON syntax``; unparsable JSON is
an empty post), form-urlencoded bodies are PHP's ``$_POST`` (``a[b]=c`` nests), any other
content type leaves the post empty. Error replies are ``api.php``'s: a ``UserException`` is
HTTP 500 ``{errorMessage, errorTitle, errorLevel}``, an unknown endpoint HTTP 404 ``Endpoint not
found``, anything else HTTP 500 ``Unexpected error, check log for details``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

JSON_TYPES = ("application/json", "application/json;charset=utf-8")
FORM_TYPES = (
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded;charset=utf-8",
)


class UserError(Exception):
    """OPNsense's ``UserException``: HTTP 500 with the message and a title."""

    def __init__(self, message: str, title: str = "", *, level: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.title = title
        self.level = level  # UserWarningException: "warning"


class UnexpectedError(Exception):
    """A PHP error upstream would raise (api.php answers it with a generic 500)."""


class EndpointNotFound(Exception):
    """The router's ``DispatchException``: no such controller, action, or too few parameters."""


@dataclass(frozen=True)
class OpnRequest:
    """One HTTP request. Header names are lower-case; ``path`` has no query string."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class OpnResponse:
    """One reply. ``drop`` means: close the connection and send nothing."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


def reply(status: int, payload: Any) -> OpnResponse:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return OpnResponse(status, body, [("content-type", "application/json; charset=UTF-8")])


def raw(status: int, body: bytes, headers: list[tuple[str, str]]) -> OpnResponse:
    return OpnResponse(status, body, headers)


def dropped() -> OpnResponse:
    return OpnResponse(0, b"", [], drop=True)


def user_error(exc: UserError) -> OpnResponse:
    return reply(
        500, {"errorMessage": exc.message, "errorTitle": exc.title, "errorLevel": exc.level}
    )


def not_found() -> OpnResponse:
    return reply(404, {"errorMessage": "Endpoint not found"})


def unexpected() -> OpnResponse:
    return reply(500, {"errorMessage": "Unexpected error, check log for details"})


def content_type(request: OpnRequest) -> str:
    return request.headers.get("content-type", "").replace(" ", "").lower()


def parse_post(request: OpnRequest) -> tuple[dict[str, Any], str | None]:
    """The posted data and, for an empty JSON body, the 400 message."""
    kind = content_type(request)
    if kind in JSON_TYPES:
        if not request.body.strip():
            return {}, "Invalid JSON syntax"
        try:
            data = json.loads(request.body)
        except ValueError:
            return {}, None
        return (data if isinstance(data, dict) else {}), None
    if kind in FORM_TYPES:
        return form_fields(request.body.decode("utf-8", "replace")), None
    return {}, None


def form_fields(text: str) -> dict[str, Any]:
    """PHP's parse of ``a=1&b[c]=2&t[]=x``: one level of brackets nests, ``[]`` appends."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if "[" in key and key.endswith("]"):
            outer, inner = key[:-1].split("[", 1)
            if inner == "":
                listed = out.setdefault(outer, [])
                if isinstance(listed, list):
                    listed.append(value)
                continue
            nested = out.setdefault(outer, {})
            if isinstance(nested, dict):
                nested[inner] = value
        else:
            out[key] = value
    return out


def query_fields(request: OpnRequest) -> dict[str, Any]:
    return form_fields(request.query)
