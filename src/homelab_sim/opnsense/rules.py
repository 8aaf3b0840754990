"""Filter rules (``models/OPNsense/Firewall/Filter.xml``, ``Filter.php``) and their evaluation.

The spec carries the rule fields a lab uses, with the model's defaults and messages, and the
cross-field checks of ``Filter::performValidation`` (ports only for TCP/UDP, address family,
``any`` not combined). ``evaluate`` answers what pf would do with one packet under a rule set:
the anti-lockout rule first (pass to the LAN address on the GUI, HTTP and SSH ports, unless
disabled), then floating rules (no interface, or several), then the interface's rules, each
group in ``sequence`` order; pf keeps the last matching rule unless a ``quick`` one matches
first. After the MVC rules come the legacy rules of a fresh install ("Default allow LAN to
any", unless disabled); no match is the default deny.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from homelab_sim.opnsense import aliases as alias_model
from homelab_sim.opnsense.fields import (
    WELL_KNOWN_PORTS,
    Context,
    Field,
    categories,
    description,
    is_ip,
    is_subnet,
)
from homelab_sim.opnsense.models import ModelSpec, Record, Table

PORT_MESSAGE = "Please specify a valid portnumber, name, alias or range."
PORT_PROTOCOLS = ("TCP", "UDP", "TCP/UDP")
PROTOCOLS = {
    "any": "any", "TCP": "TCP", "UDP": "UDP", "TCP/UDP": "TCP/UDP", "ICMP": "ICMP", "ESP": "ESP",
    "AH": "AH", "GRE": "GRE", "IGMP": "IGMP", "PIM": "PIM", "OSPF": "OSPF",
    "IPV6-ICMP": "IPV6-ICMP",
    "CARP": "CARP", "PFSYNC": "PFSYNC", "SCTP": "SCTP", "VRRP": "VRRP",
}  # fmt: skip


@dataclass(frozen=True)
class Interface:
    """An assigned interface: ``name`` as rules use it (lan, opt1), its device and address."""

    name: str
    device: str
    address: str  # "10.0.10.1/24"
    description: str = ""

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_interface(self.address).ip

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_interface(self.address).network

    @property
    def label(self) -> str:
        return self.description or self.name.upper()


def check_network_alias(value: str, ctx: Context) -> list[str]:
    """NetworkAliasField: every item a known name, or the whole value one address/subnet."""
    if is_ip(value) or is_subnet(value):
        return []
    known = (
        {"any", "(self)"}
        | set(ctx.interfaces)
        | {f"{i}ip" for i in ctx.interfaces}
        | set(ctx.alias_names - ctx.port_alias_names)
    )
    if all(item in known for item in value.split(",")):
        return []
    return [f"{value} is not a valid source IP address or alias."]


def check_port(value: str, ctx: Context) -> list[str]:
    """PortField with well-known names, ranges (low-high) and port aliases."""
    if value in WELL_KNOWN_PORTS or value == "any" or value in ctx.port_alias_names:
        return []
    if value.isdigit() and 1 <= int(value) <= 65535 and str(int(value)) == value:
        return []
    low, sep, high = value.partition("-")
    if sep and low.isdigit() and high.isdigit() and 1 <= int(low) < int(high) <= 65535:
        return []
    return [PORT_MESSAGE]


def check_rule(uuid: str, record: Record, table: Table, ctx: Context) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    protocol = record.get("protocol", "")
    if record.get("source_port") and protocol not in PORT_PROTOCOLS:
        found.append(("source_port", "Source ports are only valid for tcp or udp type rules."))
    if record.get("destination_port") and protocol not in PORT_PROTOCOLS:
        found.append(
            ("destination_port", "Destination ports are only valid for tcp or udp type rules.")
        )
    for side, text in (("destination", "Destination"), ("source", "Source")):
        net = record.get(f"{side}_net", "")
        family = "inet6" if ":" in net else "inet"
        if (is_ip(net) or is_subnet(net)) and family != record.get("ipprotocol"):
            found.append(
                (
                    f"{side}_net",
                    f"{text} address type should match selected TCP/IP protocol version.",
                )
            )
    for name in ("source_net", "destination_net"):
        if "," in record.get(name, "") and "any" in record[name].split(","):
            found.append((name, "Any can not be combined with other aliases"))
    return found


def next_sequence(table: Table, record: Record) -> None:
    """FilterSequenceField::applyDefault: a new rule goes 100 after the highest sequence."""
    numbers = [
        int(r.get("sequence", "0")) for _, r in table.items() if r.get("sequence", "").isdigit()
    ]
    record["sequence"] = str(max([1, *numbers]) + 100)


def _spec() -> ModelSpec:
    boolean = Field("bool", default="0", required=True)
    return ModelSpec(
        item="rule",
        fields={
            "enabled": Field("bool", default="1", required=True),
            "statetype": Field(
                "option",
                default="keep",
                required=True,
                options={
                    "keep": "keep state",
                    "sloppy": "sloppy state",
                    "modulate": "modulate state",
                    "synproxy": "synproxy state",
                    "none": "no state",
                },
            ),
            "sequence": Field(
                "int",
                default="1",
                required=True,
                minimum=1,
                maximum=999999,
                message="Sequence shall be between 1 and 999999.",
            ),
            "action": Field(
                "option",
                default="pass",
                required=True,
                options={"pass": "Pass", "block": "Block", "reject": "Reject"},
            ),
            "quick": Field("bool", default="1", required=True),
            "interfacenot": boolean,
            "interface": Field("interface", multiple=True),
            "direction": Field(
                "option",
                default="in",
                required=True,
                options={"in": "In", "out": "Out", "any": "Both"},
            ),
            "ipprotocol": Field(
                "option",
                default="inet",
                required=True,
                options={"inet": "IPv4", "inet6": "IPv6", "inet46": "any"},
            ),
            "protocol": Field("option", default="any", required=True, options=PROTOCOLS),
            "source_net": Field(default="any", required=True, checks=(check_network_alias,)),
            "source_not": boolean,
            "source_port": Field(checks=(check_port,)),
            "destination_net": Field(default="any", required=True, checks=(check_network_alias,)),
            "destination_not": boolean,
            "destination_port": Field(checks=(check_port,)),
            "gateway": Field(),
            "log": boolean,
            "categories": Field(checks=(categories,)),
            "description": Field(checks=(description,)),
        },
        checks=(check_rule,),
        sort="sequence",
        fresh=next_sequence,
    )


SPEC = _spec()


@dataclass(frozen=True)
class Verdict:
    """What the packet filter did: ``pass``/``block``/``reject``, by which rule."""

    action: str
    rule: str  # a rule uuid, "anti-lockout" or "default deny"
    description: str = ""

    @property
    def allowed(self) -> bool:
        return self.action == "pass"


@dataclass(frozen=True)
class Packet:
    interface: str
    source: str
    destination: str
    protocol: str = "tcp"
    port: int | None = None


@dataclass(frozen=True)
class RuleSet:
    """A running rule set with what it needs to resolve names."""

    rules: Table
    aliases: Mapping[str, Record]
    interfaces: Mapping[str, Interface]
    anti_lockout: bool = True
    lockout_ports: Sequence[int] = (443, 80, 22)
    lan_default_allow: bool = True


def evaluate(ruleset: RuleSet, packet: Packet) -> Verdict:
    if _anti_lockout(ruleset, packet):
        return Verdict("pass", "anti-lockout", "Anti-Lockout Rule")
    chosen: Verdict | None = None
    for uuid, rule in ordered(ruleset.rules):
        if _matches(ruleset, rule, packet):
            chosen = Verdict(rule.get("action", "pass"), uuid, rule.get("description", ""))
            if rule.get("quick", "1") == "1":
                return chosen
    if chosen is None and _lan_default_allow(ruleset, packet):
        return Verdict("pass", "default allow LAN", "Default allow LAN to any rule")
    return chosen or Verdict("block", "default deny", "Default deny / state violation rule")


def _lan_default_allow(ruleset: RuleSet, packet: Packet) -> bool:
    """The legacy rules of a fresh install: pass in quick on lan from the LAN net (after MVC)."""
    lan = ruleset.interfaces.get("lan")
    if not ruleset.lan_default_allow or lan is None or packet.interface != "lan":
        return False
    source = _ip(packet.source)
    return source.version == lan.network.version and source in lan.network


def _anti_lockout(ruleset: RuleSet, packet: Packet) -> bool:
    lan = ruleset.interfaces.get("lan")
    if not ruleset.anti_lockout or lan is None or packet.interface != "lan":
        return False
    return (
        packet.protocol == "tcp"
        and packet.port in ruleset.lockout_ports
        and _ip(packet.destination) == lan.ip
    )


def priority(record: Record) -> int:
    """FilterRuleField::getPriority: floating rules (not exactly one interface, or inverted)
    200000, single-interface rules 400000 (interface groups are not modelled)."""
    interfaces = [i for i in record.get("interface", "").split(",") if i]
    return 200000 if len(interfaces) != 1 or record.get("interfacenot") == "1" else 400000


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def ordered(rules: Table) -> list[tuple[str, Record]]:
    """The rules by ``sort_order``: priority group, then sequence."""
    return sorted(
        rules.items(), key=lambda item: (priority(item[1]), _number(item[1].get("sequence", "")))
    )


def listed(record: Record, interfaces: list[str] | None) -> bool:
    """FilterController::searchRule's interface filter (26.1 and later): no ``interface``
    parameter (None) lists every rule; an empty one the floating view (rules not bound to
    exactly one interface); otherwise the rules on any of them. A rule without an interface is
    always listed; an inverted one when none of its interfaces is asked for."""
    mine = [i for i in record.get("interface", "").split(",") if i]
    if interfaces is None or not mine:
        return True
    if record.get("interfacenot") == "1":
        return not set(mine) & set(interfaces)
    if not interfaces and len(mine) != 1:
        return True
    return bool(set(mine) & set(interfaces))


def _matches(ruleset: RuleSet, rule: Record, packet: Packet) -> bool:
    if rule.get("enabled", "1") != "1" or rule.get("direction", "in") not in ("in", "any"):
        return False
    interfaces = [i for i in rule.get("interface", "").split(",") if i]
    if interfaces and (packet.interface in interfaces) == (rule.get("interfacenot") == "1"):
        return False
    version = _ip(packet.source).version
    if {"inet": 4, "inet6": 6}.get(rule.get("ipprotocol", "inet"), version) != version:
        return False
    if not _protocol_matches(rule.get("protocol", "any"), packet.protocol):
        return False
    if _net_matches(ruleset, rule.get("source_net", "any"), packet.source) == (
        rule.get("source_not") == "1"
    ):
        return False
    if _net_matches(ruleset, rule.get("destination_net", "any"), packet.destination) == (
        rule.get("destination_not") == "1"
    ):
        return False
    return _port_matches(ruleset, rule.get("destination_port", ""), packet.port)


def _protocol_matches(rule_protocol: str, protocol: str) -> bool:
    if rule_protocol == "any":
        return True
    if rule_protocol == "TCP/UDP":
        return protocol.lower() in ("tcp", "udp")
    return rule_protocol.lower() == protocol.lower()


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def _net_matches(ruleset: RuleSet, value: str, address: str) -> bool:
    ip = _ip(address)
    for item in value.split(","):
        if item == "any":
            return True
        if item == "(self)" and any(i.ip == ip for i in ruleset.interfaces.values()):
            return True
        if item in ruleset.interfaces and ip in ruleset.interfaces[item].network:
            return True
        if (
            item.endswith("ip")
            and item[:-2] in ruleset.interfaces
            and ruleset.interfaces[item[:-2]].ip == ip
        ):
            return True
        if is_ip(item) or is_subnet(item):
            if ip in ipaddress.ip_network(item, strict=False):
                return True
        elif any(ip in net for net in alias_model.resolve_networks(item, ruleset.aliases)):
            return True
    return False


def _port_matches(ruleset: RuleSet, value: str, port: int | None) -> bool:
    if value in ("", "any"):
        return True
    if port is None:
        return False
    if value in WELL_KNOWN_PORTS:
        return port == WELL_KNOWN_PORTS[value]
    if value.isdigit():
        return port == int(value)
    low, sep, high = value.partition("-")
    if sep and low.isdigit() and high.isdigit():
        return int(low) <= port <= int(high)
    return any(lo <= port <= hi for lo, hi in alias_model.resolve_ports(value, ruleset.aliases))
