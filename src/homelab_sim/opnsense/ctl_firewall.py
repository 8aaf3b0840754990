"""Firewall controllers: ``firewall/alias`` and ``firewall/filter`` (AliasController,
FilterController, FilterBaseController; the savepoint actions only up to 26.1).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from homelab_sim.opnsense import aliases, models, rules, wire
from homelab_sim.opnsense.crud import ITEMS, Call, Route, crud, key, register

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
RULE_CRUD = crud("rule")


def rule_search(sim: OpnsenseSimulator, call: Call) -> Any:
    """searchRule: without ``interface`` only floating rules; ``show_all`` adds floating ones
    to an interface's (automatic and legacy rules are not modelled)."""
    params = call.request_params()
    interfaces = [i for i in str(params.get("interface") or "").split(",") if i]
    show_all = params.get("show_all") not in (None, "", "0", 0, False)
    wanted = [c for c in str(params.get("category") or "").split(",") if c]
    table = sim.state.configured["rule"]
    ctx = sim.context("rule")
    rows = [
        models.row(table, uuid, record, ctx)
        for uuid, record in rules.ordered(table)
        if rules.listed(record, interfaces, show_all)
        and (not wanted or set(wanted) & set(record.get("categories", "").split(",")))
    ]
    return models.search(rows, params, sort=None)


FILTER_RELOAD = "OK\n\n"  # configd's answer to a script action


def _savepoint(sim: OpnsenseSimulator) -> bool:
    return sim.has_savepoint


def routes() -> dict[str, Route]:
    table: dict[str, Route] = {}
    register(table, "firewall/alias", ALIAS_CRUD, ITEMS)
    table[key("firewall", "alias", "getItem")] = Route(alias_get)
    table[key("firewall", "alias", "setItem")] = Route(alias_set, required=1)
    table[key("firewall", "alias", "delItem")] = Route(alias_del, required=1)
    table[key("firewall", "alias", "getAliasUUID")] = Route(alias_uuid, required=1)
    table[key("firewall", "alias", "reconfigure")] = Route(alias_reconfigure)
    register(table, "firewall/filter", RULE_CRUD, {v: f"{v}Rule" for v in ITEMS})
    table[key("firewall", "filter", "searchRule")] = Route(rule_search)
    table[key("firewall", "filter", "apply")] = Route(filter_apply)
    table[key("firewall", "filter", "savepoint")] = Route(filter_savepoint, 0, _savepoint)
    table[key("firewall", "filter", "cancelRollback")] = Route(
        filter_cancel_rollback, 1, _savepoint
    )
    table[key("firewall", "filter", "revert")] = Route(filter_revert, 1, _savepoint)
    return table
