"""The ``opnsense:`` section: the firewall that routes the lab's networks, and what it should hold.

Models check shapes (each field on its own); ``check_opnsense`` relates them to the rest of the
spec (networks that exist, aliases that rules name, the tool's own address inside a routed
network) and reports every problem with its path, so the validator gives it a file:line. Pure.

The API secret is never in the spec: it comes from the environment (``HOMELAB_OPNSENSE_SECRET``).
TLS is always verified: against ``ca_bundle``, a pinned ``fingerprint``, or the system store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

from homelab.core.spec.findings import Problem, error

if TYPE_CHECKING:
    from homelab.core.spec.models import LabSpec

ENV_SECRET = "HOMELAB_OPNSENSE_SECRET"  # noqa: S105  (a variable name, not a password)
FINGERPRINT_RE = r"^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$"
# OPNsense's AliasNameField: letters, digits and '_', at most 32 characters, not only digits.
ALIAS_NAME_RE = re.compile(r"^(?!\d+$)[A-Za-z0-9_]{1,32}$")
# OPNsense interface keys: lan, wan, optN, or a device-like name (InterfaceField keys).
INTERFACE_RE = r"^[a-z][a-z0-9_]{0,15}$"
DEVICE_RE = r"^[a-z][a-z0-9_.]{0,14}[0-9]$"
PORT_RE = re.compile(r"^(\d{1,5})(?:[-:](\d{1,5}))?$")
ANY = "any"
PORT_MAX = 65535


def _text(value: object) -> object:
    if not isinstance(value, str | IPv4Address):
        raise ValueError("expected an address written as text, e.g. 10.0.10.5")
    return value


Address = Annotated[IPv4Address, Strict(False), BeforeValidator(_text)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=False)


class RoutedNetwork(_Model):
    """One of the spec's networks as OPNsense routes it: a VLAN device on ``parent``."""

    parent: Annotated[str, Field(pattern=DEVICE_RE, description="parent device, e.g. vtnet1")]
    interface: Annotated[
        str,
        Field(
            pattern=INTERFACE_RE,
            description="OPNsense interface the VLAN is assigned to (lan, opt1...): the rules' "
            "interface; homelab assigns it with the network's gateway on 26.7 and later",
        ),
    ]
    dhcp: Annotated[
        bool, Field(description="the network's VMs get DHCP reservations (Dnsmasq or Kea)")
    ] = False


class AliasSpec(_Model):
    """An alias of the user's: hosts, networks or ports."""

    type: Literal["host", "network", "port"]
    content: Annotated[
        list[Annotated[str | int, Field(union_mode="left_to_right")]], Field(min_length=1)
    ]
    description: str = ""


Protocol = Literal["tcp", "udp", "tcp/udp", "icmp", "any"]


class RuleSpec(_Model):
    """A readable rule: from where, to where, which ports, pass or block."""

    description: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\n\r]*$")]
    source: Annotated[str, Field(alias="from", description="network, alias, VM, CIDR or any")]
    to: Annotated[str, Field(description="network, alias, VM, CIDR, firewall or any")]
    ports: list[Annotated[str | int, Field(union_mode="left_to_right")]] = Field(
        default_factory=list
    )
    protocol: Protocol = "tcp"
    action: Literal["pass", "block", "reject"] = "pass"
    log: bool = False
    at: Annotated[
        str | None, Field(description="network whose interface holds the rule; default: from")
    ] = None


class OpnsenseSpec(_Model):
    """Where OPNsense's API is, how to trust it, and what it routes, filters and names."""

    endpoint: Annotated[str, Field(pattern=r"^https://[^\s/:]+(:\d{1,5})?/?$")]
    key: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9+/=]{8,128}$",
            description=f"API key id; the secret comes from env {ENV_SECRET} only",
        ),
    ]
    fingerprint: Annotated[str | None, Field(pattern=FINGERPRINT_RE)] = None
    ca_bundle: str | None = None
    source: Annotated[
        Address, Field(description="the address the tool reaches the API from (lockout proof)")
    ]
    domain: Annotated[
        str | None, Field(description="lab DNS domain; default: <lab name>.home.arpa")
    ] = None
    networks: Annotated[dict[str, RoutedNetwork], Field(min_length=1)]
    aliases: dict[str, AliasSpec] = Field(default_factory=dict)
    default_rules: bool = True
    rules: list[RuleSpec] = Field(default_factory=list)

    @property
    def host(self) -> str:
        return self.endpoint.removeprefix("https://").rstrip("/").split(":")[0]

    @property
    def port(self) -> int:
        rest = self.endpoint.removeprefix("https://").rstrip("/")
        return int(rest.split(":")[1]) if ":" in rest else 443


API_HOSTNAME = "api"  # api.<domain>: the control-plane endpoint's name


