"""An MVC model's array of items and the generic CRUD of ``ApiMutableModelControllerBase``.

A ``ModelSpec`` names a model's item (the key of posted bodies, e.g. ``rule``), its fields and
the checks that span fields or records (uniqueness, Filter.php's port/protocol rules...). A
``Table`` holds the configured items of one model, uuid -> {field: text}, in insertion order.

The functions below answer as upstream's base controller does (``addBase``, ``setBase``,
``delBase``, ``getBase``, ``searchBase``/``UIModelGrid::fetch``, ``toggleBase``): a body
without the item gives ``{"result": "failed"}``; a validation error is HTTP 200 with
``{"result": "failed", "validations": {"<item>.<field>": message}}`` (a list when one field
has several); ``get`` of an unknown uuid is ``[]``.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from homelab_sim.opnsense.fields import Context, Field
from homelab_sim.opnsense.wire import UnexpectedError, UserError

Record = dict[str, str]
RecordCheck = Callable[[str, Record, "Table", Context], list[tuple[str, str]]]
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


@dataclass(frozen=True)
class ModelSpec:
    item: str  # the posted key and the prefix of validation keys
    fields: Mapping[str, Field]
    checks: tuple[RecordCheck, ...] = ()
    sort: str | None = None  # searchBase's default sort field
    fresh: Callable[[Table, Record], None] | None = None  # defaults computed from the table


@dataclass
class Table:
    spec: ModelSpec
    rows: dict[str, Record] = field(default_factory=dict)

    def copy(self) -> Table:
        return Table(self.spec, {uuid: dict(record) for uuid, record in self.rows.items()})

    def new_record(self) -> Record:
        record = {name: f.default for name, f in self.spec.fields.items()}
        if self.spec.fresh is not None:
            self.spec.fresh(self, record)
        return record

    def items(self) -> Iterator[tuple[str, Record]]:
        return iter(list(self.rows.items()))


def unique(
    name: str, message: str, *, with_fields: tuple[str, ...] = (), nocase: bool = False
) -> RecordCheck:
    """UniqueConstraint: no other record has the same value (and the same ``with_fields``)."""

    def key(record: Record) -> tuple[str, ...]:
        values = (record.get(name, ""), *(record.get(f, "") for f in with_fields))
        return tuple(v.lower() for v in values) if nocase else values

    def check(uuid: str, record: Record, table: Table, ctx: Context) -> list[tuple[str, str]]:
        if record.get(name, "") == "":
            return []
        mine = key(record)
        clash = any(key(other) == mine for ouuid, other in table.rows.items() if ouuid != uuid)
        return [(name, message)] if clash else []

    return check


def validate(
    spec: ModelSpec, uuid: str, record: Record, table: Table, ctx: Context
) -> dict[str, Any]:
    """The validations of one record, keyed ``<item>.<field>`` (a list when there are several)."""
    found: list[tuple[str, str]] = []
    for name, spec_field in spec.fields.items():
        found.extend((name, msg) for msg in spec_field.check(record.get(name, ""), ctx))
    for check in spec.checks:
        found.extend(check(uuid, record, table, ctx))
    result: dict[str, Any] = {}
    for name, msg in found:
        key = f"{spec.item}.{name}"
        if key not in result:
            result[key] = msg
        elif isinstance(result[key], list):
            if msg not in result[key]:
                result[key].append(msg)
        elif result[key] != msg:
            result[key] = [result[key], msg]
    return result


def apply_posted(spec: ModelSpec, record: Record, posted: Any) -> None:
    """BaseField::setNodes: known keys are set, unknown ones ignored; a non-array body breaks."""
    if not isinstance(posted, dict):
        raise UnexpectedError(
            f"foreach() argument must be of type array|object, {type(posted).__name__} given"
        )
    for name, value in posted.items():
        if name in spec.fields:
            record[name] = spec.fields[name].coerce(value)


def add(
    table: Table,
    posted: Any,
    ctx: Context,
    *,
    overlay: Mapping[str, str] | None = None,
    key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """addBase: returns the reply and whether the configuration changed."""
    if posted is None:
        return {"result": "failed"}, False
    uuid = key or str(uuidlib.uuid4())
    record = table.new_record()
    apply_posted(table.spec, record, posted)
    record.update(overlay or {})
    trial = Table(table.spec, {**table.rows})  # shallow: checks only read
    trial.rows[uuid] = record
    validations = validate(table.spec, uuid, record, trial, ctx)
    if validations:
        return {"result": "failed", "validations": validations}, False
    table.rows[uuid] = record
    return {"result": "saved", "uuid": uuid}, True


def set_item(
    table: Table, uuid: str, posted: Any, ctx: Context, *, overlay: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], bool]:
    """setBase: an update, or an upsert when ``uuid`` is a well-formed unknown uuid."""
    if posted is None or not uuid:
        return {"result": "failed"}, False
    if uuid in table.rows:
        record = dict(table.rows[uuid])
    elif _UUID.match(uuid):
        record = table.new_record()
    else:
        return {"result": "failed"}, False
    apply_posted(table.spec, record, posted)
    record.update(overlay or {})
    trial = Table(table.spec, {**table.rows})  # shallow: checks only read
    trial.rows[uuid] = record
    validations = validate(table.spec, uuid, record, trial, ctx)
    if validations:
        return {"result": "failed", "validations": validations}, False
    table.rows[uuid] = record
    return {"result": "saved"}, True


def delete(table: Table, uuids: str) -> tuple[dict[str, Any], bool]:
    """delBase: a comma-separated list; the reply is the outcome of the last uuid."""
    result: dict[str, Any] = {"result": "failed"}
    changed = False
    for uuid in [u for u in uuids.split(",") if u] if uuids else []:
        if table.rows.pop(uuid, None) is not None:
            changed = True
            result["result"] = "deleted"
        else:
            result["result"] = "not found"
    return result, changed


def toggle(table: Table, uuids: str, enabled: str | None) -> tuple[dict[str, Any], bool]:
    """toggleBase: flip ``enabled`` or set it to 0/1."""
    result: dict[str, Any] = {"result": "failed"}
    targets = [u for u in uuids.split(",") if u] if uuids else []
    if len(targets) > 1 and enabled is None:
        raise UserError(
            "Toggle with a list of items in only supported for explicit actions [0,1]", "Toggle"
        )
    changed = False
    for uuid in targets:
        record = table.rows.get(uuid)
        if record is None:
            continue
        if enabled in ("0", "1"):
            result["result"] = "Enabled" if enabled == "1" else "Disabled"
            result["changed"] = record.get("enabled") != enabled
            record["enabled"] = enabled
        elif enabled is not None:
            result["changed"] = False
            break
        else:
            record["enabled"] = "0" if record.get("enabled") == "1" else "1"
            result["result"] = "Enabled" if record["enabled"] == "1" else "Disabled"
            result["changed"] = True
        changed = changed or bool(result["changed"])
    return result, changed


def get(table: Table, uuid: str | None, ctx: Context) -> Any:
    """getBase: the item with enumerated fields spelled out; ``[]`` for an unknown uuid."""
    if uuid:
        record = table.rows.get(uuid)
        if record is None:
            return []
    else:
        record = table.new_record()
    rendered = {name: f.render(record.get(name, ""), ctx) for name, f in table.spec.fields.items()}
    return {table.spec.item: rendered}


def row(table: Table, uuid: str, record: Record, ctx: Context) -> dict[str, Any]:
    """One search row: raw values plus ``%field`` descriptions where they differ."""
    out: dict[str, Any] = {"uuid": uuid}
    for name, spec_field in table.spec.fields.items():
        value = record.get(name, "")
        out[name] = value
        text = spec_field.describe(value, ctx)
        if text != value:
            out["%" + name] = text
    return out


def _natural(value: str) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", value)]


def search(
    rows: list[dict[str, Any]],
    params: Mapping[str, Any],
    *,
    sort: str | None,
) -> dict[str, Any]:
    """UIModelGrid::fetch over prepared rows: sort, ``searchPhrase``, ``rowCount``, ``current``."""
    sort_by = [sort] if sort else []
    descending = False
    requested = params.get("sort")
    if isinstance(requested, dict) and requested:
        sort_by = list(requested)
        descending = requested[sort_by[0]] == "desc"
    if sort_by:
        rows = sorted(rows, key=lambda r: _natural(str(r.get(sort_by[0], ""))), reverse=descending)
    per_page = _int_param(params.get("rowCount"), -1)
    page = _int_param(params.get("current"), 1)
    tokens = [t for t in str(params.get("searchPhrase") or "").split(" ") if t]
    # the model's fields; the uuid only when a token is one (searchBase)
    fields = [k for k in rows[0] if not k.startswith("%") and k != "uuid"] if rows else []
    if any(_UUID.match(token) for token in tokens):
        fields.append("uuid")
    result: list[dict[str, Any]] = []
    index = 0
    for candidate in rows:
        if not all(_row_has(candidate, fields, token) for token in tokens):
            continue
        in_page = len(result) < per_page and index >= per_page * (page - 1)
        if in_page or per_page == -1:
            result.append(candidate)
        index += 1
    return {"rows": result, "rowCount": len(result), "total": index, "current": page}


def _row_has(candidate: Mapping[str, Any], fields: list[str], token: str) -> bool:
    for name in fields:
        item = candidate.get("%" + name, candidate.get(name, ""))
        if item and token.lower() in str(item).lower():
            return True
    return False


def _int_param(value: Any, default: int) -> int:
    """Phalcon's ``get(name, 'int', default)``: digits kept, anything else the default."""
    if value is None or value == "":
        return default
    digits = re.sub(r"[^0-9+-]", "", str(value))
    try:
        return int(digits)
    except ValueError:
        return default
