"""Reading the firewall: version, DHCP server, and one search per module.

``read_inventory(client)`` costs one request for the version, one or two for the DHCP server
(Kea, then Dnsmasq; ISC only when neither runs), and one search per module (plus Kea's subnets
when Kea serves DHCP; interface assignments only from 26.7, which has their API): a no-op plan
reads nothing per object.
"""

from __future__ import annotations

from typing import Any

from homelab.core.network.assign import has_assignment_api
from homelab.core.network.objects import MODULES, Inventory, Module, Observed, owner_of
from homelab.engine.opnsense import modules
from homelab.engine.opnsense.client import OpnsenseClient
from homelab.engine.opnsense.errors import OpnsenseApiError, OpnsenseError


def read_version(client: OpnsenseClient) -> str:
    """The firmware's product version (e.g. 26.1.2) from core/firmware/status."""
    status = client.get(modules.FIRMWARE_STATUS)
    product = status.get("product") if isinstance(status, dict) else None
    version = product.get("product_version") if isinstance(product, dict) else None
    if not isinstance(version, str) or not version:
        raise OpnsenseError("core/firmware/status did not say the OPNsense version")
    return version


def _enabled(value: Any) -> bool:
    return str(value) == "1"


def read_dhcp(client: OpnsenseClient) -> str:
    """'kea', 'isc', 'dnsmasq' or 'none': the DHCPv4 server that runs.

    Kea when enabled; ISC when its plugin (os-isc-dhcp since 26.1) answers for its service
    and runs; else Dnsmasq when enabled (the default DHCP server since 26.1).
    """
    kea = client.get(modules.KEA_SETTINGS)
    general = kea.get("dhcpv4", {}).get("general", {}) if isinstance(kea, dict) else {}
    if isinstance(general, dict) and _enabled(general.get("enabled")):
        return "kea"
    try:
        isc = client.get(modules.ISC_STATUS)
    except OpnsenseApiError as exc:
        if exc.status != 404:
            raise
    else:
        if isinstance(isc, dict) and isc.get("status") == "running":
            return "isc"
    dnsmasq = client.get(modules.DNSMASQ_SETTINGS)
    settings = dnsmasq.get("dnsmasq", {}) if isinstance(dnsmasq, dict) else {}
    if isinstance(settings, dict) and _enabled(settings.get("enable")):
        return "dnsmasq"
    return "none"


def _rows(reply: Any, path: str) -> list[dict[str, Any]]:
    rows = reply.get("rows") if isinstance(reply, dict) else None
    if not isinstance(rows, list):
        raise OpnsenseError(f"{path}: the search answer has no rows")
    return [row for row in rows if isinstance(row, dict)]


def _observed(module: Module, description: str, row: dict[str, Any]) -> Observed:
    fields = {key: str(value) for key, value in row.items() if isinstance(value, str | int)}
    return Observed(module, str(row.get("uuid", "")), fields, owner_of(fields.get(description, "")))


def read_module(client: OpnsenseClient, module: Module, dhcp: str) -> list[Observed]:
    """One search. Rules: searchRule without ``interface`` lists every rule (FilterController,
    26.1 and later), so a lab rule left on an interface the spec no longer routes is seen too.
    """
    api = modules.api_of(module, dhcp)
    if api is None:
        return []
    path = api.path("search")
    reply = client.get(path, None)
    return [_observed(module, api.description, row) for row in _rows(reply, path)]


def read_kea_subnets(client: OpnsenseClient) -> dict[str, str]:
    rows = _rows(client.get(modules.KEA_SUBNETS), modules.KEA_SUBNETS)
    return {str(row.get("subnet", "")): str(row.get("uuid", "")) for row in rows}


def read_inventory(client: OpnsenseClient) -> Inventory:
    """Everything the plan compares: one search per module."""
    version = read_version(client)
    dhcp = read_dhcp(client)
    objects = {
        module: read_module(client, module, dhcp)
        for module in MODULES
        if module != "assign" or has_assignment_api(version)
    }
    subnets = read_kea_subnets(client) if dhcp == "kea" else {}
    return Inventory(version, dhcp, objects, subnets)
