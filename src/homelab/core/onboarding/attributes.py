"""Finding the attributes of a resource that the spec does not carry, by the provider's schema.

A provider reader describes its resource's schema as a ``Table``: per attribute its default
value (listed when the state holds another value), or a marker: ``MAPPED`` (the reader turns it
into spec fields), ``COMPUTED`` (the provider reads it back; not a setting), ``SECRET`` (never
shown, listed by name as not imported), ``PRESENCE`` (a block that is absent by default: listed
when present), ``Tf(default)`` (Terraform's own behaviour, such as timeouts: listed when not the
default, with a note that it means nothing outside Terraform). A nested ``Table`` describes a
block (SDKv2 stores blocks as lists of objects). Attributes the table does not know are listed
when they hold anything but an empty or zero value. Whatever Terraform marked sensitive
(``sensitive_attributes``) is a secret too. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from homelab.core.onboarding.model import Attr
from homelab.core.onboarding.tfstate import Instance, PathStep

__all__ = [
    "COMPUTED",
    "KEPT",
    "MAPPED",
    "PRESENCE",
    "SECRET",
    "Table",
    "Tf",
    "block_path",
    "display_path",
    "shown",
    "unmapped_attributes",
]

KEPT = "not managed by homelab: the VM keeps it"
TERRAFORM = "Terraform's own setting: no meaning outside Terraform"
UNKNOWN = "unknown to the importer: the VM keeps it"
MAX_SHOWN = 72


class Marker(Enum):
    MAPPED = "mapped"
    COMPUTED = "computed"
    SECRET = "secret"  # noqa: S105  (a marker, not a password)
    PRESENCE = "presence"


MAPPED = Marker.MAPPED
COMPUTED = Marker.COMPUTED
SECRET = Marker.SECRET
PRESENCE = Marker.PRESENCE


@dataclass(frozen=True)
class Tf:
    """An attribute that only changes what Terraform does (timeouts, waits, reboots)."""

    default: Any


Table = Mapping[str, Any]


def shown(value: Any) -> str:
    """A value as short, single-line, ASCII text (JSON), cut at ``MAX_SHOWN`` characters."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, default=str)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def display_path(raw: Sequence[PathStep], lengths: Sequence[int | None]) -> str:
    """``("cpu", 0, "type")`` -> ``cpu.type``: an index into a one-element block is dropped,
    other indexes are shown as ``[1]``. ``lengths[i]`` is the length of the list indexed at i."""
    text = ""
    for step, length in zip(raw, lengths, strict=True):
        if isinstance(step, int):
            if length != 1:
                text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    return text


def _empty(value: Any) -> bool:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value == 0
    return value is None or value == "" or value == [] or value == {}


def _is_default(value: Any, default: Any) -> bool:
    """Whether a stored value is the schema's default. Unset (null, or "" which SDKv2 stores
    for an unset string) is the default; a falsy default matches every empty or zero value
    (providers store ``iothread`` as 0 in one version and false in the next)."""
    if value is None or value == "":
        return True
    if isinstance(value, str) and isinstance(default, str):
        return value.strip() == default.strip()
    if not default:
        return _empty(value)
    if isinstance(value, bool) != isinstance(default, bool):
        return False
    return bool(value == default)


@dataclass
class _Walk:
    instance: Instance
    unmapped: list[Attr]
    secrets: list[str]

    def mapping(
        self,
        values: Mapping[str, Any],
        table: Table,
        raw: tuple[PathStep, ...],
        lengths: tuple[int | None, ...],
    ) -> None:
        for key in sorted(values):
            self.one(values[key], table.get(key, _UNKNOWN), (*raw, key), (*lengths, None))

    def one(
        self, value: Any, spec: Any, raw: tuple[PathStep, ...], lengths: tuple[int | None, ...]
    ) -> None:
        where = display_path(raw, lengths)
        if spec is SECRET or self.instance.is_sensitive(raw):
            if not _empty(value):
                self.secrets.append(where)
            return
        if spec is MAPPED or spec is COMPUTED:
            return
        if spec is PRESENCE or spec is _UNKNOWN:
            if not _empty(value):
                self.unmapped.append(
                    Attr(where, shown(value), KEPT if spec is PRESENCE else UNKNOWN)
                )
            return
        if isinstance(spec, Tf):
            if not _is_default(value, spec.default):
                self.unmapped.append(Attr(where, shown(value), TERRAFORM))
            return
        if isinstance(spec, Mapping):
            self.block(value, spec, raw, lengths)
            return
        if not _is_default(value, spec):
            self.unmapped.append(Attr(where, shown(value), KEPT))

    def block(
        self, value: Any, table: Table, raw: tuple[PathStep, ...], lengths: tuple[int | None, ...]
    ) -> None:
        if isinstance(value, Mapping):
            self.mapping(value, table, raw, lengths)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.one(item, table, (*raw, index), (*lengths, len(value)))
        elif not _empty(value):
            where = display_path(raw, lengths)
            self.unmapped.append(Attr(where, shown(value), UNKNOWN))


_UNKNOWN = object()


def unmapped_attributes(
    instance: Instance,
    table: Table,
    values: Mapping[str, Any] | None = None,
    *,
    at: tuple[PathStep, ...] = (),
    lengths: tuple[int | None, ...] = (),
) -> tuple[list[Attr], list[str]]:
    """The attributes of ``instance`` the spec does not carry and that differ from their
    default, and the names of the secrets it holds. ``values`` is the object at path ``at``
    (its attributes by default); ``lengths`` the lengths of the lists ``at`` indexes (None for
    a key), so that paths read as ``disk[1].iothread``, or ``cpu.type`` in a one-element block."""
    walk = _Walk(instance, [], [])
    walk.mapping(instance.attributes if values is None else values, table, at, lengths)
    return walk.unmapped, walk.secrets


def block_path(
    attributes: Mapping[str, Any], *steps: PathStep
) -> tuple[tuple[PathStep, ...], tuple[int | None, ...]]:
    """``steps`` into ``attributes`` with the lengths ``unmapped_attributes`` wants."""
    lengths: list[int | None] = []
    node: Any = attributes
    for step in steps:
        if isinstance(step, int):
            lengths.append(len(node) if isinstance(node, list) else None)
            node = node[step] if isinstance(node, list) and step < len(node) else None
        else:
            lengths.append(None)
            node = node.get(step) if isinstance(node, Mapping) else None
    return tuple(steps), tuple(lengths)
