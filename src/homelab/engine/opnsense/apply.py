"""Carrying out a firewall plan: writes per module, one apply/reconfigure each, lockout-safe.

Order: VLANs; interface assignments (26.7: a new VLAN's device name is read back once, as
OPNsense names it; a VLAN still assigned by an assignment being removed is deleted after the
assignment reconfigure, with a second VLAN reconfigure); then the filter: aliases created or
changed, rules, aliases deleted (a rule may still use them until then), one alias reconfigure,
one filter apply; then Unbound host overrides and DHCP reservations, each with its one
reconfigure.

The filter apply is guarded. On 26.1: ``savepoint`` gives a revision, ``apply/<rev>`` starts
OPNsense's 60 s timer that restores the rules unless ``cancelRollback/<rev>`` comes; homelab
cancels only after a probe over a fresh connection answered. On 26.7 (savepoints removed):
the configuration is downloaded first (``core/backup/download/this``, its history id kept); when
the probe fails, homelab reverts to that id (``revertBackup``) and applies the filter again; if
even that cannot reach the firewall, the downloaded file is written (mode 0600) for a console
restore (docs/opnsense.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from homelab.core.network.assign import new_device
from homelab.core.network.objects import Inventory, Module, Observed
from homelab.core.network.plan import NetChange, NetPlan
from homelab.engine.opnsense import modules
from homelab.engine.opnsense.client import OpnsenseClient
from homelab.engine.opnsense.errors import (
    FirewallRolledBack,
    FirewallUnreachable,
    OpnsenseError,
    OpnsenseValidationError,
)

Sleep = Callable[[float], None]
ROLLBACK_WAIT = 65.0  # OPNsense's rollback timer is 60 s (26.1 rollback_timer.php)
PROBE_TRIES = 3
PROBE_PAUSE = 5.0
RESTORE_TRIES = 12


@dataclass
class ApplyReport:
    """What an apply did: writes and applies per module, and how the filter was guarded."""

    writes: dict[str, int] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    guard: str = ""


@dataclass(frozen=True)
class Guard:
    """The filter's way back: a 26.1 savepoint revision or a 26.7 backup id and its bytes."""

    mode: Literal["savepoint", "backup"]
    revision: str
    config: bytes = b""


def apply_plan(
    client: OpnsenseClient,
    plan: NetPlan,
    *,
    mode: Literal["savepoint", "backup"],
    dhcp: str,
    recovery_dir: Path,
    sleep: Sleep,
    inventory: Inventory | None = None,
) -> ApplyReport:
    """Carry out ``plan`` (already checked: no errors, lockout proven or forced); ``inventory``
    is what the plan was made from (which device each removed assignment holds)."""
    report = ApplyReport()
    later = _vlans_freed_by(plan, inventory)
    _module(client, plan, "vlan", dhcp, report, skip=later)
    _assignments(client, plan, report)
    if later:
        _module(client, plan, "vlan", dhcp, report, only=later)
    if any(change.module in ("alias", "rule") for change in plan.changes):
        _filter(client, plan, mode, recovery_dir, sleep, report)
    _module(client, plan, "host", dhcp, report)
    _module(client, plan, "dhcp", dhcp, report)
    return report


def _changes(plan: NetPlan, module: Module, ops: tuple[str, ...]) -> list[NetChange]:
    return [c for c in plan.changes if c.module == module and c.op in ops]


def _write(client: OpnsenseClient, change: NetChange, dhcp: str, report: ApplyReport) -> None:
    api = modules.api_of(change.module, dhcp)
    assert api is not None  # the plan has DHCP changes only with Dnsmasq or Kea
    report.writes[change.module] = report.writes.get(change.module, 0) + 1
    if change.op == "delete":
        client.post(api.path("del", change.uuid))
        return
    verb = "add" if change.op == "create" else "set"
    try:
        client.save(api.path(verb, change.uuid), api.item, change.fields)
    except OpnsenseValidationError as exc:
        exc.module, exc.label = change.module, change.label
        raise


def _reconfigure(client: OpnsenseClient, module: Module, dhcp: str, report: ApplyReport) -> None:
    api = modules.api_of(module, dhcp)
    assert api is not None
    client.post(api.apply)
    report.applied.append(module)


