"""The reference lab's network through the API, end to end, on both versions and backends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from homelab_sim.opnsense import OpnsenseSimulator
from tests.sim.opnsense.support import Factory

MGMT, APPS = "lan", "opt1"


def post(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> Any:
    reply = client.post(path, json=body or {}).json()
    assert reply.get("result", "saved") == "saved", (path, reply)
    return reply


def build_lab(sim: OpnsenseSimulator, client: httpx.Client) -> None:
    aliases = [
        ("lab_k8s_api", "host", "10.0.10.10"),
        ("lab_mgmt_net", "network", "10.0.10.0/24"),
        ("lab_apps_net", "network", "10.0.20.0/24"),
        ("lab_lb_pool", "host", "10.0.20.200-10.0.20.220"),
        ("lab_dns_ntp", "port", "53\n123"),
        ("lab_admin", "port", "22\n6443"),
    ]
    for name, kind, content in aliases:
        body = {"alias": {"name": name, "type": kind, "content": content, "description": "homelab"}}
        post(client, "/api/firewall/alias/addItem", body)
    rules = [
        {
            "interface": MGMT,
            "protocol": "TCP",
            "source_net": "lab_mgmt_net",
            "destination_net": "lab_apps_net",
            "destination_port": "lab_admin",
        },
        {
            "interface": MGMT,
            "protocol": "TCP",
            "source_net": "lab_mgmt_net",
            "destination_net": "lab_lb_pool",
        },
        {
            "interface": APPS,
            "protocol": "TCP",
            "source_net": "lab_apps_net",
            "destination_net": "lab_k8s_api",
            "destination_port": "6443",
        },
        {
            "interface": APPS,
            "protocol": "TCP/UDP",
            "source_net": "lab_apps_net",
            "destination_net": "opt1ip",
            "destination_port": "lab_dns_ntp",
        },
        {
            "interface": APPS,
            "action": "block",
            "source_net": "lab_apps_net",
            "destination_net": "lab_mgmt_net",
            "log": "1",
        },
        {"interface": APPS, "source_net": "lab_apps_net"},
    ]
    for rule in rules:
        post(client, "/api/firewall/filter/addRule", {"rule": {**rule, "description": "homelab"}})
    host = {"hostname": "k8s-master-1", "domain": "lab.example", "server": "10.0.10.10"}
    post(client, "/api/unbound/settings/addHostOverride", {"host": host})
    if sim.dhcp == "dnsmasq":
        entry = {"host": "k8s-worker-2", "ip": "10.0.20.12", "hwaddr": "52:54:00:00:20:12"}
        post(client, "/api/dnsmasq/settings/addHost", {"host": entry})
    if sim.dhcp == "kea":
        subnet = sim.seed("kea_subnet", {"subnet": "10.0.20.0/24"})
        entry = {"subnet": subnet, "ip_address": "10.0.20.12", "hw_address": "52:54:00:00:20:12"}
        post(client, "/api/kea/dhcpv4/addReservation", {"reservation": entry})


@pytest.mark.parametrize("dhcp", ["dnsmasq", "kea", "isc"])
@pytest.mark.parametrize("version", ["26.1.2", "26.7.1"])
def test_the_reference_lab_network(make: Factory, version: str, dhcp: str) -> None:
    sim, client = make(version=version, dhcp=dhcp)
    foreign = sim.seed("alias", {"name": "user_nas", "type": "host", "content": "10.0.10.50"})
    build_lab(sim, client)
    applies = [
        "/api/firewall/alias/reconfigure",
        "/api/firewall/filter/apply",
        "/api/unbound/service/reconfigure",
    ]
    applies += {
        "dnsmasq": ["/api/dnsmasq/service/reconfigure"],
        "kea": ["/api/kea/service/reconfigure"],
        "isc": [],
    }[dhcp]
    for path in applies:
        client.post(path, json={})
    assert sim.evaluate(MGMT, "10.0.10.5", "10.0.20.12", "tcp", 22).allowed
    assert sim.evaluate(MGMT, "10.0.10.5", "10.0.20.210", "tcp", 443).allowed
    assert sim.evaluate(APPS, "10.0.20.12", "10.0.10.10", "tcp", 6443).allowed
    assert sim.evaluate(APPS, "10.0.20.12", "10.0.20.1", "udp", 53).allowed
    blocked = sim.evaluate(APPS, "10.0.20.12", "10.0.10.10", "tcp", 22)
    assert (blocked.action, blocked.description) == ("block", "homelab")
    assert sim.evaluate(APPS, "10.0.20.12", "1.1.1.1", "tcp", 443).allowed
    assert sim.client_can_reach()
    assert foreign in sim.running("alias")
    expected = {"firewall/alias": 1, "firewall/filter": 1, "unbound/service": 1}
    expected |= {"dnsmasq": {"dnsmasq/service": 1}, "kea": {"kea/service": 1}, "isc": {}}[dhcp]
    assert sim.log.applies == expected
    assert len(sim.running({"dnsmasq": "dnsmasq", "kea": "kea", "isc": "kea"}[dhcp])) == (
        0 if dhcp == "isc" else 1
    )