def lab_domain(spec: LabSpec) -> str:
    assert spec.opnsense is not None
    return spec.opnsense.domain or f"{spec.name}.home.arpa"


def dns_names(spec: LabSpec) -> dict[str, str]:
    """The names OPNsense's Unbound gives the lab (none without an ``opnsense:`` section):
    ``api`` for the control-plane endpoint, then every VM, each ``<name>.<domain>``."""
    if spec.opnsense is None:
        return {}
    domain = lab_domain(spec)
    return {name: f"{name}.{domain}" for name in (API_HOSTNAME, *spec.vms)}


def parse_port(text: str | int) -> tuple[int, int] | None:
    """'6443' -> (6443, 6443); '30000-32767' (or ':') -> the range; else None."""
    match = PORT_RE.match(str(text).strip())
    if match is None:
        return None
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not 1 <= low <= high <= PORT_MAX:
        return None
    return low, high


def _is_address(text: str) -> bool:
    try:
        IPv4Network(text, strict=False)
    except ValueError:
        return False
    return True


def check_opnsense(spec: LabSpec) -> Iterator[Problem]:
    """Networks exist, aliases are well named and filled, rules name known places, trust set."""
    if spec.opnsense is None:
        return
    opn = spec.opnsense
    base = ("opnsense",)
    if opn.fingerprint and opn.ca_bundle:
        yield error((*base, "fingerprint"), "give either fingerprint or ca_bundle, not both")
    if opn.domain is not None and not re.match(
        r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$", opn.domain
    ):
        yield error((*base, "domain"), f"'{opn.domain}' is not a DNS domain (lowercase)")
    for name in opn.networks:
        if name not in spec.networks:
            known = ", ".join(spec.networks)
            yield error(
                (*base, "networks", name),
                f"'{name}' is not a network of the spec ({known})",
                on_key=True,
            )
    interfaces = [net.interface for net in opn.networks.values()]
    for name, net in opn.networks.items():
        if interfaces.count(net.interface) > 1:
            yield error(
                (*base, "networks", name, "interface"),
                f"interface '{net.interface}' routes two networks",
            )
    routed = [spec.networks[n].cidr for n in opn.networks if n in spec.networks]
    if not any(opn.source in cidr for cidr in routed):
        yield error(
            (*base, "source"),
            f"{opn.source} is in none of the routed networks: the lockout proof needs the "
            "interface the tool reaches OPNsense on",
        )
    yield from _check_aliases(spec)
    for index, rule in enumerate(opn.rules):
        yield from _check_rule(spec, rule, (*base, "rules", index))


def _check_aliases(spec: LabSpec) -> Iterator[Problem]:
    assert spec.opnsense is not None
    for name, alias in spec.opnsense.aliases.items():
        path = ("opnsense", "aliases", name)
        if not ALIAS_NAME_RE.match(name):
            yield error(
                path, f"alias name '{name}': letters, digits and '_', at most 32", on_key=True
            )
        for index, item in enumerate(alias.content):
            if alias.type == "port" and parse_port(item) is None:
                yield error((*path, "content", index), f"'{item}' is not a port or range (1-65535)")
            if alias.type in ("host", "network") and not _is_address(str(item)):
                yield error(
                    (*path, "content", index), f"'{item}' is not an IPv4 address or network"
                )


def places(spec: LabSpec) -> set[str]:
    """Every name a rule's from/to may use besides an address: networks, aliases, VMs."""
    assert spec.opnsense is not None
    return {ANY, "firewall", *spec.opnsense.networks, *spec.opnsense.aliases, *spec.vms}


def _check_rule(spec: LabSpec, rule: RuleSpec, path: tuple[str | int, ...]) -> Iterator[Problem]:
    assert spec.opnsense is not None
    known = places(spec)
    for key, value in (("from", rule.source), ("to", rule.to)):
        if value not in known and not _is_address(value):
            yield error((*path, key), f"'{value}' is no network, alias, VM or address of the lab")
    at = rule.at or rule.source
    if at not in spec.opnsense.networks:
        yield error(
            (*path, "at" if rule.at else "from"),
            f"'{at}' is not a routed network: say with 'at' which network's interface holds "
            "the rule",
        )
    if rule.ports and rule.protocol not in ("tcp", "udp", "tcp/udp"):
        yield error(
            (*path, "ports"), f"ports need protocol tcp, udp or tcp/udp, not {rule.protocol}"
        )
    port_aliases = {n for n, a in spec.opnsense.aliases.items() if a.type == "port"}
    for index, port in enumerate(rule.ports):
        if parse_port(port) is None and str(port) not in port_aliases:
            yield error((*path, "ports", index), f"'{port}' is not a port, range or port alias")


OPNSENSE_CHECKS = (check_opnsense,)
