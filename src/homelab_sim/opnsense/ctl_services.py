"""Service controllers: Unbound host overrides, Dnsmasq hosts, Kea reservations and subnets,
each with its service ``reconfigure``; the ISC plugin has a status and no reservation API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homelab_sim.opnsense import models
from homelab_sim.opnsense.crud import ITEMS, Call, Route, crud, key, register, service

if TYPE_CHECKING:
    from homelab_sim.opnsense.simulator import OpnsenseSimulator


def _interfaces(sim: OpnsenseSimulator, selected: set[str]) -> dict[str, Any]:
    labels = sim.context("interface").interfaces
    return {
        name: {"value": label, "selected": int(name in selected)} for name, label in labels.items()
    }


def dnsmasq_get(sim: OpnsenseSimulator, call: Call) -> Any:
    """The parts of the Dnsmasq model a client reads to tell whether it serves DHCP: the
    service switch, its DHCP ranges (a range on LAN when it is the DHCP server) and hosts."""
    active = sim.dhcp == "dnsmasq"
    ranges = {}
    lan = sim.interfaces(configured=True).get("lan")
    if active and lan is not None:
        hosts = list(lan.network.hosts())
        ranges["6d1b7a8e-0f4e-4a4f-9b55-2f1f7d0c0a01"] = {
            "interface": _interfaces(sim, {"lan"}),
            "start_addr": str(hosts[min(99, len(hosts) - 1)]),
            "end_addr": str(hosts[min(198, len(hosts) - 1)]),
        }
    table = sim.state.configured["dnsmasq"]
    ctx = sim.context("dnsmasq")
    return {
        "dnsmasq": {
            "enable": "1" if active else "0",
            "interface": _interfaces(sim, {"lan"} if active else set()),
            "dhcp": {"fqdn": "1", "domain": "", "%domain": sim.state.domain},
            "hosts": {uuid: models.get(table, uuid, ctx)["host"] for uuid, _ in table.items()},
            "dhcp_ranges": ranges,
        }
    }


def kea_get(sim: OpnsenseSimulator, call: Call) -> Any:
    """Dhcpv4Controller::getAction: ``general``, ``lexpire`` and ``ha`` only."""
    active = sim.dhcp == "kea"
    return {
        "dhcpv4": {
            "general": {
                "enabled": "1" if active else "0",
                "interfaces": _interfaces(sim, {"lan"} if active else set()),
                "valid_lifetime": "4000",
                "fwrules": "1",
            },
            "lexpire": {"flush_reclaimed_timer_wait_time": "", "hold_reclaimed_time": ""},
            "ha": {"enabled": "0", "this_server_name": "", "%this_server_name": sim.state.hostname},
        }
    }


def isc_status(sim: OpnsenseSimulator, call: Call) -> Any:
    return {"status": "running"}


def isc_leases(sim: OpnsenseSimulator, call: Call) -> Any:
    """The ISC plugin's leases (none are simulated): its API has leases and the service only."""
    return {"total": 0, "rowCount": 0, "current": 1, "rows": [], "interfaces": {}}


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
    table[key("dhcpv4", "leases", "searchLease")] = Route(isc_leases, 0, _isc)
    isc = service("dhcpv4/service").handler
    table[key("dhcpv4", "service", "reconfigure")] = Route(isc, 0, _isc)
    return table
