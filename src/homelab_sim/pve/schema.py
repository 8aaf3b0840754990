"""The PVE API schema of the endpoints the simulator serves: path matching and parameter checks.

It loads the generated table `schema_table.json` (scripts/gen_pve_schema.py derives it from the
official apidoc.json) once, precompiles every pattern, and validates parameters the way
PVE::JSONSchema does, with its exact messages: required and unknown properties, type checks
(booleans only 0/1, or JSON true/false), formats before patterns, lengths, ranges and enums,
`requires`, `-list` formats and property strings (`net0=virtio,bridge=vmbr0,tag=20`).
The legacy normalisation of PVE::RESTHandler runs first: a repeated key given to a `-list`
string parameter is joined with commas, a scalar given to an array parameter becomes a list.

Named formats are implemented in schema_formats. An unknown format name in the table is an
error when the table loads, never a silent pass. Accepted loosely (shape only):
- the formats schema_formats lists: `pve-calendar-event`, `pve-cpuset`, `storage-pair`;
- property-string sub-keys whose values the dump does not enumerate: `pve-vm-cpu-conf`
  (`cputype`, `phys-bits`, `reported-model` as plain strings), `pve-qemu-sev-fmt` (`type`),
  `pve-qm-smbios1` (the base64 text fields), `pve-qm-hostpci` (`host`, ids, `mdev`, `romfile`).
Not checked at all: the post-parse validators some hash formats have in qemu-server (for
example that a cpu model exists, or `keep-all` excluding the other `prune-backups` keys), and
whatever the API handler itself checks at run time (the simulator does those).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from homelab_sim.pve import schema_check, schema_formats
from homelab_sim.pve.schema_check import Prop, PropertyString, Value

__all__ = ["VERIFICATION_FAILED", "Endpoint", "endpoints", "match", "validate"]

VERIFICATION_FAILED = "Parameter verification failed."
_API_PREFIX = "/api2/json"
# Subtrees whose remaining path is one parameter (PVE's `fragmentDelimiter => ''`): volume IDs
# may contain slashes.
_JOIN_REST_AFTER = ("/nodes/{node}/storage/{storage}/content",)
_SEGMENT = re.compile(r"^\S+$")
_INDEXED_KEY = re.compile(r"^([a-z]+)(\d+)$")


@dataclass(frozen=True, slots=True, eq=False)
class Endpoint:
    """One served method of one API path, as the schema table describes it.

    Endpoints are loaded once and compare (and hash) by identity.
    """

    template: str
    method: str
    name: str
    protected: bool
    allowtoken: bool
    permissions: Mapping[str, Any] | None  # PVE 8's check
    permissions_pve9: Mapping[str, Any] | None  # PVE 9's (the same object when unchanged)
    proxyto: str | None
    params: Mapping[str, Mapping[str, Any]]  # the table's parameter schemas (`net[n]` form)
    additional_properties: bool  # False on every PVE endpoint: unknown parameters are errors
    _props: Mapping[str, Prop] = field(repr=False, compare=False)
    _required: tuple[str, ...] = field(repr=False, compare=False)
    _indexed: Mapping[str, tuple[int, int, Prop]] = field(repr=False, compare=False)

    def permissions_for(self, major: int) -> Mapping[str, Any] | None:
        """The endpoint's ``permissions`` on PVE ``major``."""
        return self.permissions_pve9 if major >= 9 else self.permissions


@dataclass(slots=True)
class _Node:
    fixed: dict[str, _Node] = field(default_factory=dict)
    var: tuple[str, _Node] | None = None
    join_rest: bool = False
    methods: dict[str, Endpoint] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Schema:
    endpoints: tuple[Endpoint, ...]
    root: _Node


# ---------------------------------------------------------------- loading


def _compile_prop(raw: Mapping[str, Any], formats: Mapping[str, PropertyString]) -> Prop:
    fmt = raw.get("format")
    try:
        format_check = schema_formats.resolve(fmt) if fmt is not None else None
    except KeyError:
        raise RuntimeError(f"schema table uses format {fmt!r} that schema_formats lacks") from None
    pattern = raw.get("pattern")
    return Prop(
        type=raw.get("type", ""),
        optional=bool(raw.get("optional", False)),
        format=fmt,
        format_check=format_check,
        property_string=formats[raw["property_string"]] if "property_string" in raw else None,
        enum=tuple(raw["enum"]) if "enum" in raw else None,
        pattern=re.compile(f"^{pattern}$") if pattern is not None else None,
        minimum=raw.get("minimum"),
        maximum=raw.get("maximum"),
        min_length=raw.get("minLength"),
        max_length=raw.get("maxLength"),
        requires=raw.get("requires"),
        items=_compile_prop(raw["items"], formats) if "items" in raw else None,
        alias=raw.get("alias"),
        key_alias=raw.get("keyAlias"),
        default_key=bool(raw.get("default_key", False)),
    )


def _compile_property_strings(raw: Mapping[str, Any]) -> dict[str, PropertyString]:
    compiled: dict[str, PropertyString] = {}
    for ident, subkeys in raw.items():
        keys = {key: _compile_prop(sub, compiled) for key, sub in subkeys.items()}
        default = next((key for key, prop in keys.items() if prop.default_key), None)
        required = tuple(key for key, prop in keys.items() if prop.required)
        compiled[ident] = PropertyString(MappingProxyType(keys), default, required)
    return compiled


