"""Firewall controllers: ``firewall/alias`` and ``firewall/filter`` (AliasController,
FilterController, FilterBaseController; the savepoint actions only up to 26.1).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from homelab_sim.opnsense import aliases, models, rules, wire
from homelab_sim.opnsense.crud import ITEMS, Call, Route, crud, key, register, save

if TYPE_CHECKING:
    from homelab_sim.opnsense.simulator import OpnsenseSimulator


def _alias_rows(sim: OpnsenseSimulator, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for record in rows:
        record["categories_uuid"] = []
    return rows


def alias_get(sim: OpnsenseSimulator, call: Call) -> Any:
    target = sim.state.configured["alias"]
    uuid = call.param(0)
    response = models.get(target, uuid, sim.context("alias"))
    if not isinstance(response, dict):
        return response
    record = target.rows.get(uuid or "") or target.new_record()
    content: dict[str, dict[str, Any]] = {
        item: {"value": item, "selected": 1} for item in record.get("content", "").split("\n")
    }
    for _, alias in target.items():
        entry = content.setdefault(alias["name"], {"selected": 0, "value": alias["name"]})
        entry["description"] = alias.get("description", "")
    response["alias"]["content"] = content
    return response


def alias_set(sim: OpnsenseSimulator, call: Call) -> Any:
    posted = call.item("alias")
    uuid = call.param(0) or ""
    record = sim.state.configured["alias"].rows.get(uuid)
    if (
        record is not None
        and isinstance(posted, dict)
        and posted.get("name")
        and posted["name"] != record["name"]
    ):
        _refactor(sim, record["name"], str(posted["name"]))
    return ALIAS_CRUD["set"].handler(sim, call)


def _refactor(sim: OpnsenseSimulator, old: str, new: str) -> None:
    """Alias::refactor: a renamed alias is renamed where rules and aliases use it."""
    for _, rule in sim.state.configured["rule"].items():
        for name in aliases.RULE_ALIAS_FIELDS:
            rule[name] = ",".join(new if v == old else v for v in rule.get(name, "").split(","))
    for _, alias in sim.state.configured["alias"].items():
        alias["content"] = "\n".join(
            new if v == old else v for v in alias.get("content", "").split("\n")
        )


def alias_del(sim: OpnsenseSimulator, call: Call) -> Any:
    table = sim.state.configured["alias"]
    for uuid in (call.param(0) or "").split(","):
        record = table.rows.get(uuid)
        if record is not None:
            used = aliases.where_used(record["name"], table, sim.state.configured["rule"])
            if used:
                raise wire.UserError(aliases.in_use_message(record["name"], used), "Alias in use")
    return ALIAS_CRUD["del"].handler(sim, call)


def alias_uuid(sim: OpnsenseSimulator, call: Call) -> Any:
    for uuid, record in sim.state.configured["alias"].items():
        if record["name"] == call.param(0):
            return {"uuid": uuid}
    return []


def alias_reconfigure(sim: OpnsenseSimulator, call: Call) -> Any:
    if not call.is_post:
        return {"status": "failed"}
    sim.filter_reload(aliases=True)  # "filter reload skip_alias" + "filter refresh_aliases"
    sim.log.applies["firewall/alias"] += 1
    return {"status": "ok"}


def filter_apply(sim: OpnsenseSimulator, call: Call) -> Any:
    if not call.is_post:
        return {"status": "error"}
    revision = call.param(0) if sim.has_savepoint else None
    if revision:
        sim.start_rollback(re.sub(r"[^0-9.]", "", revision))
    sim.filter_reload(aliases=sim.has_savepoint)  # 26.7 reloads with skip_alias
    sim.log.applies["firewall/filter"] += 1
    sim.after_filter_apply()
    return {"status": FILTER_RELOAD}


def filter_savepoint(sim: OpnsenseSimulator, call: Call) -> Any:
    if not call.is_post:
        return {"status": "error"}
    revision = sim.state.save(
        sim.clock.now(), call.user or "root", "/api/firewall/filter/savepoint made changes"
    )
    return {"status": "ok", "retention": "60", "revision": revision.time}


def filter_cancel_rollback(sim: OpnsenseSimulator, call: Call) -> Any:
    if not call.is_post:
        return {"status": "error"}
    wanted = re.sub(r"[^0-9.]", "", call.param(0) or "")
    pending = [r for r in sim.rollbacks if r.revision == wanted and wanted]
    for found in pending:
        sim.rollbacks.remove(found)
    return {"status": "" if pending else "Execute error"}


def filter_revert(sim: OpnsenseSimulator, call: Call) -> Any:
    if not call.is_post:
        return {"status": "error"}
    if not sim.rollback_filter(re.sub(r"[^0-9.]", "", call.param(0) or "")):
        return {"status": "unknown (or removed) savepoint"}
    return {"status": "ok"}


ALIAS_CRUD = crud("alias", search_rows=_alias_rows)


def alias_search(sim: OpnsenseSimulator, call: Call) -> Any:
    """searchItem: ``type`` and ``category`` filter when given, as arrays (``type[]=host``);
    a plain string there is PHP's ``in_array`` TypeError."""
    params = call.request_params()
    wanted_types, wanted_categories = params.get("type"), params.get("category")
    for wanted in (wanted_types, wanted_categories):
        if wanted and not isinstance(wanted, (list, dict)):
            raise wire.UnexpectedError("in_array(): Argument #2 ($haystack) must be of type array")
    types = set(wanted_types.values() if isinstance(wanted_types, dict) else wanted_types or [])
    categories = set(
        wanted_categories.values()
        if isinstance(wanted_categories, dict)
        else wanted_categories or []
    )
    table = sim.state.configured["alias"]
    ctx = sim.context("alias")
    rows = [
        models.row(table, uuid, record, ctx)
        for uuid, record in table.items()
        if (not types or record.get("type") in types)
        and (not categories or categories & set(record.get("categories", "").split(",")))
    ]
    return models.search(_alias_rows(sim, rows), params, sort=table.spec.sort)


