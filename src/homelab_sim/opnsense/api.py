"""The API controllers: ``/api/<module>/<controller>/<action>/<params...>`` to a handler.

Routing is the MVC router's: names are matched without underscores and without case (PHP
class and method names), extra path parts are parameters, too few required parameters or an
unknown action is 404 ``Endpoint not found`` (before authentication, as the dispatcher
resolves first). Each handler mirrors its upstream controller action; what a version lacks
is absent (the 26.1 filter savepoint actions, the 26.7 assignment controller), and on 26.7
``apply/<rev>`` is a plain apply (PHP ignores the extra argument).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homelab_sim.opnsense import aliases, models, wire
from homelab_sim.opnsense.state import to_xml

if TYPE_CHECKING:
    from homelab_sim.opnsense.simulator import OpnsenseSimulator

FILTER_RELOAD = "OK\n\n"  # configd's answer to a script action


@dataclass(frozen=True)
class Call:
    method: str
    post: dict[str, Any]
    query: dict[str, Any]
    params: list[str]
    user: str

    @property
    def is_post(self) -> bool:
        return self.method == "POST"

    def param(self, index: int) -> str | None:
        return self.params[index] if len(self.params) > index else None

    def item(self, name: str) -> Any:
        """``$_POST[name]`` when this is a POST that carries it, else None (add/set fail)."""
        return self.post.get(name) if self.is_post and name in self.post else None

    def request_params(self) -> dict[str, Any]:
        """``$_REQUEST``: query and post together."""
        return {**self.query, **self.post}


Handler = Callable[["OpnsenseSimulator", Call], Any]


@dataclass(frozen=True)
class Route:
    handler: Handler
    required: int = 0
    available: Callable[[OpnsenseSimulator], bool] = lambda sim: True


def _key(*parts: str) -> str:
    return "/".join(p.replace("_", "").lower() for p in parts)


def resolve(sim: OpnsenseSimulator, path: str) -> tuple[Route, list[str]]:
    parts = [urllib.parse.unquote(p) for p in path.split("?", 1)[0].split("/") if p]
    if len(parts) < 4 or parts[0] != "api":
        raise wire.EndpointNotFound(path)
    route = ROUTES.get(_key(*parts[1:4]))
    if route is None or not route.available(sim) or len(parts) - 4 < route.required:
        raise wire.EndpointNotFound(path)
    return route, parts[4:]


# -- generic CRUD -------------------------------------------------------------------------


def _save(sim: OpnsenseSimulator, user: str) -> None:
    sim.state.save(sim.clock.now(), user or "root", "/api endpoint made changes")


def _crud(
    table: str,
    *,
    search_rows: Callable[[OpnsenseSimulator, list[dict[str, Any]]], list[dict[str, Any]]]
    | None = None,
) -> dict[str, Route]:
    """search/get/add/set/del/toggle handlers over one table."""

    def search(sim: OpnsenseSimulator, call: Call) -> Any:
        target = sim.state.configured[table]
        ctx = sim.context(table)
        rows = [models.row(target, uuid, record, ctx) for uuid, record in target.items()]
        if search_rows is not None:
            rows = search_rows(sim, rows)
        return models.search(rows, call.request_params(), sort=target.spec.sort)

    def get(sim: OpnsenseSimulator, call: Call) -> Any:
        target = sim.state.configured[table]
        uuid = call.param(0)
        record = target.rows.get(uuid or "") or target.new_record()
        return models.get(target, uuid, sim.context(table, record))

    def add(sim: OpnsenseSimulator, call: Call) -> Any:
        target = sim.state.configured[table]
        posted = call.item(target.spec.item)
        result, changed = models.add(
            target, posted, sim.context(table, _merged(target, None, posted))
        )
        if changed:
            _save(sim, call.user)
        return result

    def set_(sim: OpnsenseSimulator, call: Call) -> Any:
        target = sim.state.configured[table]
        posted = call.item(target.spec.item)
        uuid = call.param(0) or ""
        result, changed = models.set_item(
            target, uuid, posted, sim.context(table, _merged(target, uuid, posted))
        )
        if changed:
            _save(sim, call.user)
        return result

    def delete(sim: OpnsenseSimulator, call: Call) -> Any:
        if not call.is_post:
            return {"result": "failed"}
        result, changed = models.delete(sim.state.configured[table], call.param(0) or "")
        if changed:
            _save(sim, call.user)
        return result

    def toggle(sim: OpnsenseSimulator, call: Call) -> Any:
        if not call.is_post:
            return {"result": "failed"}
        result, changed = models.toggle(
            sim.state.configured[table], call.param(0) or "", call.param(1)
        )
        if changed:
            _save(sim, call.user)
        return result

    return {
        "search": Route(search),
        "get": Route(get),
        "add": Route(add),
        "set": Route(set_, required=1),
        "del": Route(delete, required=1),
        "toggle": Route(toggle, required=1),
    }


def _merged(target: models.Table, uuid: str | None, posted: Any) -> dict[str, str]:
    """The record as it will be validated (field checks that look at siblings need it)."""
    record = dict(target.rows.get(uuid or "") or target.new_record())
    if isinstance(posted, dict):
        for name, value in posted.items():
            if name in target.spec.fields:
                record[name] = target.spec.fields[name].coerce(value)
    return record


def _register(
    routes: dict[str, Route],
    prefix: str,
    crud: dict[str, Route],
    names: dict[str, str],
    available: Callable[[OpnsenseSimulator], bool] | None = None,
) -> None:
    for verb, action in names.items():
        route = crud[verb]
        if available is not None:
            route = Route(route.handler, route.required, available)
        routes[_key(*prefix.split("/"), action)] = route


def _service(module: str, *tables: str) -> Route:
    """A ``reconfigure``: the service reloads its tables (``{"status": "ok"}``)."""

    def reconfigure(sim: OpnsenseSimulator, call: Call) -> Any:
        if not call.is_post:
            return {"status": "failed"}
        sim.state.load(*tables)
        sim.log.applies[module] += 1
        return {"status": "ok"}

    return Route(reconfigure)


# -- firewall ------------------------------------------------------------------------------


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


# -- interfaces ----------------------------------------------------------------------------


def _vlan_name(sim: OpnsenseSimulator, parent: str, current: dict[str, str] | None) -> str:
    """VlanSettingsController::generateVlanIfName: vlan0<n> (qinq0<n> on a VLAN parent)."""
    vlans = sim.state.configured["vlan"]
    is_vlan_parent = any(r.get("vlanif") == parent for _, r in vlans.items())
    prefix = "qinq" if is_vlan_parent else "vlan"
    if (
        current is not None
        and "_vlan" not in current.get("vlanif", "")
        and current.get("vlanif", "").startswith(prefix)
    ):
        return current["vlanif"]
    numbers = [
        int(r["vlanif"][len(prefix) :])
        for _, r in vlans.items()
        if re.fullmatch(prefix + r"\d+", r.get("vlanif", ""))
    ]
    return f"{prefix}0{max(numbers, default=0) + 1}"


def _assigned(sim: OpnsenseSimulator, device: str) -> str | None:
    for name, record in sim.state.configured["interface"].items():
        if record.get("if") == device:
            return name
    return None


def vlan_add(sim: OpnsenseSimulator, call: Call) -> Any:
    posted = call.item("vlan")
    parent = str(posted.get("if", "")) if isinstance(posted, dict) else ""
    target = sim.state.configured["vlan"]
    overlay = {"vlanif": _vlan_name(sim, parent, None)}
    result, changed = models.add(target, posted, sim.context("vlan"), overlay=overlay)
    if changed:
        _save(sim, call.user)
    return result


def vlan_set(sim: OpnsenseSimulator, call: Call) -> Any:
    target = sim.state.configured["vlan"]
    uuid = call.param(0) or ""
    posted = call.item("vlan")
    current = target.rows.get(uuid)
    parent = (
        str(posted.get("if", "")) if isinstance(posted, dict) else (current or {}).get("if", "")
    )
    new_name = _vlan_name(sim, parent, current)
    if current is not None and current["vlanif"] != new_name and _assigned(sim, current["vlanif"]):
        if isinstance(posted, dict) and str(posted.get("tag", "")) != current.get("tag"):
            return {
                "result": "failed",
                "validations": {
                    "vlan.tag": (
                        "Interface is assigned and you cannot change the VLAN tag while assigned."
                    )
                },
            }
        return {
            "result": "failed",
            "validations": {
                "vlan.vlanif": (
                    "Interface is assigned and you cannot change the device name while assigned."
                )
            },
        }
    result, changed = models.set_item(
        target, uuid, posted, sim.context("vlan"), overlay={"vlanif": new_name}
    )
    if changed:
        _save(sim, call.user)
    return result


def vlan_del(sim: OpnsenseSimulator, call: Call) -> Any:
    target = sim.state.configured["vlan"]
    for uuid in (call.param(0) or "").split(","):
        record = target.rows.get(uuid)
        if record is None:
            continue
        if any(r.get("if") == record["vlanif"] for _, r in target.items()):
            raise wire.UserError(
                "This VLAN cannot be deleted because it is used in QinQ interfaces."
            )
        if _assigned(sim, record["vlanif"]):
            raise wire.UserError(
                "This VLAN cannot be deleted because it is assigned as an interface."
            )
    return VLAN_CRUD["del"].handler(sim, call)


def _vlan_rows(sim: OpnsenseSimulator, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for record in rows:
        name = _assigned(sim, record["vlanif"])
        if name is not None:
            descr = sim.state.configured["interface"].rows[name].get("descr") or name.upper()
            record["vlanif"] = f"{record['vlanif']} [{descr}]"
    return rows


def vlan_reconfigure(sim: OpnsenseSimulator, call: Call) -> Any:
    if not call.is_post:
        return {"status": "failed"}
    sim.state.load("vlan")
    sim.log.applies["interfaces/vlan_settings"] += 1
    return {"status": "ok"}


def assignment_add(sim: OpnsenseSimulator, call: Call) -> Any:
    target = sim.state.configured["interface"]
    taken = [int(n[3:]) for n in target.rows if re.fullmatch(r"opt\d+", n)]
    key = f"opt{max(taken, default=0) + 1}"
    posted = call.item("interface")
    result, changed = models.add(
        target, posted, sim.context("interface", _merged(target, None, posted)), key=key
    )
    if changed:
        _save(sim, call.user)
    return result


# -- firmware, backups, services' settings --------------------------------------------------


def firmware_status(sim: OpnsenseSimulator, call: Call) -> Any:
    return {
        "product": _product(sim),
        "status_msg": (
            "Firmware status requires to check for update first to provide more information."
        ),
        "status": "none",
    }


def firmware_info(sim: OpnsenseSimulator, call: Call) -> Any:
    return {
        "product_id": "opnsense",
        "product_version": sim.version,
        "package": [],
        "plugin": [],
        "changelog": [],
        "product": _product(sim),
    }


def _product(sim: OpnsenseSimulator) -> dict[str, Any]:
    series = f"{sim.series[0]}.{sim.series[1]}"
    return {
        "product_abi": series,
        "product_arch": "amd64",
        "product_id": "opnsense",
        "product_name": "OPNsense",
        "product_series": series,
        "product_version": sim.version,
        "product_latest": sim.version,
        "product_check": None,
    }


def backup_providers(sim: OpnsenseSimulator, call: Call) -> Any:
    return {"items": {"this": {"description": "This Firewall", "dirname": "/conf/backup"}}}


def backup_list(sim: OpnsenseSimulator, call: Call) -> Any:
    if call.param(0) != "this":
        return {"items": []}
    items = [
        {
            "time": r.time,
            "time_iso": r.time,
            "description": r.description,
            "username": r.username,
            "filesize": len(to_xml(sim.state, r)),
            "id": r.filename,
        }
        for r in sim.state.revisions
    ]
    return {"items": sorted(items, key=lambda i: float(i["time"]), reverse=True)}


def backup_download(sim: OpnsenseSimulator, call: Call) -> Any:
    if call.param(0) != "this":
        return wire.raw(200, b"", [])
    wanted = call.param(1)
    for revision in reversed(sim.state.revisions):
        if not wanted or wanted == revision.filename:
            body = to_xml(sim.state, revision)
            name = urllib.parse.quote_plus(
                f"config-{sim.state.hostname}.{sim.state.domain}-{revision.time}.xml"
            )
            headers = [
                ("content-type", "application/octet-stream"),
                ("content-disposition", f"attachment; filename={name}"),
                ("pragma", "no-cache"),
                ("expires", "0"),
            ]
            return wire.raw(200, body, headers)
    return wire.raw(200, b"", [])


def backup_revert(sim: OpnsenseSimulator, call: Call) -> Any:
    if not call.is_post:
        return {"status": "failed"}
    for revision in sim.state.revisions:
        if revision.filename == call.param(0):
            sim.state.configured = {name: table.copy() for name, table in revision.snapshot.items()}
            sim.state.save(sim.clock.now(), call.user or "root", f"reverted to {revision.filename}")
            return {"status": "reverted"}
    return {"status": "not_found"}


def dnsmasq_get(sim: OpnsenseSimulator, call: Call) -> Any:
    return {"dnsmasq": {"enable": "1", "dhcp": {"enable": "1" if sim.dhcp == "dnsmasq" else "0"}}}


def kea_get(sim: OpnsenseSimulator, call: Call) -> Any:
    return {"dhcpv4": {"general": {"enabled": "1" if sim.dhcp == "kea" else "0"}}}


def isc_status(sim: OpnsenseSimulator, call: Call) -> Any:
    return {"status": "running"}


ALIAS_CRUD = _crud("alias", search_rows=_alias_rows)
RULE_CRUD = _crud("rule")
VLAN_CRUD = _crud("vlan", search_rows=_vlan_rows)
ASSIGNMENT_CRUD = _crud("interface")
UNBOUND_CRUD = _crud("unbound")
DNSMASQ_CRUD = _crud("dnsmasq")
KEA_CRUD = _crud("kea")
SUBNET_CRUD = _crud("kea_subnet")


def _savepoint(sim: OpnsenseSimulator) -> bool:
    return sim.has_savepoint


def _assignment(sim: OpnsenseSimulator) -> bool:
    return sim.has_assignment_api


def _isc(sim: OpnsenseSimulator) -> bool:
    return sim.dhcp == "isc"


def _routes() -> dict[str, Route]:
    routes: dict[str, Route] = {}
    items = {v: f"{v}Item" for v in ("search", "get", "add", "set", "del", "toggle")}
    _register(routes, "firewall/alias", ALIAS_CRUD, items)
    routes[_key("firewall", "alias", "getItem")] = Route(alias_get)
    routes[_key("firewall", "alias", "setItem")] = Route(alias_set, required=1)
    routes[_key("firewall", "alias", "delItem")] = Route(alias_del, required=1)
    routes[_key("firewall", "alias", "getAliasUUID")] = Route(alias_uuid, required=1)
    routes[_key("firewall", "alias", "reconfigure")] = Route(alias_reconfigure)
    _register(routes, "firewall/filter", RULE_CRUD, {v: f"{v}Rule" for v in items})
    routes[_key("firewall", "filter", "apply")] = Route(filter_apply)
    routes[_key("firewall", "filter", "savepoint")] = Route(filter_savepoint, 0, _savepoint)
    routes[_key("firewall", "filter", "cancelRollback")] = Route(
        filter_cancel_rollback, 1, _savepoint
    )
    routes[_key("firewall", "filter", "revert")] = Route(filter_revert, 1, _savepoint)
    _register(
        routes,
        "interfaces/vlan_settings",
        VLAN_CRUD,
        {v: items[v] for v in ("search", "get", "del")},
    )
    routes[_key("interfaces", "vlan_settings", "addItem")] = Route(vlan_add)
    routes[_key("interfaces", "vlan_settings", "setItem")] = Route(vlan_set, required=1)
    routes[_key("interfaces", "vlan_settings", "delItem")] = Route(vlan_del, required=1)
    routes[_key("interfaces", "vlan_settings", "reconfigure")] = Route(vlan_reconfigure)
    _register(
        routes,
        "interfaces/assignment",
        ASSIGNMENT_CRUD,
        {v: items[v] for v in ("search", "get", "set", "del")},
        _assignment,
    )
    routes[_key("interfaces", "assignment", "addItem")] = Route(assignment_add, 0, _assignment)
    routes[_key("interfaces", "assignment", "reconfigure")] = Route(
        _service("interfaces/assignment", "interface").handler, 0, _assignment
    )
    _register(routes, "unbound/settings", UNBOUND_CRUD, {v: f"{v}HostOverride" for v in items})
    routes[_key("unbound", "service", "reconfigure")] = _service("unbound/service", "unbound")
    _register(
        routes, "dnsmasq/settings", DNSMASQ_CRUD, {v: f"{v}Host" for v in items if v != "toggle"}
    )
    routes[_key("dnsmasq", "settings", "get")] = Route(dnsmasq_get)
    routes[_key("dnsmasq", "service", "reconfigure")] = _service("dnsmasq/service", "dnsmasq")
    _register(
        routes, "kea/dhcpv4", KEA_CRUD, {v: f"{v}Reservation" for v in items if v != "toggle"}
    )
    _register(routes, "kea/dhcpv4", SUBNET_CRUD, {v: f"{v}Subnet" for v in items if v != "toggle"})
    routes[_key("kea", "dhcpv4", "get")] = Route(kea_get)
    routes[_key("kea", "service", "reconfigure")] = _service("kea/service", "kea", "kea_subnet")
    routes[_key("dhcpv4", "service", "status")] = Route(isc_status, 0, _isc)
    routes[_key("core", "firmware", "status")] = Route(firmware_status)
    routes[_key("core", "firmware", "info")] = Route(firmware_info)
    routes[_key("core", "backup", "providers")] = Route(backup_providers)
    routes[_key("core", "backup", "backups")] = Route(backup_list, required=1)
    routes[_key("core", "backup", "download")] = Route(backup_download, required=1)
    routes[_key("core", "backup", "revertBackup")] = Route(backup_revert, required=1)
    return routes


ROUTES = _routes()