def _compile_endpoint(
    template: str, method: str, raw: Mapping[str, Any], formats: Mapping[str, PropertyString]
) -> Endpoint:
    props: dict[str, Prop] = {}
    indexed: dict[str, tuple[int, int, Prop]] = {}
    for name, param in raw["params"].items():
        prop = _compile_prop(param, formats)
        if "index" in param:
            low, high = param["index"]
            indexed[name.removesuffix("[n]")] = (low, high, prop)
        else:
            props[name] = prop
    return Endpoint(
        template=template,
        method=method,
        name=raw["name"],
        protected=bool(raw["protected"]),
        allowtoken=bool(raw["allowtoken"]),
        permissions=raw.get("permissions"),
        permissions_pve9=raw.get("permissions_pve9", raw.get("permissions")),
        proxyto=raw.get("proxyto"),
        params=MappingProxyType(dict(raw["params"])),
        additional_properties=bool(raw["additionalProperties"]),
        _props=MappingProxyType(props),
        _required=tuple(name for name, prop in props.items() if prop.required),
        _indexed=MappingProxyType(indexed),
    )


def _insert(root: _Node, endpoint: Endpoint) -> None:
    node = root
    prefix = ""
    for segment in endpoint.template.strip("/").split("/"):
        prefix += "/" + segment
        if segment.startswith("{"):
            if node.var is None:
                node.var = (segment[1:-1], _Node())
            node = node.var[1]
        else:
            node = node.fixed.setdefault(segment, _Node())
        node.join_rest = node.join_rest or prefix in _JOIN_REST_AFTER
    node.methods[endpoint.method] = endpoint


@cache
def _schema() -> _Schema:
    text = resources.files("homelab_sim.pve").joinpath("schema_table.json").read_text("utf-8")
    table = json.loads(text)
    formats = _compile_property_strings(table["property_strings"])
    root = _Node()
    compiled: list[Endpoint] = []
    for template, methods in sorted(table["endpoints"].items()):
        for method, raw in sorted(methods.items()):
            endpoint = _compile_endpoint(template, method, raw, formats)
            compiled.append(endpoint)
            _insert(root, endpoint)
    return _Schema(tuple(compiled), root)


def endpoints() -> Sequence[Endpoint]:
    """Every endpoint the simulator serves, sorted by path template then method."""
    return _schema().endpoints


# ---------------------------------------------------------------- path matching


def match(method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
    """The endpoint serving `method path` and its path parameters, or None (PVE answers 501).

    `path` may carry the `/api2/json` prefix and a query string; it is URL-decoded first.
    """
    path = path.split("?", 1)[0]
    if path.startswith(_API_PREFIX + "/") or path == _API_PREFIX:
        path = path[len(_API_PREFIX) :]
    stack = [part for part in urllib.parse.unquote(path).split("/") if part]
    node = _schema().root
    params: dict[str, str] = {}
    while stack:
        segment = stack.pop(0)
        if node.var is not None:
            if not _SEGMENT.search(segment):
                return None
            params[node.var[0]] = segment
            node = node.var[1]
        else:
            child = node.fixed.get(segment)
            if child is None:
                return None
            node = child
        if node.join_rest and len(stack) > 1:
            stack = ["/".join(stack)]
    endpoint = node.methods.get(method.upper())
    return (endpoint, params) if endpoint is not None else None


# ---------------------------------------------------------------- validation


def validate(
    endpoint: Endpoint, params: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check `params` as PVE does; returns (coerced values, {param: PVE's message}).

    Values may be strings, lists of strings (repeated keys) or JSON values. Coerced: integers as
    int, booleans as 0/1, numbers as float, arrays as lists of str, everything else as str.
    An empty error map means the request is valid.
    """
    values = {key: schema_check.perl_value(value) for key, value in params.items()}
    _normalize_legacy(endpoint, values)
    errors: dict[str, str] = {}
    coerced: dict[str, Any] = {}
    for key in endpoint._required:
        if values.get(key) is None:
            schema_check.add_error(errors, key, _MISSING)
    for key, value in values.items():
        prop = endpoint._props.get(key) or _indexed_prop(endpoint, key)
        if prop is None:
            if not endpoint.additional_properties:
                schema_check.add_error(errors, key, _UNKNOWN)
            continue
        if value is not None and schema_check.check_prop(value, prop, key, errors):
            coerced[key] = schema_check.coerce(value, prop)
        if prop.requires is not None and values.get(prop.requires) is None:
            schema_check.add_error(
                errors, prop.requires, f"missing property - '{key}' requires this property"
            )
    return coerced, errors


_MISSING = "property is missing and it is not optional"
_UNKNOWN = "property is not defined in schema and the schema does not allow additional properties"


def _indexed_prop(endpoint: Endpoint, key: str) -> Prop | None:
    found = _INDEXED_KEY.match(key)
    if found is None or found.group(1) not in endpoint._indexed:
        return None
    low, high, prop = endpoint._indexed[found.group(1)]
    digits = found.group(2)
    if str(int(digits)) != digits or not low <= int(digits) <= high:
        return None
    return prop


def _normalize_legacy(endpoint: Endpoint, values: dict[str, Value]) -> None:
    for key, value in values.items():
        prop = endpoint._props.get(key)
        if prop is None or not schema_check.perl_true(value):
            continue
        if (
            isinstance(value, list)
            and prop.type == "string"
            and (prop.format or "").endswith("-list")
        ):
            values[key] = ",".join(str(item) for item in value)
        elif not isinstance(value, (list, dict)) and prop.type == "array":
            values[key] = [value]
