"""The models behind VLAN devices, DNS overrides and DHCP reservations, with upstream's checks.

- ``VLAN``: ``models/OPNsense/Interfaces/Vlan.xml`` (parent ``if``, ``tag`` 1-4094 unique per
  parent, ``pcp``, ``proto``, ``descr``; ``vlanif`` is named by the controller: vlan01, vlan02...).
- ``UNBOUND_HOST``: ``Unbound.xml`` host overrides (``hostname``, ``domain``, ``rr``,
  ``server`` required for A/AAAA).
- ``DNSMASQ_HOST``: ``Dnsmasq.xml`` hosts and ``Dnsmasq::performValidation`` (a DHCP host needs a
  unique address; a plain override needs both host and address).
- ``KEA_RESERVATION``/``KEA_SUBNET``: ``KeaDhcpv4.xml`` and ``KeaDhcpv4::performValidation``.
- ``ASSIGNMENT``: the 26.7 ``interfaces/assignment`` items (device, description, address).
"""

from __future__ import annotations

import ipaddress

from homelab_sim.opnsense.fields import (
    DESCRIPTION_MESSAGE,
    HOSTNAME_MESSAGE,
    NETWORK_MESSAGE,
    Checker,
    Context,
    Field,
    address_list,
    description,
    hostname_field,
    ipv4_address,
    is_ip,
    mac_address,
    mac_list,
    masked,
    single_address,
)
from homelab_sim.opnsense.models import ModelSpec, Record, Table, unique

PCP = {
    "1": "Background (1, lowest)",
    "0": "Best Effort (0, default)",
    "2": "Excellent Effort (2)",
    "3": "Critical Applications (3)",
    "4": "Video (4)",
    "5": "Voice (5)",
    "6": "Internetwork Control (6)",
    "7": "Network Control (7, highest)",
}


def _not_itself(uuid: str, record: Record, table: Table, ctx: Context) -> list[tuple[str, str]]:
    if record.get("if") and record.get("if") == record.get("vlanif"):
        return [("if", "VLAN can not be assigned to itself.")]
    return []


VLAN = ModelSpec(
    item="vlan",
    fields={
        "if": Field("device", required=True),
        "tag": Field("int", required=True, minimum=1, maximum=4094),
        "pcp": Field("option", default="0", required=True, options=PCP),
        "proto": Field(
            "option", options={"802.1q": "802.1q", "802.1ad": "802.1ad"}, blank="Automatic"
        ),
        "descr": Field(checks=(description,)),
        "vlanif": Field(required=True),
    },
    checks=(
        unique("tag", "Tag for this device must be unique.", with_fields=("if",)),
        unique("vlanif", "The device name must be unique."),
        _not_itself,
    ),
    sort="vlanif",
)

_DOMAIN = (
    r"^(?:(?:[a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*(?:[a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$"
)


def _server_required(
    uuid: str, record: Record, table: Table, ctx: Context
) -> list[tuple[str, str]]:
    if record.get("rr") in ("A", "AAAA") and not record.get("server"):
        return [("server", "The field IP address is required.")]
    return []


UNBOUND_HOST = ModelSpec(
    item="host",
    fields={
        "enabled": Field("bool", default="1", required=True),
        "hostname": Field(
            checks=(hostname_field("A valid hostname must be specified.", wildcard=True),)
        ),
        "domain": Field(
            required=True, checks=(masked("(?i)" + _DOMAIN, "A valid domain must be specified."),)
        ),
        "rr": Field(
            "option",
            default="A",
            required=True,
            options={
                "A": "A (IPv4 address)",
                "AAAA": "AAAA (IPv6 address)",
                "MX": "MX (mail server)",
                "TXT": "TXT (text)",
            },
        ),
        "mxprio": Field("int"),
        "mx": Field(),
        "ttl": Field("int", minimum=0, maximum=2147483647),
        "server": Field(checks=(single_address,)),
        "txtdata": Field(checks=(description,)),
        "addptr": Field("bool", default="1", required=True),
        "description": Field(checks=(description,)),
    },
    checks=(_server_required,),
    sort="hostname",
)

