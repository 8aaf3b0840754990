"""Service controllers: Unbound host overrides, Dnsmasq hosts, Kea reservations and subnets,
each with its service ``reconfigure``; the ISC plugin has a status and no reservation API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homelab_sim.opnsense.crud import ITEMS, Call, Route, crud, key, register, service

if TYPE_CHECKING:
    from homelab_sim.opnsense.simulator import OpnsenseSimulator


def dnsmasq_get(sim: OpnsenseSimulator, call: Call) -> Any:
    return {"dnsmasq": {"enable": "1", "dhcp": {"enable": "1" if sim.dhcp == "dnsmasq" else "0"}}}


def kea_get(sim: OpnsenseSimulator, call: Call) -> Any:
    return {"dhcpv4": {"general": {"enabled": "1" if sim.dhcp == "kea" else "0"}}}


def isc_status(sim: OpnsenseSimulator, call: Call) -> Any:
    return {"status": "running"}


UNBOUND_CRUD = crud("unbound")
DNSMASQ_CRUD = crud("dnsmasq")
KEA_CRUD = crud("kea")
SUBNET_CRUD = crud("kea_subnet")


def _isc(sim: OpnsenseSimulator) -> bool:
    return sim.dhcp == "isc"


def routes() -> dict[str, Route]:
    table: dict[str, Route] = {}
    no_toggle = [v for v in ITEMS if v != "toggle"]
    register(table, "unbound/settings", UNBOUND_CRUD, {v: f"{v}HostOverride" for v in ITEMS})
    table[key("unbound", "service", "reconfigure")] = service("unbound/service", "unbound")
    register(table, "dnsmasq/settings", DNSMASQ_CRUD, {v: f"{v}Host" for v in no_toggle})
    table[key("dnsmasq", "settings", "get")] = Route(dnsmasq_get)
    table[key("dnsmasq", "service", "reconfigure")] = service("dnsmasq/service", "dnsmasq")
    register(table, "kea/dhcpv4", KEA_CRUD, {v: f"{v}Reservation" for v in no_toggle})
    register(table, "kea/dhcpv4", SUBNET_CRUD, {v: f"{v}Subnet" for v in no_toggle})
    table[key("kea", "dhcpv4", "get")] = Route(kea_get)
    table[key("kea", "service", "reconfigure")] = service("kea/service", "kea", "kea_subnet")
    table[key("dhcpv4", "service", "status")] = Route(isc_status, 0, _isc)  # the ISC plugin
    return table
