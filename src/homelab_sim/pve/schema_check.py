"""PVE::JSONSchema's checks of one value: types, formats, property strings, lengths, ranges, enums.

Values are held as Perl would hold them after decoding a request: strings for scalars, bool for
JSON true/false, lists for repeated keys or JSON arrays, dicts for JSON objects, None for undef.
Messages are PVE's, byte for byte (including the trailing newlines validators die with).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from homelab_sim.pve import schema_formats

_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$")
_KEY_VALUE = re.compile(r"^([^=]+)=(.+)$")
_BLANK = re.compile(r"^\s*$")
_MISSING = "property is missing and it is not optional"
_TRUE = re.compile(r"^(1|on|yes|true)$", re.IGNORECASE)
_FALSE = re.compile(r"^(0|off|no|false)$", re.IGNORECASE)

Value = Any  # str | bool | list[Value] | dict[str, Value] | None


@dataclass(frozen=True, slots=True)
class Prop:
    """One compiled parameter or property-string sub-key schema."""

    type: str
    optional: bool
    format: str | None = None
    format_check: Callable[[str], None] | None = None
    property_string: PropertyString | None = None
    enum: tuple[str, ...] | None = None
    pattern: re.Pattern[str] | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    requires: str | None = None
    items: Prop | None = None
    alias: str | None = None
    key_alias: str | None = None
    default_key: bool = False

    @property
    def required(self) -> bool:
        """Whether a missing value is an error (aliases stand for another key)."""
        return not self.optional and self.alias is None


@dataclass(frozen=True, slots=True, eq=False)
class PropertyString:
    """A compiled property-string format: its sub-keys and the key a bare value fills.

    Compares and hashes by identity, so checks of repeated values can be cached.
    """

    keys: Mapping[str, Prop]
    default_key: str | None
    required: tuple[str, ...] = ()


def perl_number_text(value: int | float) -> str:
    """A schema number as Perl prints it in a message (`4094`, `0.5`)."""
    return str(value) if isinstance(value, int) else format(value, ".15g")


def perl_value(value: Any) -> Value:
    """Turn a JSON / form value into what Perl would hold: strings, bools, lists, dicts, None."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            str(int(value)) if value.is_integer() and abs(value) < 1e15 else format(value, ".15g")
        )
    if isinstance(value, (list, tuple)):
        return [perl_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): perl_value(v) for k, v in value.items()}
    return str(value)


def perl_true(value: Value) -> bool:
    """Perl truthiness: undef, "", "0" and JSON false are false."""
    return value is not None and value != "" and value != "0" and value is not False


def add_error(errors: dict[str, str], path: str, message: str) -> None:
    """PVE::JSONSchema::add_error: a second message for a path is joined with a literal `\\n`."""
    path = path or "_root"
    errors[path] = f"{errors[path]}\\n{message}" if path in errors else message


def _ref_name(value: Value) -> str:
    if isinstance(value, bool):
        return "JSON::PP::Boolean"
    return "ARRAY" if isinstance(value, list) else "HASH"


_SCALAR_TYPES: dict[str, Callable[[str], bool]] = {
    "boolean": lambda v: v in ("0", "1"),
    "integer": lambda v: _INTEGER.search(v) is not None,
    "number": lambda v: _NUMBER.search(v) is not None,
}


def _check_type(path: str, kind: str, value: Value, errors: dict[str, str]) -> bool:
    if kind in ("", "any"):
        return True
    is_ref = isinstance(value, (bool, list, dict))
    if kind == "array" or kind == "object":
        wanted = list if kind == "array" else dict
        if not isinstance(value, wanted):
            add_error(errors, path, f"type check ('{kind}') failed")
            return False
        return True
    if is_ref:
        if kind == "boolean" and isinstance(value, bool):
            return True
        add_error(errors, path, f"type check ('{kind}') failed - got {_ref_name(value)}")
        return False
    ok = _SCALAR_TYPES.get(kind)
    if ok is not None and not ok(value):
        add_error(errors, path, f"type check ('{kind}') failed - got '{value}'")
        return False
    return True


def check_prop(value: Value, prop: Prop, path: str, errors: dict[str, str]) -> bool:
    """PVE::JSONSchema::check_prop; True when the value is present and valid."""
    if value is None:
        if prop.required:
            add_error(errors, path, _MISSING)
        return False
    before = len(errors)
    if not _check_type(path, prop.type, value, errors):
        return False
    if isinstance(value, list):
        if prop.items is not None:
            for index, item in enumerate(value):
                check_prop(item, prop.items, f"{path}[{index}]", errors)
        return len(errors) == before
    if isinstance(value, (dict, bool)):
        return True
    message = _check_scalar(value, prop, path)
    if message is not None:
        add_error(errors, path, message)
        return False
    return True


