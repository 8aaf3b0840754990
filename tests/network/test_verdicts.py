"""Rule verdicts: pf's order (floating first, sequence), quick vs last match, default deny."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from homelab.core.network.objects import Observed, mark
from homelab.core.network.verdicts import DEFAULT_DENY, Packet, alias_table, evaluate, ordered


def rule(seq: int, action: str = "pass", **fields: str) -> Observed:
    base = {"enabled": "1", "action": action, "quick": "1", "interface": "opt1", "direction": "in",
            "ipprotocol": "inet", "protocol": "any", "source_net": "any", "destination_net": "any",
            "destination_port": "", "sequence": str(seq), "description": f"r{seq}"}  # fmt: skip
    return Observed("rule", f"u{seq}", {**base, **fields})


def packet(port: int | None = 22, *, src: str = "10.0.10.5", dst: str = "10.0.20.10",
           protocol: str = "tcp", interface: str = "opt1") -> Packet:  # fmt: skip
    return Packet(interface, IPv4Address(src), IPv4Address(dst), port, protocol)


def test_no_rule_is_the_default_deny() -> None:
    verdict = evaluate([], {}, packet())
    assert not verdict.allowed and verdict.rule == DEFAULT_DENY
    assert verdict.text() == "blocked (default deny)"


def test_first_quick_match_by_sequence_wins() -> None:
    rules = [rule(20, "pass"), rule(10, "block")]
    verdict = evaluate(rules, {}, packet())
    assert not verdict.allowed and verdict.uuid == "u10"
    assert verdict.text() == "blocked by 'r10' (not the lab's)"


def test_without_quick_the_last_match_wins() -> None:
    rules = [rule(10, "block", quick="0"), rule(20, "pass", quick="0")]
    assert evaluate(rules, {}, packet()).uuid == "u20"
    assert evaluate([rule(10, "pass", quick="0")], {}, packet()).allowed


def test_floating_rules_come_first() -> None:
    rules = [rule(1, "pass"), rule(500, "block", interface="")]
    assert [r.uuid for r in ordered(rules)] == ["u500", "u1"]
    assert not evaluate(rules, {}, packet()).allowed


@pytest.mark.parametrize(
    ("fields", "matches"),
    [
        ({"interface": "opt2"}, False),
        ({"interface": "opt2", "interfacenot": "1"}, True),
        ({"enabled": "0"}, False),
        ({"direction": "out"}, False),
        ({"ipprotocol": "inet6"}, False),
        ({"protocol": "UDP"}, False),
        ({"protocol": "TCP/UDP"}, True),
        ({"source_net": "10.0.10.0/24"}, True),
        ({"source_net": "10.0.10.0/24", "source_not": "1"}, False),
        ({"destination_net": "10.0.20.10"}, True),
        ({"destination_net": "10.0.30.0/24"}, False),
        ({"destination_net": "10.0.30.0/24", "destination_not": "1"}, True),
        ({"destination_port": "22"}, True),
        ({"destination_port": "20-30"}, True),
        ({"destination_port": "80"}, False),
        ({"destination_net": "not_an_alias"}, False),
        ({"action": "nat"}, False),
    ],
)
def test_each_field_decides_a_match(fields: dict[str, str], matches: bool) -> None:
    verdict = evaluate([rule(1, **{"action": "pass", **fields})], {}, packet())
    assert verdict.allowed is matches


def test_aliases_resolve_nested_hosts_networks_and_ports() -> None:
    aliases = [
        Observed(
            "alias", "a1", {"name": "vms", "type": "host", "content": "10.0.20.10\n10.0.20.11"}
        ),
        Observed("alias", "a2", {"name": "lab", "type": "networkgroup", "content": "vms"}),
        Observed("alias", "a3", {"name": "web", "type": "port", "content": "80\n8000:8100"}),
    ]
    table = alias_table(aliases)
    found = rule(
        1,
        "pass",
        destination_net="lab",
        destination_port="web",
        description=mark("home-lab", "web"),
    )
    assert evaluate([found], table, packet(8080)).text() == "allowed by 'web'"
    assert not evaluate([found], table, packet(22)).allowed
    assert not evaluate([found], table, packet(8080, dst="10.0.20.12")).allowed
    assert not evaluate([found], table, packet(None)).allowed  # a port rule needs a port