RULE_CRUD = crud("rule")


STEP = 50  # moveRuleBefore's renumbering step
GROUP_NAMES = {200000: "Floating", 400000: "Interface"}


def move_rule_before(sim: OpnsenseSimulator, call: Call) -> Any:
    """FilterController::moveRuleBefore: the selected rule takes a sequence just before the
    target, renumbering the target's priority group only where there is no gap."""
    if not call.is_post:
        return {"status": "error", "message": "Invalid request method"}
    table = sim.state.configured["rule"]
    selected_uuid, target_uuid = call.param(0) or "", call.param(1) or ""
    selected, target = table.rows.get(selected_uuid), table.rows.get(target_uuid)
    if selected is None or target is None:
        message = "Either source or destination is not a rule managed with this component"
        raise wire.UserError(message, "Filter")
    group = rules.priority(target)
    if rules.priority(selected) != group:
        moved, before = GROUP_NAMES[rules.priority(selected)], GROUP_NAMES[group]
        raise wire.UserError(f"Cannot move '{moved} Rule' before '{before} Rule'.", "Filter")
    if selected_uuid == target_uuid:
        raise wire.UserError("Cannot move to the same spot.", "Filter", level="warning")
    new_key: float | None = None
    previous: dict[str, str] | None = None
    for uuid, record in [(u, r) for u, r in rules.ordered(table) if rules.priority(r) == group]:
        if uuid == target_uuid:
            prev_sequence = float(previous["sequence"]) if previous else 1.0
            distance = float(record["sequence"]) - prev_sequence
            if distance > 2:
                new_key = distance // 2 + prev_sequence
                break
            new_key = 1.0 if previous is None else prev_sequence + STEP
            record["sequence"] = _text(new_key + STEP)
        elif (
            new_key is not None
            and previous is not None
            and float(record["sequence"]) < float(previous["sequence"])
        ):
            record["sequence"] = _text(float(previous["sequence"]) + STEP)
        previous = record
    if new_key is not None:
        selected["sequence"] = _text(new_key)
        save(sim, call.user)
    return {"status": "ok"}


def _text(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def rule_search(sim: OpnsenseSimulator, call: Call) -> Any:
    """searchRule: every rule without ``interface``, the floating view with an empty one, an
    interface's rules (floating ones included) otherwise; ``show_all`` only asks for rule
    statistics there (automatic and legacy rules are not modelled)."""
    params = call.request_params()
    asked = params.get("interface")
    interfaces = None if asked is None else [i for i in str(asked).split(",") if i]
    category = params.get("category")
    if category and not isinstance(category, (list, dict)):
        raise wire.UnexpectedError("array_intersect(): Argument #2 must be of type array")
    wanted = list(category.values() if isinstance(category, dict) else category or [])
    table = sim.state.configured["rule"]
    ctx = sim.context("rule")
    rows = [
        models.row(table, uuid, record, ctx)
        for uuid, record in rules.ordered(table)
        if rules.listed(record, interfaces)
        and (not wanted or set(wanted) & set(record.get("categories", "").split(",")))
    ]
    return models.search(rows, params, sort=None)


FILTER_RELOAD = "OK\n\n"  # configd's answer to a script action


def _savepoint(sim: OpnsenseSimulator) -> bool:
    return sim.has_savepoint


def routes() -> dict[str, Route]:
    table: dict[str, Route] = {}
    register(table, "firewall/alias", ALIAS_CRUD, ITEMS)
    table[key("firewall", "alias", "searchItem")] = Route(alias_search)
    table[key("firewall", "alias", "getItem")] = Route(alias_get)
    table[key("firewall", "alias", "setItem")] = Route(alias_set, required=1)
    table[key("firewall", "alias", "delItem")] = Route(alias_del, required=1)
    table[key("firewall", "alias", "getAliasUUID")] = Route(alias_uuid, required=1)
    table[key("firewall", "alias", "reconfigure")] = Route(alias_reconfigure)
    register(table, "firewall/filter", RULE_CRUD, {v: f"{v}Rule" for v in ITEMS})
    table[key("firewall", "filter", "searchRule")] = Route(rule_search)
    table[key("firewall", "filter", "moveRuleBefore")] = Route(move_rule_before, required=2)
    table[key("firewall", "filter", "apply")] = Route(filter_apply)
    table[key("firewall", "filter", "savepoint")] = Route(filter_savepoint, 0, _savepoint)
    table[key("firewall", "filter", "cancelRollback")] = Route(
        filter_cancel_rollback, 1, _savepoint
    )
    table[key("firewall", "filter", "revert")] = Route(filter_revert, 1, _savepoint)
    return table