DNSMASQ_LABEL_MESSAGE = (
    "Labels must be 1\u201363 characters, start with a letter or digit, "
    "and may contain only letters, digits, '-' or '_'. "
)


def _dnsmasq_label(value: str, ctx: Context) -> list[str]:
    labels = value.split(".")
    ok = all(
        label == "*"
        or (
            0 < len(label) < 64
            and label[0].isalnum()
            and label.replace("-", "").replace("_", "").isalnum()
        )
        for label in labels
    )
    return [] if ok else [DNSMASQ_LABEL_MESSAGE]


def _dnsmasq_host(uuid: str, record: Record, table: Table, ctx: Context) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    is_dhcp = bool(record.get("hwaddr") or record.get("client_id"))
    addresses = [a for a in record.get("ip", "").split(",") if a]
    if is_dhcp:
        for ip in addresses:
            if ip.startswith("::"):
                continue
            others = [
                o
                for u, o in table.rows.items()
                if u != uuid and (o.get("hwaddr") or o.get("client_id"))
            ]
            if any(ip in o.get("ip", "").split(",") for o in others):
                found.append(("ip", f"'{ip}' is already used in another DHCP host entry."))
        if sum(1 for ip in addresses if ":" not in ip) > 1:
            found.append(("ip", "For IPv4 dhcp reservations, only a single address is allowed."))
        if not record.get("host") and not addresses:
            text = "At least a hostname or IP address must be provided for DHCP reservations."
            found.extend([("host", text), ("ip", text)])
        if record.get("host") == "*":
            found.append(("host", "Wildcard entries are not allowed for DHCP reservations."))
    elif not record.get("host") or not addresses:
        text = "Both hostname and IP address are required for host overrides."
        found.extend([("host", text), ("ip", text)])
    return found


DNSMASQ_HOST = ModelSpec(
    item="host",
    fields={
        "host": Field(checks=(_dnsmasq_label,)),
        "domain": Field(checks=(_dnsmasq_label,)),
        "local": Field("bool"),
        "ip": Field(checks=(address_list,)),
        "cnames": Field(),
        "client_id": Field(
            checks=(
                masked(
                    r"^(?:\*|(?:[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})+))$",
                    'Value must be a colon-separated hexadecimal sequence (e.g., 01:02:f3) or "*".',
                ),
            )
        ),
        "hwaddr": Field(checks=(mac_list,)),
        "lease_time": Field("int"),
        "ignore": Field("bool"),
        "set_tag": Field(),
        "descr": Field(),
        "comments": Field(),
        "aliases": Field(),
    },
    checks=(_dnsmasq_host,),
    sort="host",
)

KEA_SUBNET = ModelSpec(
    item="subnet4",
    fields={
        "subnet": Field(required=True),
        "description": Field(checks=(description,)),
    },
    sort="subnet",
)


