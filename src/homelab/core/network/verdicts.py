"""What a rule set does to one connection, and the proof that the tool's own path stays open.

OPNsense (pf) evaluates the rules of the interface a packet comes in on, in order: floating
rules (no interface, or several) first, then the interface's, each group by sequence. The first
matching ``quick`` rule decides; a matching rule without quick decides only if no later rule
matches. No match: the default deny. Rules are read as the API holds them (the fields of a
filter rule), so the same code judges the rules on the firewall and the ones a plan would leave
there. Only IPv4 inbound rules are judged. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_network

from homelab.core.network.objects import Observed, owner_of

DEFAULT_DENY = "default deny"
Aliases = Mapping[str, tuple[str, list[str]]]  # name -> (type, content items)


@dataclass(frozen=True)
class Packet:
    """A connection's first packet: where it enters, from, to, which port and protocol."""

    interface: str
    source: IPv4Address
    destination: IPv4Address
    port: int | None
    protocol: str = "tcp"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: str  # the deciding rule's label (its description without the mark), or default deny
    uuid: str | None = None

    def text(self) -> str:
        word = "allowed" if self.allowed else "blocked"
        return f"{word} by {self.rule}" if self.rule != DEFAULT_DENY else f"{word} ({self.rule})"


def ordered(rules: Sequence[Observed]) -> list[Observed]:
    """Floating rules first, then per interface; each by sequence, ties in the API's order."""

    def key(item: tuple[int, Observed]) -> tuple[int, int, int]:
        index, rule = item
        floating = len([i for i in rule.fields.get("interface", "").split(",") if i]) != 1
        try:
            sequence = int(rule.fields.get("sequence", "0") or 0)
        except ValueError:
            sequence = 0
        return (0 if floating else 1, sequence, index)

    return [rule for _, rule in sorted(enumerate(rules), key=key)]


def evaluate(rules: Sequence[Observed], aliases: Aliases, packet: Packet) -> Verdict:
    """The verdict of ``rules`` (in any order: they are ordered here) on ``packet``."""
    pending: Verdict | None = None
    for rule in ordered(rules):
        if not _matches(rule.fields, aliases, packet):
            continue
        verdict = Verdict(rule.fields.get("action") == "pass", label_of(rule), rule.uuid or None)
        if rule.fields.get("quick", "1") == "1":
            return verdict
        pending = verdict
    return pending or Verdict(False, DEFAULT_DENY)


def label_of(rule: Observed) -> str:
    description = rule.fields.get("description", "")
    owner = owner_of(description)
    return f"'{owner[1]}'" if owner else f"'{description or rule.uuid}' (not the lab's)"


def _matches(fields: Mapping[str, str], aliases: Aliases, packet: Packet) -> bool:
    if fields.get("enabled", "1") != "1" or fields.get("action") not in ("pass", "block", "reject"):
        return False
    if fields.get("direction", "in") not in ("in", "any"):
        return False
    if fields.get("ipprotocol", "inet") not in ("inet", "inet46"):
        return False
    interfaces = [i for i in fields.get("interface", "").split(",") if i]
    on_it = not interfaces or packet.interface in interfaces
    if on_it == (fields.get("interfacenot") == "1"):
        return False
    if not _protocol(fields.get("protocol", "any"), packet.protocol):
        return False
    source = _net(fields.get("source_net", "any"), aliases, packet.source)
    if source == (fields.get("source_not") == "1"):
        return False
    dest = _net(fields.get("destination_net", "any"), aliases, packet.destination)
    if dest == (fields.get("destination_not") == "1"):
        return False
    return _port(fields.get("destination_port", ""), aliases, packet.port)


def _protocol(rule: str, packet: str) -> bool:
    rule = rule.lower()
    return rule == "any" or packet in rule.split("/")


def _net(value: str, aliases: Aliases, address: IPv4Address, depth: int = 0) -> bool:
    for item in [i.strip() for i in value.split(",") if i.strip()]:
        if item == "any":
            return True
        if item in aliases and depth < 8:
            kind, content = aliases[item]
            if kind in ("host", "network", "networkgroup") and any(
                _net(entry, aliases, address, depth + 1) for entry in content
            ):
                return True
            continue
        network = _network(item)
        if network is not None and address in network:
            return True
    return False


def _network(text: str) -> IPv4Network | None:
    try:
        found = ip_network(text, strict=False)
    except ValueError:
        return None
    return found if isinstance(found, IPv4Network) else None


def _port(value: str, aliases: Aliases, port: int | None, depth: int = 0) -> bool:
    if value in ("", "any"):
        return True
    if port is None:
        return False
    if value in aliases and depth < 8:
        return any(_port(entry, aliases, port, depth + 1) for entry in aliases[value][1])
    for separator in ("-", ":"):
        if separator in value:
            low, _, high = value.partition(separator)
            return low.isdigit() and high.isdigit() and int(low) <= port <= int(high)
    return value.isdigit() and int(value) == port


def alias_table(aliases: Sequence[Observed]) -> dict[str, tuple[str, list[str]]]:
    """Observed aliases as the evaluator reads them."""
    table = {}
    for alias in aliases:
        content = alias.fields.get("content", "")
        items = [i.strip() for i in content.replace(",", "\n").split("\n") if i.strip()]
        table[alias.fields.get("name", "")] = (alias.fields.get("type", ""), items)
    return table
