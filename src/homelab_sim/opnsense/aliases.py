"""Firewall aliases (``models/OPNsense/Firewall/Alias.xml``): fields, checks, use and resolution.

Names follow ``AliasNameField`` (a letter or one underscore first, under 32 characters, not a
pf keyword nor a protocol or service name); content follows ``AliasContentField`` per type,
newline-separated. ``where_used`` is ``Alias::whereUsed`` (filter rules and other aliases),
which makes deleting a used alias a ``UserException``. ``resolve_networks``/``resolve_ports``
expand nested aliases for rule evaluation.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from homelab_sim.opnsense.fields import (
    Context,
    Field,
    categories,
    description,
    is_domain,
    is_ip,
    is_subnet,
)
from homelab_sim.opnsense.models import ModelSpec, Record, Table, unique

NAME_MESSAGE = (
    "The name must start with a letter or single underscore, be less than 32 characters and "
    "only consist of alphanumeric characters or underscores."
)
RESERVED_MESSAGE = 'The name cannot be the internally reserved keyword "%s".'
SERVICE_MESSAGE = "Reserved protocol or service names may not be used"
_NAME = re.compile(r"^([a-zA-Z]|(([_a-zA-Z][a-zA-Z0-9]|[a-zA-Z][_a-zA-Z0-9])[_a-zA-Z0-9]{0,29}))$")
# pfctl's parse.y keywords that fit the name pattern (AliasNameField's $reservedwords)
RESERVED = frozenset(
    [
        "all",
        "altq",
        "anchor",
        "antispoof",
        "any",
        "bandwidth",
        "binat",
        "bitmask",
        "block",
        "buckets",
        "cbq",
        "code",
        "codelq",
        "crop",
        "debug",
        "drop",
        "fairq",
        "fastroute",
        "file",
        "fingerprints",
        "flags",
        "floating",
        "flush",
        "for",
        "fragment",
        "from",
        "global",
        "group",
        "hfsc",
        "hogs",
        "hostid",
        "in",
        "include",
        "inet",
        "inet6",
        "interval",
        "keep",
        "label",
        "limit",
        "linkshare",
        "load",
        "log",
        "loginterface",
        "max",
        "min",
        "modulate",
        "nat",
        "no",
        "on",
        "optimization",
        "os",
        "out",
        "overload",
        "pass",
        "port",
        "prio",
        "priority",
        "priq",
        "probability",
        "proto",
        "qlimit",
        "queue",
        "quick",
        "random",
        "rdr",
        "realtime",
        "reassemble",
        "return",
        "route",
        "rtable",
        "rule",
        "scrub",
        "set",
        "skip",
        "sloppy",
        "state",
        "synproxy",
        "table",
        "tag",
        "tagged",
        "target",
        "tbrsize",
        "timeout",
        "to",
        "tos",
        "ttl",
        "upperlimit",
        "user",
    ]
)
# getservbyname()/getprotobyname() hits a lab is likely to try (FreeBSD /etc/services, protocols)
SERVICES = frozenset(
    [
        "ssh",
        "http",
        "https",
        "domain",
        "ntp",
        "smtp",
        "ftp",
        "telnet",
        "tftp",
        "snmp",
        "ldap",
        "ldaps",
        "imap",
        "imaps",
        "pop3",
        "pop3s",
        "syslog",
        "kerberos",
        "bgp",
        "rsync",
        "nfs",
        "mysql",
        "postgresql",
        "ip",
        "icmp",
        "igmp",
        "tcp",
        "udp",
        "gre",
        "esp",
        "ah",
        "ipv6",
        "ipv6-icmp",
        "carp",
        "pfsync",
        "ospf",
        "vrrp",
        "sctp",
    ]
)
TYPES = {
    "host": "Host(s)",
    "network": "Network(s)",
    "port": "Port(s)",
    "url": "URL (IPs)",
    "urltable": "URL Table (IPs)",
    "urljson": "URL Table in JSON format (IPs)",
    "geoip": "GeoIP",
    "networkgroup": "Network group",
    "mac": "MAC address",
    "asn": "BGP ASN",
    "dynipv6host": "Dynamic IPv6 Host",
    "authgroup": "OpenVPN group",
    "internal": "Internal (automatic)",
    "external": "External (advanced)",
}


def check_name(value: str, ctx: Context) -> list[str]:
    messages = []
    if not _NAME.match(value):
        messages.append(NAME_MESSAGE)
    if value in RESERVED:
        messages.append(RESERVED_MESSAGE)  # upstream never fills the %s in
    if value.lower() in SERVICES:
        messages.append(SERVICE_MESSAGE)
    return messages


def _is_port(item: str) -> bool:
    parts = item.split(":")
    return 1 <= len(parts) <= 2 and all(p.isdigit() and 0 <= int(p) <= 65535 for p in parts)


def check_content(value: str, ctx: Context) -> list[str]:
    kind = ctx.record.get("type", "")
    items = value.split("\n")
    if kind == "port":
        bad = [i for i in items if i not in ctx.alias_names and not _is_port(i)]
        return [f'Entry "{i}" is not a valid port number.' for i in bad]
    if kind == "host":
        return [
            f'Entry "{i}" is not a valid hostname, IP address or range.'
            for i in items
            if not _host_ok(i, ctx)
        ]
    if kind == "network":
        return [f'Entry "{i}" is not a network.' for i in items if not _network_ok(i, ctx)]
    if kind == "networkgroup":
        return [f'Entry "{i}" is not a valid alias.' for i in items if i not in ctx.alias_names]
    return []


def _host_ok(item: str, ctx: Context) -> bool:
    bounds = item.split("-")
    if len(bounds) == 2 and is_ip(bounds[0]):
        return is_ip(bounds[1])
    if item.startswith("!") and is_ip(item[1:]):
        return True
    return item in ctx.alias_names or is_ip(item) or is_domain(item)


def _network_ok(item: str, ctx: Context) -> bool:
    plain = item[1:] if item.startswith("!") else item
    if item.startswith("!") and (is_ip(plain) or is_subnet(plain)):
        return True
    bounds = item.split("-")
    return (
        item in ctx.alias_names
        or is_ip(item)
        or is_subnet(item)
        or (len(bounds) == 2 and all(is_ip(b) for b in bounds))
    )


SPEC = ModelSpec(
    item="alias",
    fields={
        "enabled": Field("bool", default="1", required=True),
        "name": Field(required=True, checks=(check_name,)),
        "type": Field("option", default="alert", required=True, options=TYPES),
        "proto": Field("option", options={"IPv4": "IPv4", "IPv6": "IPv6"}, multiple=True),
        "categories": Field(checks=(categories,)),
        "content": Field(checks=(check_content,), separator="\n"),
        "interface": Field(),
        "counters": Field("bool"),
        "updatefreq": Field(),
        "description": Field(checks=(description,)),
    },
    checks=(unique("name", "An alias with this name already exists."),),
    sort="name",
)

RULE_ALIAS_FIELDS = ("source_net", "source_port", "destination_net", "destination_port")


def where_used(name: str, aliases: Table, rules: Table) -> dict[str, str]:
    """Alias::whereUsed: rules by position and field, aliases whose content names it."""
    used: dict[str, str] = {}
    for index, (_, rule) in enumerate(rules.items()):
        for fieldname in RULE_ALIAS_FIELDS:
            if name in rule.get(fieldname, "").split(","):
                # searchConfig reads ``descr``, which MVC rules do not have: the text stays empty
                used[f"OPNsense.Firewall.Filter.rules.rule.{index}/{fieldname}"] = ""
    for uuid, alias in aliases.items():
        if alias.get("type") not in ("geoip", "urltable") and name in alias.get(
            "content", ""
        ).split("\n"):
            used[f"aliases.alias.{uuid}"] = alias.get("description") or alias.get("name", "")
    return used


def in_use_message(name: str, used: Mapping[str, str]) -> str:
    listing = "".join(f"\n[{key}] {value}" for key, value in used.items())
    return f"Cannot delete alias {name}. Currently in use by {listing}"


def by_name(aliases: Table) -> dict[str, Record]:
    return {
        record["name"]: record for _, record in aliases.items() if record.get("enabled", "1") == "1"
    }


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def resolve_networks(
    name: str, aliases: Mapping[str, Record], seen: frozenset[str] = frozenset()
) -> list[Network]:
    """The networks a host/network/networkgroup alias stands for (host names resolve to nothing)."""
    record = aliases.get(name)
    if (
        record is None
        or name in seen
        or record.get("type") not in ("host", "network", "networkgroup")
    ):
        return []
    out: list[Network] = []
    for item in [i for i in record.get("content", "").split("\n") if i]:
        if item in aliases:
            out.extend(resolve_networks(item, aliases, seen | {name}))
        elif is_ip(item) or is_subnet(item):
            out.append(ipaddress.ip_network(item, strict=False))
        elif "-" in item and all(is_ip(b) for b in item.split("-")):
            first, last = (ipaddress.ip_address(b) for b in item.split("-"))
            out.extend(ipaddress.summarize_address_range(first, last))
    return out


def resolve_ports(
    name: str, aliases: Mapping[str, Record], seen: frozenset[str] = frozenset()
) -> list[tuple[int, int]]:
    """The port ranges a port alias stands for (nested port aliases expanded)."""
    record = aliases.get(name)
    if record is None or name in seen or record.get("type") != "port":
        return []
    out: list[tuple[int, int]] = []
    for item in [i for i in record.get("content", "").split("\n") if i]:
        if item in aliases:
            out.extend(resolve_ports(item, aliases, seen | {name}))
        elif _is_port(item):
            low, _, high = item.partition(":")
            out.append((int(low), int(high or low)))
    return out
