"""The opnsense: section: the example is valid; each mistake is reported at its line."""

from __future__ import annotations

import pytest

from homelab.core.spec.opnsense import parse_port
from homelab.core.spec.validate import validate_text


def test_the_example_is_valid(example_text: str) -> None:
    result = validate_text(example_text, "lab.yaml")
    assert result.ok, result.lines()
    assert result.spec is not None and result.spec.opnsense is not None
    assert result.spec.opnsense.port == 443
    assert result.spec.opnsense.host == "10.0.10.1"


def _errors(text: str) -> list[str]:
    return [f.format("lab.yaml") for f in validate_text(text, "lab.yaml").errors]


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        ("    apps: {parent: vtnet1, interface: opt2, dhcp: true}",
         "    dmz: {parent: vtnet1, interface: opt2}",
         "opnsense.networks.dmz", "not a network of the spec"),
        ("interface: opt2, dhcp", "interface: opt1, dhcp",
         "opnsense.networks.apps.interface", "routes two networks"),
        ("source: 10.0.10.5 ", "source: 192.168.7.5 ",
         "opnsense.source", "in none of the routed networks"),
        ("content: [10.0.10.5]", "content: [10.0.10.500]",
         "opnsense.aliases.admin_hosts.content[0]", "not an IPv4"),
        ("to: apps, ports: [3000]", "to: nowhere, ports: [3000]",
         "opnsense.rules[0].to", "no network, alias, VM"),
        ("ports: [3000]", "ports: [70000]", "opnsense.rules[0].ports[0]", "not a port"),
        (" at: mgmt,", "", "opnsense.rules[0].from", "say with 'at'"),
        ("domain: home-lab.home.arpa", "domain: Bad_Domain", "opnsense.domain", "not a DNS domain"),
        ("key: w86", "key: '!!'\n  x: w86", "opnsense.key", ""),
    ],
)  # fmt: skip
def test_mistakes_are_reported_at_their_line(
    example_text: str, old: str, new: str, path: str, message: str
) -> None:
    assert old in example_text
    text = example_text.replace(old, new, 1)
    errors = _errors(text)
    mine = [
        e
        for e in errors
        if f": {path}: " in e or f": {path}" in e.split(" error: ")[-1][: len(path) + 2]
    ]
    assert mine, errors
    assert message in mine[0]
    line = int(mine[0].split(":")[1])
    assert line >= _line_of(text, "opnsense:")


def test_both_trusts_refused(example_text: str) -> None:
    text = example_text.replace(
        "fingerprint: null                     # SHA-256 pin of the GUI",
        f"fingerprint: {':'.join(['AB'] * 32)}\n  ca_bundle: ca.pem\n  #",
        1,
    )
    assert any("either fingerprint or ca_bundle" in e for e in _errors(text))


def test_ports_need_tcp_or_udp_and_port_aliases_count(example_text: str) -> None:
    text = example_text.replace("ports: [3000], log: true", "ports: [web], protocol: icmp", 1)
    text = text.replace(
        "  default_rules: true",
        "    web: {type: port, content: ['8080-8090', 'x']}\n  default_rules: true",
        1,
    )
    errors = _errors(text)
    assert any("opnsense.rules[0].ports: ports need protocol tcp" in e for e in errors)
    assert any("opnsense.aliases.web.content[1]: 'x' is not a port" in e for e in errors)
    assert not any("rules[0].ports[0]" in e for e in errors)


def test_alias_names_follow_opnsense(example_text: str) -> None:
    text = example_text.replace("    admin_hosts:", "    admin-hosts:", 1).replace(
        "from: admin_hosts", "from: admin-hosts", 1
    )
    assert any("alias name 'admin-hosts'" in e for e in _errors(text))


@pytest.mark.parametrize(
    ("text", "bounds"),
    [("22", (22, 22)), ("30000-32767", (30000, 32767)), ("80:90", (80, 90)), (443, (443, 443)),
     ("0", None), ("90-80", None), ("70000", None), ("ssh", None)],
)  # fmt: skip
def test_parse_port(text: str | int, bounds: tuple[int, int] | None) -> None:
    assert parse_port(text) == bounds