def _module(
    client: OpnsenseClient,
    plan: NetPlan,
    module: Module,
    dhcp: str,
    report: ApplyReport,
    *,
    skip: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
) -> None:
    changes = [
        c
        for c in _changes(plan, module, ("create", "update", "delete"))
        if c.uuid not in skip and (only is None or c.uuid in only)
    ]
    if not changes:
        return
    before = report.writes.get(module, 0)
    try:
        for change in changes:
            _write(client, change, dhcp, report)
    finally:
        if report.writes.get(module, 0) > before:  # what was written takes effect, even after
            _reconfigure(client, module, dhcp, report)  # a refusal


def _vlans_freed_by(plan: NetPlan, inventory: Inventory | None) -> frozenset[str]:
    """The VLANs to delete whose device an assignment removed in this plan still holds:
    OPNsense refuses to delete an assigned VLAN until the assignment reconfigure."""
    if inventory is None:
        return frozenset()
    gone = {c.uuid for c in _changes(plan, "assign", ("delete",))}
    devices = {a.fields.get("if", "") for a in inventory.of("assign") if a.uuid in gone}
    return frozenset(
        v.uuid
        for v in inventory.of("vlan")
        if v.fields.get("vlanif", "").split(" [")[0] in devices
        and any(c.uuid == v.uuid for c in _changes(plan, "vlan", ("delete",)))
    )


def _devices(client: OpnsenseClient, plan: NetPlan) -> dict[str, str]:
    """label -> device of the lab's VLANs, read once after the VLAN apply named new ones."""
    from homelab.engine.opnsense.observe import read_module

    found = {}
    vlans: list[Observed] = read_module(client, "vlan", "")
    for vlan in vlans:
        if vlan.owned_by(plan.lab) and vlan.owner is not None:
            found[new_device(vlan.owner[1])] = vlan.fields.get("vlanif", "").split(" [")[0]
    return found


def _assignments(client: OpnsenseClient, plan: NetPlan, report: ApplyReport) -> None:
    """Removals, changes, then creations in ascending optN (OPNsense names a new assignment
    after the lowest free optN); one reconfigure."""
    changes = _changes(plan, "assign", ("delete", "update", "create"))
    changes.sort(key=lambda c: ("delete", "update", "create").index(c.op))
    if not changes:
        return
    devices: dict[str, str] = {}
    if any(c.fields.get("if", "").startswith("<") for c in changes):
        devices = _devices(client, plan)
    try:
        for change in changes:
            device = change.fields.get("if", "")
            if device in devices:
                change = NetChange(
                    change.op,
                    change.module,
                    change.label,
                    {**change.fields, "if": devices[device]},
                    change.uuid,
                    change.changed,
                    change.summary,
                )
            elif device.startswith("<"):
                raise OpnsenseError(f"the firewall holds no lab VLAN for {change.label}")
            _write_assignment(client, change, report)
    finally:
        if report.writes.get("assign"):
            _reconfigure(client, "assign", "", report)


def _write_assignment(client: OpnsenseClient, change: NetChange, report: ApplyReport) -> None:
    api = modules.ASSIGN
    report.writes["assign"] = report.writes.get("assign", 0) + 1
    if change.op == "delete":
        client.post(api.path("del", change.uuid))
        return
    verb = "add" if change.op == "create" else "set"
    try:
        reply = client.save(
            api.path(verb, None if change.op == "create" else change.uuid), api.item, change.fields
        )
    except OpnsenseValidationError as exc:
        exc.module, exc.label = change.module, change.label
        raise
    if change.op == "create" and reply.get("uuid") != change.uuid:
        raise OpnsenseError(
            f"OPNsense assigned {change.label}'s VLAN as {reply.get('uuid')}, not "
            f"{change.uuid}: run homelab net plan to see what it holds",
            hint="assignments are named after the lowest free optN",
        )


