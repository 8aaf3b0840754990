"""Pydantic's validation errors, translated into problems a user can act on.

Each error's ``loc`` is cut back to the part that exists in the file (pydantic adds union member
names such as ``str``/``int``); union alternatives at one path merge into one message; unknown
keys get the closest valid key (difflib) or the section they belong to; numbers that were meant
as text (``version: 1.30``) say how to quote them. Field values given in ``token_id`` are never
echoed, since a pasted API secret would land there.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterator, Mapping
from ipaddress import IPv4Network, ip_network
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from homelab.core.spec.findings import Problem, SpecPath, error
from homelab.core.spec.models import LabSpec

_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
    "ip_v4_address": "an IPv4 address such as 10.0.20.10",
    "ip_v4_network": "an IPv4 network such as 10.0.20.0/24",
}
_PATTERN_HELP = {
    "endpoint": "an https:// URL such as https://10.0.10.2:8006",
    "token_id": "user@realm!tokenid, such as homelab@pve!apply (the secret goes in env "
    "PROXMOX_VE_API_TOKEN, never in the spec)",
    "fingerprint": "a SHA-256 fingerprint: 32 hex pairs joined by colons (AB:CD:...)",
    "vmid_range": "first-last, such as 200-299",
    "addresses": "first-last, such as 10.0.20.200-10.0.20.250",
    "user": "a Linux user name: lowercase letters, digits, '_' or '-', at most 32",
}
_STORAGE_ID_HELP = "a PVE storage id: a lowercase letter, then letters, digits, '-', '_' or '.'"
_PATTERN_HELP.update(
    {
        "datastore": "a PBS datastore name: letters, digits, '.', '_' or '-'",
        "namespace": "a PBS namespace: names like a datastore's joined by '/', at most 7 levels",
        "server": "a host name or an IP address",
        "existing": _STORAGE_ID_HELP,
        "token_env": "an environment variable name, such as HOMELAB_PBS_TOKEN",
    }
)
# Where one field name means different things in different places (the last two path parts).
_PATH_PATTERN_HELP: dict[tuple[str, str], str] = {
    ("pbs", "token_id"): "user@realm!name of a PBS API token, such as homelab@pbs!pve (the "
    "secret goes in the environment variable token_env names, never in the spec)",
    ("pbs", "id"): _STORAGE_ID_HELP,
}
_SENSITIVE = {"token_id"}


def _pattern_help(path: SpecPath) -> str | None:
    tail = tuple(str(part) for part in path[-2:])
    if len(tail) == 2 and tail in _PATH_PATTERN_HELP:
        return _PATH_PATTERN_HELP[(tail[0], tail[1])]
    return _PATTERN_HELP.get(str(path[-1])) if path else None


def _describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(annotation: Any) -> Any:
    """Optional[X] / X | None -> X when X is a model, dict or list; else unchanged."""
    if get_origin(annotation) in (Union, types.UnionType):
        for member in get_args(annotation):
            if isinstance(member, type) and issubclass(member, BaseModel):
                return member
            if get_origin(member) in (dict, list):
                return member
    return annotation


def model_at(path: SpecPath) -> type[BaseModel] | None:
    """The model that validates the mapping at ``path``, if it is one."""
    current: Any = LabSpec
    for part in path:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = _unwrap(field.annotation)
        elif get_origin(current) is dict:
            current = _unwrap(get_args(current)[1])
        elif get_origin(current) is list:
            current = _unwrap(get_args(current)[0])
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_homes(model: type[BaseModel], prefix: str, homes: dict[str, list[str]]) -> None:
    for name, field in model.model_fields.items():
        homes.setdefault(name, []).append(prefix or "the top level")
        inner = _unwrap(field.annotation)
        if get_origin(inner) is dict:
            inner, prefix_next = _unwrap(get_args(inner)[1]), f"{prefix}{name}.<name>"
        else:
            prefix_next = f"{prefix}{name}"
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            _field_homes(inner, f"{prefix_next}.", homes)


_HOMES: dict[str, list[str]] = {}
_field_homes(LabSpec, "", _HOMES)
_HOMES = {key: [home.rstrip(".") for home in homes] for key, homes in _HOMES.items()}


def _closest_field(key: str, fields: list[str]) -> str | None:
    wanted = key.lower().replace("-", "_")
    lowered = {name.lower(): name for name in fields}
    close = difflib.get_close_matches(wanted, list(lowered), 1, 0.6)
    if close:
        return lowered[close[0]]
    words = set(wanted.split("_"))
    parts = [name for name in fields if len(wanted) >= 3 and words <= set(name.split("_"))]
    return parts[0] if len(parts) == 1 else None


def suggest_key(key: str, parent: SpecPath) -> str:
    """' (did you mean 'x'?)', ' (it belongs under kubernetes)', the valid keys, or ''."""
    model = model_at(parent)
    fields = list(model.model_fields) if model is not None else []
    close = _closest_field(key, fields)
    if close is not None:
        return f" (did you mean '{close}'?)"
    homes = _HOMES.get(key)
    if homes:
        return f" (it belongs under {' or '.join(homes)})"
    return f" (valid keys: {', '.join(fields)})" if fields else ""


def _existing_prefix(data: object, loc: tuple[int | str, ...]) -> SpecPath:
    """The longest prefix of ``loc`` that names something present in ``data``."""
    current: Any = data
    for depth, part in enumerate(loc):
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            current = current[part]
        else:
            return tuple(loc[:depth])
    return tuple(loc)


def _host_bits_hint(value: object) -> str:
    if not isinstance(value, str):
        return ""
    try:
        network = ip_network(value.strip(), strict=False)
    except ValueError:
        return ""
    if not isinstance(network, IPv4Network):
        return "; only IPv4 is supported"
    if str(network) != value.strip():
        return f"; host bits are set: did you mean {network}?"
    return ""


def _quote_hint(path: SpecPath, raw: str | None, value: object) -> str | None:
    if raw is None or not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if path and path[-1] in _PATTERN_HELP:
        return None
    if path[-1:] == ("version",):
        minor = raw if raw.count(".") == 1 else ".".join(raw.split(".")[:2])
        return (
            f"{raw} reads as the number {value!r} in YAML; quote it and give the full "
            f'version: "{minor}.x" (for example "{minor}.0")'
        )
    return f'{raw} reads as a number in YAML, but text is expected; quote it: "{raw}"'


def _literal_message(detail: ErrorDetails) -> str:
    expected = str(detail.get("ctx", {}).get("expected", ""))
    choices = re.findall(r"'([^']*)'", expected)
    value = detail["input"]
    close = difflib.get_close_matches(str(value), choices, 1, 0.6) if choices else []
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"must be one of {expected}, not {_describe(value)}{hint}"


def _single_message(detail: ErrorDetails, path: SpecPath, raw: str | None) -> str:
    kind, value, ctx = detail["type"], detail["input"], detail.get("ctx", {})
    shown = "" if path[-1:] and path[-1] in _SENSITIVE else f", got {_describe(value)}"
    if kind == "string_type":
        quoted = _quote_hint(path, raw, value)
        if quoted is not None:
            return quoted
    if kind == "string_pattern_mismatch" or (
        kind == "string_type" and path[-1:] and path[-1] in _PATTERN_HELP
    ):
        help_text = _pattern_help(path) or "the documented form"
        return f"expected {help_text}{shown}"
    if kind == "literal_error":
        return _literal_message(detail)
    if kind == "ip_v4_network":
        return f"expected {_EXPECTED[kind]}{shown}{_host_bits_hint(value)}"
    if kind == "ip_v4_address" and isinstance(value, str) and "/" in value:
        return f"expected {_EXPECTED[kind]}{shown}; drop the /prefix, the network's cidr has it"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}{shown}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}{shown}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}{shown}"
    if kind == "too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else detail["msg"]
    if kind == "value_error":
        return str(ctx.get("error", detail["msg"]))
    return f"{detail['msg']}{shown}"


def _merge_messages(details: list[ErrorDetails], path: SpecPath, raw: str | None) -> str:
    """One message for one path; union alternatives become 'expected A or B, got C'."""
    kinds = [detail["type"] for detail in details]
    if len(details) > 1 and all(kind in _EXPECTED for kind in kinds):
        wanted = " or ".join(dict.fromkeys(_EXPECTED[kind] for kind in kinds))
        return f"expected {wanted}, got {_describe(details[0]['input'])}"
    messages = dict.fromkeys(_single_message(detail, path, raw) for detail in details)
    return "; or ".join(messages)


def problems_from(
    exc: ValidationError, data: object, raw: Mapping[SpecPath, str]
) -> Iterator[Problem]:
    """Translate every pydantic error into a positioned-later Problem, one per path and kind."""
    grouped: dict[tuple[str, SpecPath], list[ErrorDetails]] = {}
    for detail in exc.errors(include_url=False):
        loc = tuple(detail["loc"])
        kind = detail["type"]
        if kind == "missing":
            prefix = _existing_prefix(data, loc)
            path = loc[: len(prefix) + 1]
            grouped.setdefault(("missing", path), []).append(detail)
        elif kind == "extra_forbidden":
            grouped.setdefault(("extra", loc), []).append(detail)
        else:
            grouped.setdefault(("value", _existing_prefix(data, loc)), []).append(detail)
    for (group, path), details in grouped.items():
        if group == "missing":
            yield error(path, f"missing required key '{path[-1]}'", on_key=True)
        elif group == "extra":
            key = str(path[-1])
            yield error(path, f"unknown key '{key}'{suggest_key(key, path[:-1])}", on_key=True)
        else:
            yield error(path, _merge_messages(details, path, raw.get(path)))
