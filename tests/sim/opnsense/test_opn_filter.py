"""Filter rules: validation, staged vs running, evaluation order, anti-lockout."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from homelab_sim.opnsense import OpnsenseSimulator
from tests.sim.opnsense.support import Factory

Fw = tuple[OpnsenseSimulator, httpx.Client]


def add_rule(client: httpx.Client, **fields: Any) -> str:
    reply = client.post("/api/firewall/filter/addRule", json={"rule": fields}).json()
    assert reply["result"] == "saved", reply
    return str(reply["uuid"])


def add_alias(client: httpx.Client, name: str, kind: str, content: str) -> str:
    body = {"alias": {"name": name, "type": kind, "content": content}}
    reply = client.post("/api/firewall/alias/addItem", json=body).json()
    assert reply["result"] == "saved", reply
    return str(reply["uuid"])


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"sequence": "0"}, {"rule.sequence": "Sequence shall be between 1 and 999999."}),
        ({"action": "allow"}, {"rule.action": "Option [allow] not in list."}),
        ({"direction": "up"}, {"rule.direction": "Option [up] not in list."}),
        ({"ipprotocol": "ip4"}, {"rule.ipprotocol": "Option [ip4] not in list."}),
        ({"interface": "opt9"}, {"rule.interface": "Option [opt9] not in list."}),
        ({"quick": "yes"}, {"rule.quick": "Value should be a boolean (0,1)."}),
        ({"log": "2"}, {"rule.log": "Value should be a boolean (0,1)."}),
        (
            {"source_net": "nosuchalias"},
            {"rule.source_net": "nosuchalias is not a valid source IP address or alias."},
        ),
        (
            {"destination_net": "10.0.0.1,10.0.0.2"},
            {
                "rule.destination_net": "10.0.0.1,10.0.0.2 is not a valid source IP address or alias."  # noqa: E501
            },
        ),
        (
            {"destination_net": "any,lan"},
            {"rule.destination_net": "Any can not be combined with other aliases"},
        ),
        (
            {"protocol": "TCP", "destination_port": "99999"},
            {"rule.destination_port": "Please specify a valid portnumber, name, alias or range."},
        ),
        (
            {"protocol": "TCP", "destination_port": "443-80"},
            {"rule.destination_port": "Please specify a valid portnumber, name, alias or range."},
        ),
        (
            {"protocol": "ICMP", "destination_port": "443"},
            {
                "rule.destination_port": "Destination ports are only valid for tcp or udp type rules."  # noqa: E501
            },
        ),
        (
            {"source_port": "53"},
            {"rule.source_port": "Source ports are only valid for tcp or udp type rules."},
        ),
        (
            {"destination_net": "fd00::/64"},
            {
                "rule.destination_net": "Destination address type should match selected TCP/IP protocol version."  # noqa: E501
            },
        ),
        (
            {"source_net": "fd00::1"},
            {
                "rule.source_net": "Source address type should match selected TCP/IP protocol version."  # noqa: E501
            },
        ),
        (
            {"description": "x" * 256},
            {"rule.description": "Description should be a string between 1 and 255 characters."},
        ),
        ({"protocol": "SMTP"}, {"rule.protocol": "Option [SMTP] not in list."}),
        ({"categories": "nope"}, {"rule.categories": "Related category not found."}),
    ],
)
def test_invalid_rules_fail_with_upstream_texts(
    fw: Fw, fields: dict[str, str], expected: dict[str, str]
) -> None:
    sim, client = fw
    reply = client.post("/api/firewall/filter/addRule", json={"rule": fields})
    assert reply.status_code == 200
    assert reply.json() == {"result": "failed", "validations": expected}
    assert sim.configured("rule") == {}


def test_several_messages_for_one_field_become_a_list(fw: Fw) -> None:
    _, client = fw
    reply = client.post(
        "/api/firewall/alias/addItem", json={"alias": {"name": "in", "type": "host"}}
    ).json()
    assert reply["validations"] == {
        "alias.name": 'The name cannot be the internally reserved keyword "%s".'
    }
    reply = client.post(
        "/api/firewall/alias/addItem", json={"alias": {"name": "9ssh!", "type": "host"}}
    ).json()
    assert isinstance(reply["validations"]["alias.name"], str)
    reply = client.post(
        "/api/firewall/alias/addItem", json={"alias": {"name": "tcp", "type": "hosts"}}
    ).json()
    assert reply["validations"] == {
        "alias.name": "Reserved protocol or service names may not be used",
        "alias.type": "Option [hosts] not in list.",
    }


def test_valid_rule_fields_are_accepted(fw: Fw) -> None:
    sim, client = fw
    add_alias(client, "web", "port", "80\n443\n8000:8080")
    uuid = add_rule(
        client,
        interface="lan,opt1",
        direction="any",
        ipprotocol="inet",
        protocol="TCP/UDP",
        source_net="10.0.10.0/24",
        destination_net="opt1",
        destination_port="web",
        action="reject",
        quick="0",
        log="1",
        sequence="900000",
        description="every field",
    )
    assert sim.configured("rule")[uuid]["destination_port"] == "web"
    for port in ("https", "1-1024", "6443"):
        add_rule(client, protocol="TCP", destination_port=port)


def test_get_spells_out_enumerated_fields(fw: Fw) -> None:
    _, client = fw
    uuid = add_rule(client, interface="opt1", action="block")
    rule = client.get(f"/api/firewall/filter/getRule/{uuid}").json()["rule"]
    assert rule["action"] == {
        "pass": {"value": "Pass", "selected": 0},
        "block": {"value": "Block", "selected": 1},
        "reject": {"value": "Reject", "selected": 0},
    }
    assert rule["interface"]["opt1"] == {"value": "APPS", "selected": 1}
    assert rule["interface"]["lan"] == {"value": "LAN", "selected": 0}
    assert rule["source_net"] == "any"
    assert client.get("/api/firewall/filter/getRule/not-a-uuid").json() == []
    blank = client.get("/api/firewall/filter/getRule").json()["rule"]
    assert blank["direction"]["in"]["selected"] == 1


def test_nothing_runs_until_apply(fw: Fw) -> None:
    sim, client = fw
    uuid = add_rule(
        client, interface="opt1", protocol="TCP", destination_port="22", description="ssh"
    )
    assert uuid in sim.configured("rule")
    assert sim.running("rule") == {}
    assert not sim.evaluate("opt1", "10.0.20.5", "10.0.10.9", "tcp", 22).allowed
    assert sim.evaluate("opt1", "10.0.20.5", "10.0.10.9", "tcp", 22, configured=True).allowed
    assert client.post("/api/firewall/filter/apply", json={}).json() == {"status": "OK\n\n"}
    assert sim.running("rule") == sim.configured("rule")
    assert sim.evaluate("opt1", "10.0.20.5", "10.0.10.9", "tcp", 22).rule == uuid
    assert sim.log.applies["firewall/filter"] == 1


def test_apply_wants_a_post(fw: Fw) -> None:
    sim, client = fw
    assert client.get("/api/firewall/filter/apply").json() == {"status": "error"}
    assert sim.log.applies["firewall/filter"] == 0


def apply(client: httpx.Client) -> None:
    client.post("/api/firewall/filter/apply", json={})


def test_first_quick_match_wins_in_sequence_order(fw: Fw) -> None:
    sim, client = fw
    late = add_rule(client, interface="opt1", action="pass", sequence="20", description="late pass")
    early = add_rule(
        client, interface="opt1", action="block", sequence="10", description="early block"
    )
    apply(client)
    verdict = sim.evaluate("opt1", "10.0.20.5", "10.0.10.9", "tcp", 22)
    assert (verdict.action, verdict.rule, verdict.description) == ("block", early, "early block")
    client.post(f"/api/firewall/filter/toggleRule/{early}/0", json={})
    apply(client)
    assert sim.evaluate("opt1", "10.0.20.5", "10.0.10.9", "tcp", 22).rule == late


def test_without_quick_the_last_match_wins(fw: Fw) -> None:
    sim, client = fw
    add_rule(client, interface="opt1", action="pass", sequence="1", quick="0")
    last = add_rule(client, interface="opt1", action="block", sequence="2", quick="0")
    apply(client)
    assert sim.evaluate("opt1", "10.0.20.5", "10.0.10.9", "udp", 53).rule == last


def test_floating_rules_come_before_interface_rules(fw: Fw) -> None:
    sim, client = fw
    add_rule(client, interface="opt1", action="pass", sequence="1")
    floating = add_rule(client, interface="", action="block", sequence="500")
    apply(client)
    assert sim.evaluate("opt1", "10.0.20.5", "10.0.10.9").rule == floating


def test_rules_match_on_interface_protocol_addresses_and_ports(fw: Fw) -> None:
    sim, client = fw
    add_alias(client, "k8s_api", "host", "10.0.10.10\n10.0.10.11")
    add_alias(client, "k8s_ports", "port", "6443\n30000:32767")
    add_alias(client, "mgmt_nets", "networkgroup", "k8s_api")
    uuid = add_rule(
        client,
        interface="lan",
        protocol="TCP",
        source_net="lan",
        destination_net="mgmt_nets",
        destination_port="k8s_ports",
    )
    apply(client)
    client.post("/api/firewall/alias/reconfigure", json={})
    assert sim.evaluate("lan", "10.0.10.50", "10.0.10.11", "tcp", 6443).rule == uuid
    assert sim.evaluate("lan", "10.0.10.50", "10.0.10.11", "tcp", 31000).rule == uuid
    denied = [
        ("lan", "10.0.10.50", "10.0.10.11", "tcp", 22),  # port
        ("lan", "10.0.10.50", "10.0.10.12", "tcp", 6443),  # destination
        ("lan", "10.0.10.50", "10.0.10.11", "udp", 6443),  # protocol
        ("opt1", "10.0.10.50", "10.0.10.11", "tcp", 6443),  # interface
        ("opt1", "10.0.20.9", "10.0.10.11", "tcp", 6443),  # source
    ]
    for packet in denied:
        assert sim.evaluate(*packet).rule != uuid, packet


def test_negations_and_interface_addresses(fw: Fw) -> None:
    sim, client = fw
    uuid = add_rule(
        client, interface="opt1", source_net="opt1", destination_net="lan", destination_not="1"
    )
    selfish = add_rule(
        client, interface="lan", protocol="UDP", destination_net="(self)", destination_port="domain"
    )
    apply(client)
    assert sim.evaluate("opt1", "10.0.20.5", "1.1.1.1", "tcp", 443).rule == uuid
    assert sim.evaluate("opt1", "10.0.20.5", "10.0.10.7", "tcp", 443).rule == "default deny"
    assert sim.evaluate("lan", "10.0.10.7", "10.0.20.1", "udp", 53).rule == selfish


def test_the_anti_lockout_rule_passes_the_gui_port_on_lan(make: Factory) -> None:
    sim, client = make()
    add_rule(client, interface="lan", action="block", description="block all")
    apply(client)
    verdict = sim.evaluate("lan", "10.0.10.100", "10.0.10.1", "tcp", 443)
    assert (verdict.action, verdict.rule) == ("pass", "anti-lockout")
    assert sim.evaluate("lan", "10.0.10.100", "10.0.10.1", "tcp", 8443).action == "block"
    assert sim.evaluate("opt1", "10.0.20.100", "10.0.20.1", "tcp", 443).rule == "default deny"
    plain, client2 = make(anti_lockout=False, lan_default_allow=False)
    plain.set_client("opt1", "10.0.20.100")
    assert not plain.client_can_reach()  # a fresh opt interface passes nothing
    plain.seed("rule", {"interface": "opt1", "description": "let the tool in"})
    assert plain.client_can_reach()
    add_rule(client2, interface="lan", action="block", description="block all")
    apply(client2)
    assert plain.evaluate("lan", "10.0.10.100", "10.0.10.1", "tcp", 443).description == "block all"


def test_search_pages_and_filters(fw: Fw) -> None:
    _, client = fw
    for n in range(5):
        add_rule(client, sequence=str(10 - n), description=f"rule {n}")
    every = {"show_all": "1"}
    params: dict[str, str | int] = {"rowCount": 2, "current": 2, **every}
    page = client.get("/api/firewall/filter/searchRule", params=params).json()
    assert (page["rowCount"], page["total"], page["current"]) == (2, 5, 2)
    assert [r["description"] for r in page["rows"]] == ["rule 2", "rule 1"]
    found = client.post(
        "/api/firewall/filter/searchRule", json={"searchPhrase": "RULE 3", **every}
    ).json()
    assert [r["description"] for r in found["rows"]] == ["rule 3"]
    ordered = client.post(
        "/api/firewall/filter/searchRule", json={"sort": {"description": "desc"}}
    ).json()
    assert ordered["rows"][0]["description"] == "rule 4"


def test_set_del_and_upsert(fw: Fw) -> None:
    sim, client = fw
    uuid = add_rule(client, description="one")
    body = {"rule": {"description": "two"}}
    assert client.post(f"/api/firewall/filter/setRule/{uuid}", json=body).json() == {
        "result": "saved"
    }
    assert sim.configured("rule")[uuid]["description"] == "two"
    fresh = "0b9f3d1e-1c1a-4a43-9d8e-3c7d5b0f6a11"
    assert client.post(f"/api/firewall/filter/setRule/{fresh}", json=body).json() == {
        "result": "saved"
    }
    assert fresh in sim.configured("rule")
    assert client.post("/api/firewall/filter/setRule/nope", json=body).json() == {
        "result": "failed"
    }
    bad = client.post(
        f"/api/firewall/filter/setRule/{uuid}", json={"rule": {"sequence": "x"}}
    ).json()
    assert bad == {
        "result": "failed",
        "validations": {"rule.sequence": "Sequence shall be between 1 and 999999."},
    }
    assert client.post(f"/api/firewall/filter/delRule/{uuid}", json={}).json() == {
        "result": "deleted"
    }
    assert client.post(f"/api/firewall/filter/delRule/{uuid}", json={}).json() == {
        "result": "not found"
    }
    assert client.get(f"/api/firewall/filter/delRule/{fresh}").json() == {"result": "failed"}
    assert client.post("/api/firewall/filter/addRule", json={"other": {}}).json() == {
        "result": "failed"
    }


def test_toggle(fw: Fw) -> None:
    sim, client = fw
    one, two = add_rule(client), add_rule(client)
    assert client.post(f"/api/firewall/filter/toggleRule/{one}", json={}).json() == {
        "result": "Disabled",
        "changed": True,
    }
    assert (
        client.post(f"/api/firewall/filter/toggleRule/{one}", json={}).json()["result"] == "Enabled"
    )
    assert client.post(f"/api/firewall/filter/toggleRule/{one}/1", json={}).json() == {
        "result": "Enabled",
        "changed": False,
    }
    assert client.post(f"/api/firewall/filter/toggleRule/{one}/x", json={}).json() == {
        "result": "failed",
        "changed": False,
    }
    both = client.post(f"/api/firewall/filter/toggleRule/{one},{two}", json={})
    assert both.status_code == 500
    assert (
        both.json()["errorMessage"]
        == "Toggle with a list of items in only supported for explicit actions [0,1]"
    )
    assert (
        client.post(f"/api/firewall/filter/toggleRule/{one},{two}/0", json={}).json()["result"]
        == "Disabled"
    )
    assert {r["enabled"] for r in sim.configured("rule").values()} == {"0"}
    assert client.get(f"/api/firewall/filter/toggleRule/{one}").json() == {"result": "failed"}


def test_the_default_lan_rule_passes_lan_traffic_after_the_mvc_rules(fw: Fw) -> None:
    sim, client = fw
    assert sim.evaluate("lan", "10.0.10.5", "8.8.8.8", "udp", 53).rule == "default allow LAN"
    assert sim.evaluate("lan", "10.9.9.9", "8.8.8.8", "udp", 53).rule == "default deny"
    uuid = add_rule(client, interface="lan", action="block", destination_net="8.8.8.8")
    apply(client)
    assert sim.evaluate("lan", "10.0.10.5", "8.8.8.8", "udp", 53).rule == uuid


def test_alias_contents_load_with_the_filter_on_26_1_only_with_reconfigure_on_26_7(
    make: Factory,
) -> None:
    for version, loaded in (("26.1.2", True), ("26.7.1", False)):
        sim, client = make(version=version)
        add_alias(client, "apps", "network", "10.0.20.0/24")
        add_rule(client, interface="lan", action="block", destination_net="apps")
        apply(client)  # 26.7: "filter reload skip_alias"
        assert (sim.evaluate("lan", "10.0.10.5", "10.0.20.7").action == "block") is loaded, version
        assert client.post("/api/firewall/alias/reconfigure", json={}).json() == {"status": "ok"}
        assert sim.evaluate("lan", "10.0.10.5", "10.0.20.7").action == "block"
        assert sim.log.applies["firewall/alias"] == 1
        assert client.get("/api/firewall/alias/reconfigure").json() == {"status": "failed"}


def test_search_lists_every_rule_unless_asked_for_an_interface(fw: Fw) -> None:
    """FilterController::searchRule (26.1.2 and HEAD): no ``interface`` parameter lists every
    rule; an empty one the floating view; an interface its rules and the floating ones (an
    inverted rule when it does not name it); ``show_all`` changes no row."""
    sim, client = fw
    lab = sim.seed("category", {"name": "lab"})
    floating = add_rule(client, interface="", description="floating")
    pair = add_rule(client, interface="lan,opt1", description="two interfaces")
    lan = add_rule(client, interface="lan", description="lan only", categories=lab)
    not_lan = add_rule(client, interface="lan", interfacenot="1", description="all but lan")

    def uuids(**params: str | list[str]) -> list[str]:
        rows = client.post("/api/firewall/filter/searchRule", json=params).json()["rows"]
        return [r["uuid"] for r in rows]

    assert uuids() == [floating, pair, not_lan, lan]  # in evaluation order: floating first
    assert uuids(interface="") == [floating, pair, not_lan]
    assert uuids(interface="lan") == [floating, pair, lan]
    assert uuids(interface="opt1") == [floating, pair, not_lan]
    assert uuids(interface="lan,opt1") == [floating, pair, lan]
    assert uuids(interface="lan", show_all="1") == uuids(interface="lan")
    assert uuids(interface="lan", category=[lab]) == [lan]
    assert uuids(interface="lan", category=["other"]) == []
    plain = client.post("/api/firewall/filter/searchRule", json={"category": lab})
    assert plain.status_code == 500


def test_a_new_rule_goes_100_after_the_last(fw: Fw) -> None:
    sim, client = fw
    first = add_rule(client)
    second = add_rule(client)
    assert [sim.configured("rule")[u]["sequence"] for u in (first, second)] == ["101", "201"]
    assert client.get("/api/firewall/filter/getRule").json()["rule"]["sequence"] == "301"
    add_rule(client, sequence="999950")
    full = client.post("/api/firewall/filter/addRule", json={"rule": {}}).json()
    assert full["validations"] == {"rule.sequence": "Sequence shall be between 1 and 999999."}


def test_move_rule_before(fw: Fw) -> None:
    sim, client = fw
    one, two, three = (add_rule(client, interface="opt1", description=str(n)) for n in range(3))
    floating = add_rule(client, interface="")

    def order() -> list[str]:
        return [
            u
            for u, _ in sorted(sim.configured("rule").items(), key=lambda i: int(i[1]["sequence"]))
        ]

    move = "/api/firewall/filter/moveRuleBefore"
    assert client.post(f"{move}/{three}/{two}", json={}).json() == {"status": "ok"}
    assert [sim.configured("rule")[u]["sequence"] for u in (one, three, two)] == [
        "101",
        "151",
        "201",
    ]
    assert client.post(f"{move}/{two}/{one}", json={}).json() == {"status": "ok"}
    assert sim.configured("rule")[two]["sequence"] == "51"
    assert order()[:3] == [two, one, three]
    for _ in range(3):  # no gap left before the target: the group is renumbered
        client.post(f"{move}/{three}/{one}", json={})
        client.post(f"{move}/{one}/{three}", json={})
    sequences = [int(sim.configured("rule")[u]["sequence"]) for u in (two, one, three)]
    assert sequences == sorted(sequences)
    mixed = client.post(f"{move}/{floating}/{one}", json={})
    assert mixed.status_code == 500
    assert mixed.json() == {
        "errorMessage": "Cannot move 'Floating Rule' before 'Interface Rule'.",
        "errorTitle": "Filter",
        "errorLevel": "error",
    }
    same = client.post(f"{move}/{one}/{one}", json={}).json()
    assert (same["errorMessage"], same["errorLevel"]) == (
        "Cannot move to the same spot.",
        "warning",
    )
    unknown = client.post(f"{move}/{one}/nope", json={}).json()
    assert (
        unknown["errorMessage"]
        == "Either source or destination is not a rule managed with this component"
    )
    assert client.get(f"{move}/{one}/{two}").json() == {
        "status": "error",
        "message": "Invalid request method",
    }
    assert client.post(f"{move}/{one}", json={}).status_code == 404
