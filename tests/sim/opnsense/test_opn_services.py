"""VLAN devices, interface assignment, Unbound overrides, Dnsmasq and Kea reservations, ISC."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from homelab_sim.opnsense import Interface, OpnsenseSimulator
from tests.sim.opnsense.support import LAB_INTERFACES, Factory

Fw = tuple[OpnsenseSimulator, httpx.Client]


def post(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(path, json=body or {}).json()


def test_vlans_are_named_by_the_firewall(fw: Fw) -> None:
    sim, client = fw
    reply = post(
        client,
        "/api/interfaces/vlan_settings/addItem",
        {"vlan": {"if": "vtnet1", "tag": 10, "descr": "mgmt"}},
    )
    assert reply["result"] == "saved"
    vlan = sim.configured("vlan")[reply["uuid"]]
    assert (vlan["vlanif"], vlan["tag"], vlan["pcp"]) == ("vlan02", "10", "0")
    qinq = post(
        client, "/api/interfaces/vlan_settings/addItem", {"vlan": {"if": "vlan01", "tag": 5}}
    )
    assert sim.configured("vlan")[qinq["uuid"]]["vlanif"] == "qinq01"
    rows = client.get("/api/interfaces/vlan_settings/searchItem").json()["rows"]
    assert [r["vlanif"] for r in rows] == ["qinq01", "vlan01 [APPS]", "vlan02"]
    edit = post(
        client,
        f"/api/interfaces/vlan_settings/setItem/{reply['uuid']}",
        {"vlan": {"descr": "mgmt net"}},
    )
    assert edit == {"result": "saved"}
    assert sim.configured("vlan")[reply["uuid"]]["vlanif"] == "vlan02"


@pytest.mark.parametrize(
    ("vlan", "expected"),
    [
        ({"if": "vtnet1", "tag": 0}, {"vlan.tag": "Invalid integer value."}),
        ({"if": "vtnet1", "tag": 4095}, {"vlan.tag": "Invalid integer value."}),
        ({"if": "vtnet1", "tag": "ten"}, {"vlan.tag": "Invalid integer value."}),
        ({"if": "vtnet1"}, {"vlan.tag": "A value is required."}),
        ({"if": "vtnet1", "tag": 20}, {"vlan.tag": "Tag for this device must be unique."}),
        ({"if": "eth9", "tag": 30}, {"vlan.if": "Option [eth9] not in list."}),
        ({"if": "vtnet1", "tag": 30, "pcp": "9"}, {"vlan.pcp": "Option [9] not in list."}),
    ],
)
def test_invalid_vlans(fw: Fw, vlan: dict[str, Any], expected: dict[str, str]) -> None:
    _, client = fw
    assert post(client, "/api/interfaces/vlan_settings/addItem", {"vlan": vlan}) == {
        "result": "failed",
        "validations": expected,
    }


def test_the_same_tag_on_another_parent_is_fine(fw: Fw) -> None:
    _, client = fw
    assert (
        post(
            client, "/api/interfaces/vlan_settings/addItem", {"vlan": {"if": "vtnet2", "tag": 20}}
        )["result"]
        == "saved"
    )


def test_an_assigned_vlan_cannot_be_deleted(fw: Fw) -> None:
    sim, client = fw
    uuid = next(iter(sim.configured("vlan")))
    reply = client.post(f"/api/interfaces/vlan_settings/delItem/{uuid}", json={})
    assert reply.status_code == 500
    assert reply.json() == {
        "errorMessage": "This VLAN cannot be deleted because it is assigned as an interface.",
        "errorTitle": "",
        "errorLevel": "error",
    }


def test_a_vlan_with_qinq_children_cannot_be_deleted(fw: Fw) -> None:
    _, client = fw
    parent = post(
        client, "/api/interfaces/vlan_settings/addItem", {"vlan": {"if": "vtnet2", "tag": 7}}
    )["uuid"]
    post(client, "/api/interfaces/vlan_settings/addItem", {"vlan": {"if": "vlan02", "tag": 8}})
    reply = client.post(f"/api/interfaces/vlan_settings/delItem/{parent}", json={})
    assert (
        reply.json()["errorMessage"]
        == "This VLAN cannot be deleted because it is used in QinQ interfaces."
    )


def test_vlans_run_after_reconfigure(fw: Fw) -> None:
    sim, client = fw
    uuid = post(
        client, "/api/interfaces/vlan_settings/addItem", {"vlan": {"if": "vtnet2", "tag": 30}}
    )["uuid"]
    assert uuid not in sim.running("vlan")
    assert client.get("/api/interfaces/vlan_settings/reconfigure").json() == {"status": "failed"}
    assert post(client, "/api/interfaces/vlan_settings/reconfigure") == {"status": "ok"}
    assert uuid in sim.running("vlan")
    assert post(client, f"/api/interfaces/vlan_settings/delItem/{uuid}") == {"result": "deleted"}
    assert sim.log.applies["interfaces/vlan_settings"] == 1


def test_interface_assignment_is_a_26_7_api(make: Factory) -> None:
    _, old = make(version="26.1.2")
    assert old.get("/api/interfaces/assignment/searchItem").status_code == 404
    sim, client = make(version="26.7.1")
    vlan = {"vlan": {"if": "vtnet2", "tag": 30}}
    post(client, "/api/interfaces/vlan_settings/addItem", vlan)
    body = {
        "interface": {
            "if": "vlan02",
            "descr": "storage",
            "type4": "staticv4",
            "ipaddr": "10.0.30.1/24",
        }
    }
    reply = post(client, "/api/interfaces/assignment/addItem", body)
    assert reply == {"result": "saved", "uuid": "opt2"}
    again = post(client, "/api/interfaces/assignment/addItem", body)
    assert again["validations"] == {"interface.if": "Can not assign a device to more interfaces."}
    nothing = post(
        client,
        "/api/interfaces/assignment/addItem",
        {"interface": {"if": "vtnet2", "type4": "staticv4"}},
    )
    assert nothing["validations"] == {
        "interface.ipaddr": "An address is required when configuring static mode"
    }
    assert "opt2" not in sim.interfaces()
    assert post(client, "/api/interfaces/assignment/reconfigure") == {"status": "ok"}
    assert str(sim.interfaces()["opt2"].network) == "10.0.30.0/24"
    assert (
        client.get("/api/interfaces/assignment/getItem/opt2").json()["interface"]["if"]["vlan02"][
            "selected"
        ]
        == 1
    )


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (
            {"hostname": "bad host", "domain": "lab.example", "server": "10.0.10.10"},
            {"host.hostname": "A valid hostname must be specified."},
        ),
        (
            {"hostname": "k8s", "domain": "-lab", "server": "10.0.10.10"},
            {"host.domain": "A valid domain must be specified."},
        ),
        ({"hostname": "k8s", "server": "10.0.10.10"}, {"host.domain": "A value is required."}),
        (
            {"hostname": "k8s", "domain": "lab.example"},
            {"host.server": "The field IP address is required."},
        ),
        (
            {"hostname": "k8s", "domain": "lab.example", "server": "10.0.10.0/24"},
            {"host.server": "Please specify a valid network segment or IP address."},
        ),
        (
            {"hostname": "k8s", "domain": "lab.example", "server": "10.0.10.10", "rr": "CNAME"},
            {"host.rr": "Option [CNAME] not in list."},
        ),
    ],
)
def test_invalid_host_overrides(fw: Fw, host: dict[str, str], expected: dict[str, str]) -> None:
    _, client = fw
    assert post(client, "/api/unbound/settings/addHostOverride", {"host": host}) == {
        "result": "failed",
        "validations": expected,
    }


def test_host_overrides_run_after_reconfigure(fw: Fw) -> None:
    sim, client = fw
    host = {
        "hostname": "k8s-master-1",
        "domain": "lab.example",
        "server": "10.0.10.10",
        "description": "homelab",
    }
    uuid = post(client, "/api/unbound/settings/addHostOverride", {"host": host})["uuid"]
    assert (
        post(client, "/api/unbound/settings/addHostOverride", {"host": {**host, "hostname": "*"}})[
            "result"
        ]
        == "saved"
    )
    got = client.get(f"/api/unbound/settings/getHostOverride/{uuid}").json()["host"]
    assert got["rr"]["A"] == {"value": "A (IPv4 address)", "selected": 1}
    assert sim.running("unbound") == {}
    assert post(client, "/api/unbound/service/reconfigure") == {"status": "ok"}
    assert uuid in sim.running("unbound")
    assert (
        client.get(
            "/api/unbound/settings/searchHostOverride", params={"searchPhrase": "master"}
        ).json()["total"]
        == 1
    )
    assert sim.log.applies["unbound/service"] == 1


@pytest.mark.parametrize("dhcp", ["dnsmasq", "kea", "isc"])
def test_each_dhcp_backend_reports_itself(make: Factory, dhcp: str) -> None:
    _, client = make(dhcp=dhcp)
    dnsmasq = client.get("/api/dnsmasq/settings/get").json()["dnsmasq"]
    assert dnsmasq["enable"] == ("1" if dhcp == "dnsmasq" else "0")
    assert len(dnsmasq["dhcp_ranges"]) == (1 if dhcp == "dnsmasq" else 0)
    kea = client.get("/api/kea/dhcpv4/get").json()["dhcpv4"]["general"]
    assert kea["enabled"] == ("1" if dhcp == "kea" else "0")
    assert kea["interfaces"]["lan"]["selected"] == (1 if dhcp == "kea" else 0)
    assert client.get("/api/dhcpv4/service/status").status_code == (200 if dhcp == "isc" else 404)
    assert (
        client.get("/api/dhcpv4/settings/searchStaticMap").status_code == 404
    )  # no such API, ever


def test_dnsmasq_hosts(make: Factory) -> None:
    sim, client = make(dhcp="dnsmasq")
    host = {
        "host": "k8s-worker-2",
        "domain": "lab.example",
        "ip": "10.0.20.12",
        "hwaddr": "52:54:00:00:20:12",
    }
    uuid = post(client, "/api/dnsmasq/settings/addHost", {"host": host})["uuid"]
    again = post(
        client, "/api/dnsmasq/settings/addHost", {"host": {**host, "hwaddr": "52:54:00:00:20:13"}}
    )
    assert again["validations"] == {
        "host.ip": "'10.0.20.12' is already used in another DHCP host entry."
    }
    two = post(
        client, "/api/dnsmasq/settings/addHost", {"host": {**host, "ip": "10.0.20.2,10.0.20.3"}}
    )
    assert (
        two["validations"]["host.ip"]
        == "For IPv4 dhcp reservations, only a single address is allowed."
    )
    wild = post(
        client, "/api/dnsmasq/settings/addHost", {"host": {**host, "host": "*", "ip": "10.0.20.4"}}
    )
    assert wild["validations"] == {
        "host.host": "Wildcard entries are not allowed for DHCP reservations."
    }
    bare = post(client, "/api/dnsmasq/settings/addHost", {"host": {"hwaddr": "52:54:00:00:20:14"}})
    text = "At least a hostname or IP address must be provided for DHCP reservations."
    assert bare["validations"] == {"host.host": text, "host.ip": text}
    override = post(client, "/api/dnsmasq/settings/addHost", {"host": {"host": "nas"}})
    text = "Both hostname and IP address are required for host overrides."
    assert override["validations"] == {"host.host": text, "host.ip": text}
    bad = post(
        client,
        "/api/dnsmasq/settings/addHost",
        {"host": {"host": "-x", "ip": "10.0.20.9", "hwaddr": "zz"}},
    )
    assert bad["validations"]["host.hwaddr"] == "Invalid MAC address."
    assert bad["validations"]["host.host"].startswith("Labels must be 1\u201363 characters")
    assert post(client, "/api/dnsmasq/service/reconfigure") == {"status": "ok"}
    assert uuid in sim.running("dnsmasq")
    settings = client.get("/api/dnsmasq/settings/get").json()["dnsmasq"]
    assert settings["hosts"][uuid]["host"] == "k8s-worker-2"
    assert next(iter(settings["dhcp_ranges"].values()))["start_addr"] == "10.0.10.100"
    assert post(client, f"/api/dnsmasq/settings/delHost/{uuid}") == {"result": "deleted"}


def test_kea_reservations(make: Factory) -> None:
    sim, client = make(dhcp="kea")
    subnet = sim.seed("kea_subnet", {"subnet": "10.0.20.0/24", "description": "apps"})
    good = {
        "subnet": subnet,
        "ip_address": "10.0.20.12",
        "hw_address": "52:54:00:00:20:12",
        "hostname": "k8s-worker-2",
    }
    uuid = post(client, "/api/kea/dhcpv4/addReservation", {"reservation": good})["uuid"]
    cases = [
        (
            {"ip_address": "10.0.30.5", "hw_address": "52:54:00:00:20:99"},
            {"reservation.ip_address": "Address not in specified subnet"},
        ),
        (
            {"hw_address": "52:54:00:00:20:98"},
            {"reservation.ip_address": "Duplicate entry exists."},
        ),
        ({"ip_address": "10.0.20.13"}, {"reservation.hw_address": "Duplicate entry exists."}),
        (
            {"ip_address": "10.0.20.14", "hw_address": ""},
            {"reservation.hw_address": "Either a client ID or a MAC address should be specified."},
        ),
        (
            {"ip_address": "10.0.20.15", "hw_address": "52:54:00:00:20:15", "client_id": "01:02"},
            {
                "reservation.hw_address": "Either a client ID or a MAC address should be specified, but not both"  # noqa: E501
            },
        ),
        (
            {"subnet": "nope", "ip_address": "10.0.20.16", "hw_address": "52:54:00:00:20:16"},
            {"reservation.subnet": "Related subnet not found."},
        ),
        (
            {"ip_address": "fd00::1", "hw_address": "52:54:00:00:20:17"},
            {
                "reservation.ip_address": [
                    "Please specify a valid network segment or IP address.",
                    "Address not in specified subnet",
                ]
            },
        ),
    ]
    for change, expected in cases:
        reply = post(client, "/api/kea/dhcpv4/addReservation", {"reservation": {**good, **change}})
        assert reply == {"result": "failed", "validations": expected}, change
    assert client.get("/api/kea/dhcpv4/searchSubnet").json()["rows"][0]["subnet"] == "10.0.20.0/24"
    assert post(client, "/api/kea/service/reconfigure") == {"status": "ok"}
    assert uuid in sim.running("kea")
    assert sim.log.applies["kea/service"] == 1


def test_the_request_log_counts_paths_and_applies(fw: Fw) -> None:
    sim, client = fw
    for tag in (30, 31):
        post(
            client, "/api/interfaces/vlan_settings/addItem", {"vlan": {"if": "vtnet2", "tag": tag}}
        )
    post(client, "/api/interfaces/vlan_settings/reconfigure")
    client.get("/api/interfaces/vlan_settings/reconfigure")
    assert sim.log.paths["POST /api/interfaces/vlan_settings/addItem"] == 2
    assert sim.log.applies == {"interfaces/vlan_settings": 1}
    assert sim.log.count() == 4
    assert sim.log.count(writes_only=True) == 3
    assert sim.log.count(method="GET") == 1
    assert all(entry.from_client for entry in sim.log.entries)
    sim.log.clear()
    assert sim.log.count() == 0


def test_an_assigned_vlan_keeps_its_device_name(fw: Fw) -> None:
    sim, client = fw
    post(client, "/api/interfaces/vlan_settings/addItem", {"vlan": {"if": "vtnet2", "tag": 30}})
    assigned = next(u for u, r in sim.configured("vlan").items() if r["vlanif"] == "vlan01")
    path = f"/api/interfaces/vlan_settings/setItem/{assigned}"
    moved = post(client, path, {"vlan": {"if": "vlan02", "tag": 21}})
    assert moved == {
        "result": "failed",
        "validations": {
            "vlan.tag": "Interface is assigned and you cannot change the VLAN tag while assigned."
        },
    }
    renamed = post(client, path, {"vlan": {"if": "vlan02", "tag": 20}})
    text = "Interface is assigned and you cannot change the device name while assigned."
    assert renamed == {"result": "failed", "validations": {"vlan.vlanif": text}}
    assert post(client, path, {"vlan": {"tag": 22}}) == {"result": "saved"}
    assert sim.configured("vlan")[assigned]["vlanif"] == "vlan01"


def _rows(client: httpx.Client) -> dict[str, dict[str, Any]]:
    found = client.get("/api/interfaces/assignment/searchItem").json()["rows"]
    return {row["uuid"]: row for row in found}


def test_a_new_assignment_takes_the_lowest_free_opt(make: Factory) -> None:
    wan, lan, apps = LAB_INTERFACES
    _, client = make(
        version="26.7.1",
        interfaces=(wan, lan, Interface("opt2", apps.device, apps.address, "APPS")),
    )
    post(client, "/api/interfaces/vlan_settings/addItem", {"vlan": {"if": "vtnet2", "tag": 30}})
    body = {"interface": {"if": "vlan02", "type4": "staticv4", "ipaddr": "10.0.30.1/24"}}
    assert post(client, "/api/interfaces/assignment/addItem", body)["uuid"] == "opt1"


def test_search_shows_what_is_not_applied_yet(make: Factory) -> None:
    _, client = make(version="26.7.1")
    assert _rows(client)["opt1"]["pending_action"] == ""
    assert _rows(client)["opt1"]["identifier"] == "opt1"
    set_path = "/api/interfaces/assignment/setItem/opt1"
    post(client, set_path, {"interface": {"ipaddr": "10.0.20.254/24"}})
    assert _rows(client)["opt1"]["pending_action"] == "update"
    post(client, "/api/interfaces/vlan_settings/addItem", {"vlan": {"if": "vtnet2", "tag": 30}})
    post(client, set_path, {"interface": {"if": "vlan02"}})
    assert _rows(client)["opt1"]["pending_action"] == "relink"
    assert post(client, "/api/interfaces/assignment/reconfigure") == {"status": "ok"}
    assert _rows(client)["opt1"]["pending_action"] == ""


def test_a_locked_interface_is_not_removed_until_unlocked_and_applied(make: Factory) -> None:
    sim, client = make(version="26.7.1")
    path = "/api/interfaces/assignment/delItem/opt1"
    locked = {
        "errorMessage": "Interface locked, unset lock first before removal",
        "errorTitle": "locked",
        "errorLevel": "error",
    }
    assert client.post(path, json={}).json() == locked
    post(client, "/api/interfaces/assignment/setItem/opt1", {"interface": {"lock": "0"}})
    assert client.post(path, json={}).json() == locked  # the running configuration is locked
    post(client, "/api/interfaces/assignment/reconfigure")
    assert post(client, path) == {"result": "deleted"}
    assert "opt1" in sim.interfaces()  # until the reconfigure


def test_the_reconfigure_removes_a_deleted_interfaces_rules(make: Factory) -> None:
    sim, client = make(version="26.7.1")
    post(client, "/api/interfaces/assignment/setItem/opt1", {"interface": {"lock": "0"}})
    post(client, "/api/interfaces/assignment/reconfigure")
    only = sim.seed("rule", {"interface": "opt1", "action": "pass", "description": "apps"})
    both = sim.seed("rule", {"interface": "lan,opt1", "action": "pass", "description": "both"})
    post(client, "/api/interfaces/assignment/delItem/opt1")
    assert only in sim.configured("rule")
    post(client, "/api/interfaces/assignment/reconfigure")
    assert only not in sim.configured("rule") and only not in sim.running("rule")
    assert sim.running("rule")[both]["interface"] == "lan"
    assert "opt1" not in sim.interfaces()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"descr": "[homelab lab] mgmt"},
         {"interface.descr": "Description should be a string between 1 and 255 characters."}),
        ({"ipaddr": "10.0.30.1/255.255.255.0"},
         {"interface.ipaddr": "Please specify a valid network segment or IP address."}),
        ({"ipaddr": "fd00::1/64"},
         {"interface.ipaddr": "Please specify a valid network segment or IP address."}),
        ({"type4": "pppoe", "ipaddr": ""},
         {"interface.type4": "PPP types belong to their respective devices"}),
        ({"type6": "staticv6"},
         {"interface.ipaddrv6": "An address is required when configuring static mode"}),
        ({"mtu": "100"},
         {"interface.mtu": "The MTU must be greater than 576 bytes and less than 65535."}),
        ({"gateway": "WAN_GW"},
         {"interface.gateway": "Specify a valid gateway from the list matching the networks ip "
                               "protocol."}),
    ],
)  # fmt: skip
def test_an_assignment_is_checked_as_upstream_does(
    make: Factory, fields: dict[str, str], expected: dict[str, str]
) -> None:
    _, client = make(version="26.7.1")
    post(client, "/api/interfaces/vlan_settings/addItem", {"vlan": {"if": "vtnet2", "tag": 30}})
    body = {"if": "vlan02", "type4": "staticv4", "ipaddr": "10.0.30.1/24", **fields}
    reply = post(client, "/api/interfaces/assignment/addItem", {"interface": body})
    assert reply == {"result": "failed", "validations": expected}


def test_a_new_assignment_is_pending_and_removal_wants_a_post(make: Factory) -> None:
    sim, client = make(version="26.7.1")
    post(client, "/api/interfaces/vlan_settings/addItem", {"vlan": {"if": "vtnet2", "tag": 30}})
    body = {"interface": {"if": "vlan02", "type4": "staticv4", "ipaddr": "10.0.30.1/24"}}
    assert post(client, "/api/interfaces/assignment/addItem", body)["uuid"] == "opt2"
    assert _rows(client)["opt2"]["pending_action"] == "update"
    assert client.get("/api/interfaces/assignment/delItem/opt2").json() == {"status": "failed"}
    assert client.get("/api/interfaces/assignment/reconfigure").json() == {"status": "failed"}
    assert "opt2" in sim.configured("interface") and "opt2" not in sim.interfaces()
