"""Core controllers: ``core/firmware`` (status, info) and ``core/backup`` (BackupController:
providers, backups, download, revertBackup; a revert restores the configuration, not the
running services).
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from homelab_sim.opnsense import wire
from homelab_sim.opnsense.crud import Call, Route, key
from homelab_sim.opnsense.state import to_xml

if TYPE_CHECKING:
    from homelab_sim.opnsense.simulator import OpnsenseSimulator


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


def routes() -> dict[str, Route]:
    return {
        key("core", "firmware", "status"): Route(firmware_status),
        key("core", "firmware", "info"): Route(firmware_info),
        key("core", "backup", "providers"): Route(backup_providers),
        key("core", "backup", "backups"): Route(backup_list, required=1),
        key("core", "backup", "download"): Route(backup_download, required=1),
        key("core", "backup", "revertBackup"): Route(backup_revert, required=1),
    }