def _check_scalar(value: str, prop: Prop, path: str) -> str | None:
    """The first failing check of a scalar, in PVE's order, or None."""
    if prop.property_string is not None:
        failure = _property_string_failure(prop.property_string, value, path)
        if failure is not None:
            return failure
    elif prop.format_check is not None:
        try:
            prop.format_check(value)
        except schema_formats.FormatError as exc:
            return f"invalid format - {exc}"
    if prop.pattern is not None and not prop.pattern.search(value):
        return "value does not match the regex pattern"
    if prop.max_length is not None and len(value) > prop.max_length:
        return f"value may only be {prop.max_length} characters long"
    if prop.min_length is not None and len(value) < prop.min_length:
        return f"value must be at least {prop.min_length} characters long"
    if _NUMBER.search(value):
        if prop.maximum is not None and float(value) > prop.maximum:
            return f"value must have a maximum value of {perl_number_text(prop.maximum)}"
        if prop.minimum is not None and float(value) < prop.minimum:
            return f"value must have a minimum value of {perl_number_text(prop.minimum)}"
    if prop.enum is not None and value not in prop.enum:
        return f"value '{value}' does not have a value in the enumeration '{', '.join(prop.enum)}'"
    return None


def _parse_boolean(value: str) -> str:
    if _TRUE.search(value):
        return "1"
    if _FALSE.search(value):
        return "0"
    return value


def _split_property_string(fmt: PropertyString, data: str) -> dict[str, Value]:
    """PVE::JSONSchema::parse_property_string, up to the object check."""
    parsed: dict[str, Value] = {}
    default_used: str | None = None
    for part in data.split(","):
        if _BLANK.search(part):
            continue
        pair = _KEY_VALUE.search(part)
        if pair is not None:
            key, value = pair.group(1), pair.group(2)
            _assign_pair(fmt, parsed, key, value)
        elif "=" not in part:
            if default_used is not None:
                raise schema_formats.FormatError(_duplicate(default_used))
            if fmt.default_key is None:
                raise schema_formats.FormatError(
                    "value without key, but schema does not define a default key\n"
                )
            default_used = fmt.default_key
            if perl_true(parsed.get(default_used)):
                raise schema_formats.FormatError(_duplicate(default_used))
            parsed[default_used] = part
        else:
            raise schema_formats.FormatError("missing key in comma-separated list property\n")
    return parsed


def _duplicate(key: str) -> str:
    return f"duplicate key in comma-separated list property: {key}\n"


def _assign_pair(fmt: PropertyString, parsed: dict[str, Value], key: str, value: str) -> None:
    if key in parsed:
        raise schema_formats.FormatError(_duplicate(key))
    prop = fmt.keys.get(key)
    if prop is not None and prop.alias is not None:
        if prop.key_alias is not None:
            if prop.key_alias in parsed:
                raise schema_formats.FormatError(
                    f"key alias '{prop.key_alias}' is already defined\n"
                )
            parsed[prop.key_alias] = key
        key = prop.alias
        target = fmt.keys.get(key)
    else:
        target = prop
    if target is None:
        raise schema_formats.FormatError(f"invalid key in comma-separated list property: {key}\n")
    parsed[key] = _parse_boolean(value) if target.type == "boolean" else value


@lru_cache(maxsize=4096)
def _property_string_failure(fmt: PropertyString, data: str, path: str) -> str | None:
    """The message for a bad property string, or None; cached, as clients repeat values."""
    try:
        _parse_property_string(fmt, data, path)
    except schema_formats.FormatError as exc:
        return f"invalid format - {exc}"
    return None


def _parse_property_string(fmt: PropertyString, data: str, path: str) -> None:
    parsed = _split_property_string(fmt, data)
    errors: dict[str, str] = {}
    for key in fmt.required:
        if parsed.get(key) is None:
            add_error(errors, f"{path}.{key}" if path else key, _MISSING)
    for key, value in parsed.items():
        prop = fmt.keys.get(key)
        if prop is None:  # a keyAlias target stored without a schema of its own
            continue
        check_prop(value, prop, f"{path}.{key}" if path else key, errors)
        if prop.requires is not None and parsed.get(prop.requires) is None:
            required = f"{path}.{prop.requires}" if path else prop.requires
            newpath = f"{path}.{key}" if path else key
            add_error(errors, required, f"missing property - '{newpath}' requires this property")
    if errors:
        lines = "".join(f"{where}: {errors[where]}\n" for where in sorted(errors))
        raise schema_formats.FormatError("format error\n" + lines)


def coerce(value: Value, prop: Prop) -> Any:
    """The Python value of a valid parameter: int for integers and booleans, float for numbers."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list):
        return [str(item) for item in value]
    if prop.type in ("integer", "boolean"):
        return int(value)
    if prop.type == "number":
        return float(value)
    return value