def _filter(
    client: OpnsenseClient,
    plan: NetPlan,
    mode: Literal["savepoint", "backup"],
    recovery_dir: Path,
    sleep: Sleep,
    report: ApplyReport,
) -> None:
    guard = _prepare(client, mode)
    report.guard = f"{mode} {guard.revision}"
    try:
        for change in _changes(plan, "alias", ("create", "update")):
            _write(client, change, "", report)
        for change in _changes(plan, "rule", ("create", "update", "delete")):
            _write(client, change, "", report)
        for change in _changes(plan, "alias", ("delete",)):
            _write(client, change, "", report)
    finally:
        if report.writes.get("alias"):
            _reconfigure(client, "alias", "", report)
        if report.writes.get("rule") or report.writes.get("alias"):
            _guarded_apply(client, guard, recovery_dir, sleep, report)


def _prepare(client: OpnsenseClient, mode: Literal["savepoint", "backup"]) -> Guard:
    if mode == "savepoint":
        reply = client.post(modules.SAVEPOINT)
        revision = str(reply.get("revision", "")) if isinstance(reply, dict) else ""
        if not revision:
            raise OpnsenseError("firewall/filter/savepoint gave no revision: nothing applied")
        return Guard("savepoint", revision)
    listing = client.get(modules.BACKUPS)
    items = listing.get("items") if isinstance(listing, dict) else None
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        raise OpnsenseError("core/backup/backups/this lists no configuration: nothing applied")
    newest = str(items[0].get("id", ""))
    config = client.download(f"{modules.DOWNLOAD}/{newest}")
    if not config.lstrip().startswith(b"<?xml") and b"<opnsense" not in config[:200]:
        raise OpnsenseError(f"the download of {newest} is not a configuration: nothing applied")
    return Guard("backup", newest, config)


def _probe(client: OpnsenseClient, sleep: Sleep) -> bool:
    for attempt in range(PROBE_TRIES):
        if attempt:
            sleep(PROBE_PAUSE)
        if client.probe():
            return True
    return False


def _guarded_apply(
    client: OpnsenseClient, guard: Guard, recovery_dir: Path, sleep: Sleep, report: ApplyReport
) -> None:
    if guard.mode == "savepoint":
        client.post(f"{modules.RULE.apply}/{guard.revision}")
    else:
        client.post(modules.RULE.apply)
    report.applied.append("rule")
    if _probe(client, sleep):
        if guard.mode == "savepoint":
            client.post(f"{modules.CANCEL_ROLLBACK}/{guard.revision}")
        return
    if guard.mode == "savepoint":
        sleep(ROLLBACK_WAIT)  # no cancelRollback: OPNsense restores the rules by itself
        back = _probe(client, sleep)
        raise FirewallRolledBack(
            "the firewall did not answer after the rule apply; OPNsense rolled the rules back "
            f"to savepoint {guard.revision} after 60 s"
            + ("" if back else " (and it still does not answer: see docs/opnsense.md)"),
            hint="run homelab net plan to see what would change; docs/opnsense.md: console "
            "recovery",
        )
    _restore(client, guard, recovery_dir, sleep)


def _restore(client: OpnsenseClient, guard: Guard, recovery_dir: Path, sleep: Sleep) -> None:
    for attempt in range(RESTORE_TRIES):
        if attempt:
            sleep(PROBE_PAUSE)
        try:
            client.post(f"{modules.REVERT_BACKUP}/{guard.revision}")
            client.post(modules.ALIAS.apply)
            client.post(modules.RULE.apply)
        except OpnsenseError:
            continue
        raise FirewallRolledBack(
            "the firewall did not answer after the rule apply; homelab restored the "
            f"configuration it downloaded before ({guard.revision})",
            hint="run homelab net plan to see what would change",
        )
    saved = _keep(guard, recovery_dir)
    raise FirewallUnreachable(
        f"the firewall does not answer since the rule apply and the configuration could not "
        f"be restored; the one from before is saved in {saved}",
        hint="restore it from the console or GUI (docs/opnsense.md, 'Console recovery')",
    )


def _keep(guard: Guard, recovery_dir: Path) -> Path:
    recovery_dir.mkdir(parents=True, exist_ok=True)
    path = recovery_dir / Path(guard.revision).name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds password hashes
    with os.fdopen(fd, "wb") as out:
        out.write(guard.config)
    return path