def _kea_reservation(
    uuid: str, record: Record, table: Table, ctx: Context
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    subnet = ctx.subnets.get(record.get("subnet", ""))
    address = record.get("ip_address", "")
    if (
        subnet
        and is_ip(address)
        and ipaddress.ip_address(address) not in ipaddress.ip_network(subnet, strict=False)
    ):
        found.append(("ip_address", "Address not in specified subnet"))
    if record.get("hw_address") and record.get("client_id"):
        found.append(
            ("hw_address", "Either a client ID or a MAC address should be specified, but not both")
        )
    elif not record.get("hw_address") and not record.get("client_id"):
        found.append(("hw_address", "Either a client ID or a MAC address should be specified."))
    return found


KEA_RESERVATION = ModelSpec(
    item="reservation",
    fields={
        "subnet": Field("subnet", required=True, message="Related subnet not found."),
        "ip_address": Field(checks=(ipv4_address,)),
        "hw_address": Field(checks=(mac_address,)),
        "client_id": Field(
            checks=(
                masked(
                    r"^(?:[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})+)$",
                    "Value must be a colon-separated hexadecimal sequence (e.g., 01:02:f3).",
                ),
            )
        ),
        "hostname": Field(checks=(hostname_field(HOSTNAME_MESSAGE),)),
        "description": Field(checks=(description,)),
    },
    checks=(
        unique("ip_address", "Duplicate entry exists."),
        unique("hw_address", "Duplicate entry exists.", with_fields=("subnet",), nocase=True),
        unique("client_id", "Duplicate entry exists.", with_fields=("subnet",)),
        _kea_reservation,
    ),
    sort="hw_address",
)


def _network(version: int) -> Checker:
    """NetworkField with an AddressFamily and NetMaskRequired Y: address/prefix, the prefix in
    digits (a dotted netmask is refused), the address of that family."""

    def check(value: str, ctx: Context) -> list[str]:
        address, _, prefix = value.partition("/")
        try:
            ok = (
                prefix.isdigit()
                and ipaddress.ip_interface(f"{address}/{prefix}").version == version
            )
        except ValueError:
            ok = False
        return [] if ok else [NETWORK_MESSAGE]

    return check


def _static_address(uuid: str, record: Record, table: Table, ctx: Context) -> list[tuple[str, str]]:
    """NetworkInterface::performValidation: a static type needs its address."""
    found = []
    if record.get("type4") == "staticv4" and not record.get("ipaddr"):
        found.append(("ipaddr", "An address is required when configuring static mode"))
    if record.get("type6") == "staticv6" and not record.get("ipaddrv6"):
        found.append(("ipaddrv6", "An address is required when configuring static mode"))
    return found


def _no_ppp(uuid: str, record: Record, table: Table, ctx: Context) -> list[tuple[str, str]]:
    """PPP types need a PPP device (none is modelled, so they are always refused)."""
    found = []
    if record.get("type4") in ("ppp", "pppoe", "pptp", "l2tp"):
        found.append(("type4", "PPP types belong to their respective devices"))
    if record.get("type6") == "pppoev6":
        found.append(("type6", "PPP types belong to their respective devices"))
    return found


_GATEWAY = "Specify a valid gateway from the list matching the networks ip protocol."
# NetworkInterface.xml (26.7): the fields homelab and a hand-made static interface use. The
# gateway lists are empty (no gateways are modelled), so any gateway is refused.
ASSIGNMENT = ModelSpec(
    item="interface",
    fields={
        "descr": Field(
            checks=(
                description,
                masked(r"(?i)^[a-z_0-9]{0,255}$", DESCRIPTION_MESSAGE),
            )
        ),
        "if": Field("device", required=True),
        "lock": Field("bool", default="1", required=True),
        "enable": Field("bool", default="1", required=True),
        "blockpriv": Field("bool"),
        "blockbogons": Field("bool"),
        "promisc": Field("bool"),
        "gateway_interface": Field("bool"),
        "mtu": Field(
            "int",
            minimum=576,
            maximum=65535,
            message="The MTU must be greater than 576 bytes and less than 65535.",
        ),
        "mss": Field(
            "int", minimum=576, maximum=65535, message="The MSS must be greater than 576 bytes."
        ),
        "type4": Field(
            "option",
            default="none",
            required=True,
            options={
                "none": "None",
                "staticv4": "Static IPv4",
                "dhcp": "DHCP",
                "ppp": "PPP",
                "pppoe": "PPPoE",
                "pptp": "PPTP",
                "l2tp": "L2TP",
            },
        ),
        "type6": Field(
            "option",
            default="none",
            required=True,
            options={
                "none": "None",
                "staticv6": "Static IPv6",
                "dhcp6": "DHCPv6",
                "linklocal": "Link-local",
                "slaac": "SLAAC",
                "6rd": "6rd Tunnel",
                "6to4": "6to4 Tunnel",
                "idassoc6": "Identity association",
                "track6": "Track Interface (legacy)",
                "pppoev6": "PPPoEv6",
            },
        ),
        "ipaddr": Field(checks=(_network(4),)),
        "ipaddrv6": Field(checks=(_network(6),)),
        "gateway": Field("option", message=_GATEWAY),
        "gatewayv6": Field("option", message=_GATEWAY),
    },
    checks=(
        unique("if", "Can not assign a device to more interfaces."),
        _static_address,
        _no_ppp,
    ),
    sort="if",
)

CATEGORY = ModelSpec(
    item="category",
    fields={"name": Field(required=True), "color": Field()},
    checks=(unique("name", "A category with this name already exists."),),
    sort="name",
)
