"""Interface controllers: ``interfaces/vlan_settings`` (VlanSettingsController) and the 26.7
``interfaces/assignment`` (AssignmentController; items keyed by interface name, opt1...).

Assignments as upstream keeps them (``NetworkInterface::serializeToConfig`` and the
controller): ``addItem`` names the new interface after the lowest free ``optN`` among those the
configuration holds (a deleted one stays taken until the reconfigure); a search row carries its
``identifier`` and the ``pending_action`` not yet applied (``update``, ``relink`` when the device
changed); ``delItem`` refuses an interface whose running configuration is locked;
``reconfigure`` applies the pending changes and removes the filter rules of a deleted interface
with it (``cleanRules``), then reloads the filter.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from homelab_sim.opnsense import models, wire
from homelab_sim.opnsense.crud import ITEMS, Call, Route, crud, key, merged, register, save

if TYPE_CHECKING:
    from homelab_sim.opnsense.simulator import OpnsenseSimulator


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
        save(sim, call.user)
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
        save(sim, call.user)
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
    names = set(target.rows) | set(sim.state.running["interface"].rows)
    number = 1
    while f"opt{number}" in names:
        number += 1
    key = f"opt{number}"
    posted = call.item("interface")
    result, changed = models.add(
        target, posted, sim.context("interface", merged(target, None, posted)), key=key
    )
    if changed:
        save(sim, call.user)
    return result


def _pending(sim: OpnsenseSimulator, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    running = sim.state.running["interface"].rows
    for record in rows:
        name = str(record["uuid"])
        now = running.get(name)
        record["identifier"] = name
        configured = {k: v for k, v in record.items() if not k.startswith("%") and k != "uuid"}
        if now is None:
            record["pending_action"] = "update"
        elif now.get("if") != record.get("if"):
            record["pending_action"] = "relink"
        elif any(now.get(k, "") != v for k, v in configured.items() if k not in _VIEW):
            record["pending_action"] = "update"
        else:
            record["pending_action"] = ""
    return rows


_VIEW = ("identifier", "pending_action")


def assignment_del(sim: OpnsenseSimulator, call: Call) -> Any:
    if not call.is_post:
        return {"status": "failed"}
    running = sim.state.running["interface"].rows
    for name in (call.param(0) or "").split(","):
        if running.get(name, {}).get("lock") == "1":
            raise wire.UserError("Interface locked, unset lock first before removal", "locked")
    return ASSIGNMENT_CRUD["del"].handler(sim, call)


def assignment_reconfigure(sim: OpnsenseSimulator, call: Call) -> Any:
    if not call.is_post:
        return {"status": "failed"}
    gone = set(sim.state.running["interface"].rows) - set(sim.state.configured["interface"].rows)
    sim.state.load("interface")
    rules = sim.state.configured["rule"]
    for uuid, record in list(rules.items()):  # cleanRules: a deleted interface's rules go
        names = [n for n in record.get("interface", "").split(",") if n]
        kept = [n for n in names if n not in gone]
        if kept == names:
            continue
        if kept:
            rules.rows[uuid] = {**record, "interface": ",".join(kept)}
        else:
            del rules.rows[uuid]
    if gone:
        save(sim, call.user)
    sim.filter_reload(aliases=False)
    sim.log.applies["interfaces/assignment"] += 1
    return {"status": "ok"}


VLAN_CRUD = crud("vlan", search_rows=_vlan_rows)
ASSIGNMENT_CRUD = crud("interface", search_rows=_pending)


def _assignment(sim: OpnsenseSimulator) -> bool:
    return sim.has_assignment_api


def routes() -> dict[str, Route]:
    table: dict[str, Route] = {}
    register(
        table,
        "interfaces/vlan_settings",
        VLAN_CRUD,
        {v: ITEMS[v] for v in ("search", "get", "del")},
    )
    table[key("interfaces", "vlan_settings", "addItem")] = Route(vlan_add)
    table[key("interfaces", "vlan_settings", "setItem")] = Route(vlan_set, required=1)
    table[key("interfaces", "vlan_settings", "delItem")] = Route(vlan_del, required=1)
    table[key("interfaces", "vlan_settings", "reconfigure")] = Route(vlan_reconfigure)
    assignment = {v: ITEMS[v] for v in ("search", "get", "set")}
    register(table, "interfaces/assignment", ASSIGNMENT_CRUD, assignment, _assignment)
    table[key("interfaces", "assignment", "addItem")] = Route(assignment_add, 0, _assignment)
    table[key("interfaces", "assignment", "delItem")] = Route(assignment_del, 1, _assignment)
    table[key("interfaces", "assignment", "reconfigure")] = Route(
        assignment_reconfigure, 0, _assignment
    )
    return table
