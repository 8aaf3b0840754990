"""The machinery of the API controllers: a call, a route, and the generic model actions.

``crud(table)`` gives the search/get/add/set/del/toggle actions of
``ApiMutableModelControllerBase`` over one table; ``service`` a ``reconfigure`` that loads
tables into the running state and counts the apply in the request log. ``key`` normalises a
route as PHP's router does (no underscores, any case).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homelab_sim.opnsense import models

if TYPE_CHECKING:
    from homelab_sim.opnsense.simulator import OpnsenseSimulator

ITEMS = {v: f"{v}Item" for v in ("search", "get", "add", "set", "del", "toggle")}


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


def key(*parts: str) -> str:
    return "/".join(p.replace("_", "").lower() for p in parts)


def save(sim: OpnsenseSimulator, user: str) -> None:
    sim.state.save(sim.clock.now(), user or "root", "/api endpoint made changes")


def crud(
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
            target, posted, sim.context(table, merged(target, None, posted))
        )
        if changed:
            save(sim, call.user)
        return result

    def set_(sim: OpnsenseSimulator, call: Call) -> Any:
        target = sim.state.configured[table]
        posted = call.item(target.spec.item)
        uuid = call.param(0) or ""
        result, changed = models.set_item(
            target, uuid, posted, sim.context(table, merged(target, uuid, posted))
        )
        if changed:
            save(sim, call.user)
        return result

    def delete(sim: OpnsenseSimulator, call: Call) -> Any:
        if not call.is_post:
            return {"result": "failed"}
        result, changed = models.delete(sim.state.configured[table], call.param(0) or "")
        if changed:
            save(sim, call.user)
        return result

    def toggle(sim: OpnsenseSimulator, call: Call) -> Any:
        if not call.is_post:
            return {"result": "failed"}
        result, changed = models.toggle(
            sim.state.configured[table], call.param(0) or "", call.param(1)
        )
        if changed:
            save(sim, call.user)
        return result

    return {
        "search": Route(search),
        "get": Route(get),
        "add": Route(add),
        "set": Route(set_, required=1),
        "del": Route(delete, required=1),
        "toggle": Route(toggle, required=1),
    }


def merged(target: models.Table, uuid: str | None, posted: Any) -> dict[str, str]:
    """The record as it will be validated (field checks that look at siblings need it)."""
    record = dict(target.rows.get(uuid or "") or target.new_record())
    if isinstance(posted, dict):
        for name, value in posted.items():
            if name in target.spec.fields:
                record[name] = target.spec.fields[name].coerce(value)
    return record


def register(
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
        routes[key(*prefix.split("/"), action)] = route


def service(module: str, *tables: str) -> Route:
    """A ``reconfigure``: the service reloads its tables (``{"status": "ok"}``)."""

    def reconfigure(sim: OpnsenseSimulator, call: Call) -> Any:
        if not call.is_post:
            return {"status": "failed"}
        sim.state.load(*tables)
        sim.log.applies[module] += 1
        return {"status": "ok"}

    return Route(reconfigure)
