"""Field types of OPNsense's MVC models, as far as a lab uses them, with upstream's messages.

Each model field stores a string (as OPNsense's config.xml does); a ``Field`` says how a value
set through the API is normalised (``coerce``), how it is checked (``check``, returning the
messages OPNsense's validators give, texts from ``models/OPNsense/Base/FieldTypes`` and the model
XML files), and how ``get`` shows it (``render``: enumerated fields as ``{key: {value,
selected}}``). Cross-field and cross-record checks live with the models (``models``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

REQUIRED = "A value is required."
BOOL_MESSAGE = "Value should be a boolean (0,1)."
INT_MESSAGE = "Invalid integer value."
OPTION_MESSAGE = "Option [%s] not in list."
DESCRIPTION_MESSAGE = "Description should be a string between 1 and 255 characters."
NETWORK_MESSAGE = "Please specify a valid network segment or IP address."
HOSTNAME_MESSAGE = "[%s] is not a valid IP address or hostname."
MAC_MESSAGE = "Invalid MAC address."
TEXT_MESSAGE = "Text does not validate."

# PortField::$wellknownservices (names a rule's port may take instead of a number)
WELL_KNOWN_PORTS: Mapping[str, int] = {
    "afs3-fileserver": 7000, "aol": 5190, "auth": 113, "avt-profile-1": 5004, "cvsup": 5999,
    "domain": 53, "domain-s": 853, "ftp": 21, "hbci": 3000, "http": 80, "https": 443,
    "igmpv3lite": 465, "imap": 143, "imaps": 993, "ipsec-msft": 10000, "ipsec-nat-t": 4500,
    "isakmp": 500, "l2f": 1701, "ldap": 389, "ldaps": 636, "microsoft-ds": 445,
    "ms-streaming": 1755, "ms-wbt-server": 3389, "msnp": 1863, "nat-stun-port": 3478,
    "netbios-dgm": 138, "netbios-ns": 137, "netbios-ssn": 139, "nntp": 119, "ntp": 123,
    "openvpn": 1194, "pop3": 110, "pop3s": 995, "pptp": 1723, "radius": 1812,
    "radius-acct": 1813, "rfb": 5900, "sip": 5060, "sip-tls": 5061, "smtp": 25, "snmp": 161,
    "snmptrap": 162, "ssh": 22, "submission": 587, "submissions": 465, "telnet": 23,
    "teredo": 3544, "tftp": 69, "urd": 465, "wins": 1512,
}  # fmt: skip

_ENUMERATED = ("option", "interface", "device", "subnet")
Checker = Callable[[str, "Context"], list[str]]


@dataclass(frozen=True)
class Context:
    """What a field check may look at beyond its own value: the record and the world."""

    record: Mapping[str, str]
    alias_names: frozenset[str] = frozenset()
    port_alias_names: frozenset[str] = frozenset()
    interfaces: Mapping[str, str] = field(default_factory=dict)  # name -> description
    devices: Mapping[str, str] = field(default_factory=dict)  # vtnet0 / vlan01 -> label
    subnets: Mapping[str, str] = field(default_factory=dict)  # Kea subnet uuid -> CIDR
    categories: frozenset[str] = frozenset()  # Firewall category uuids


@dataclass(frozen=True)
class Field:
    """One model field. ``kind`` picks coercion and rendering; ``checks`` add validators."""

    kind: str = "text"  # text | bool | int | option | interface | device | subnet
    default: str = ""
    required: bool = False
    options: Mapping[str, str] = field(default_factory=dict)
    multiple: bool = False
    blank: str = "None"  # the label of the empty choice of an optional option field
    minimum: int | None = None
    maximum: int | None = None
    message: str | None = None  # the model XML's <ValidationMessage>, overriding the default
    checks: tuple[Checker, ...] = ()
    separator: str = ","

    def coerce(self, value: Any) -> str:
        """PHP's view of a posted value: booleans 0/1, lists joined, scalars as text."""
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, (list, tuple)):
            return self.separator.join(self.coerce(item) for item in value)
        if isinstance(value, dict):
            return ""  # a structure where a leaf is expected: OPNsense keeps nothing of it
        if value is None:
            return ""
        return str(value)

    def check(self, value: str, ctx: Context) -> list[str]:
        if value == "":
            return [REQUIRED] if self.required else []
        messages = self._check_kind(value, ctx)
        for checker in self.checks:
            messages.extend(checker(value, ctx))
        return messages

    def _check_kind(self, value: str, ctx: Context) -> list[str]:
        if self.kind == "bool":
            return [] if value in ("0", "1") else [self._message(BOOL_MESSAGE, value)]
        if self.kind == "int":
            return self._check_int(value)
        if self.kind in ("option", "interface", "device", "subnet"):
            choices = self._choices(ctx)
            items = value.split(",") if self.multiple else [value]
            bad = [item for item in items if item not in choices]
            return [self._message(OPTION_MESSAGE, bad[0])] if bad else []
        return []

    def _choices(self, ctx: Context) -> Mapping[str, str]:
        return {
            "option": self.options,
            "interface": ctx.interfaces,
            "device": ctx.devices,
            "subnet": ctx.subnets,
        }.get(self.kind, {})

    def _check_int(self, value: str) -> list[str]:
        if not re.fullmatch(r"-?[0-9]+", value):
            return [self._message(INT_MESSAGE, value)]
        number = int(value)
        too_low = self.minimum is not None and number < self.minimum
        too_high = self.maximum is not None and number > self.maximum
        return [self._message(INT_MESSAGE, value)] if too_low or too_high else []

    def _message(self, default: str, content: str) -> str:
        text = self.message if self.message is not None else default
        return text.replace("%s", content, 1) if text.count("%s") == 1 else text

    def render(self, value: str, ctx: Context) -> Any:
        """The ``get`` form: enumerated fields list every choice with ``selected``."""
        if self.kind not in _ENUMERATED:
            return value
        choices = dict(self._choices(ctx))
        selected = set(value.split(",")) if self.multiple else {value}
        rendered: dict[str, dict[str, Any]] = {}
        if not self.required and not self.multiple:
            rendered[""] = {"value": self.blank, "selected": 1 if value == "" else 0}
        for key, label in choices.items():
            rendered[key] = {"value": label, "selected": 1 if key in selected else 0}
        return rendered

    def describe(self, value: str, ctx: Context) -> str:
        """The ``%field`` text ``search`` adds for enumerated fields (labels of the selection)."""
        if self.kind not in _ENUMERATED or value == "":
            return value
        choices = self._choices(ctx)
        return ",".join(choices.get(item, item) for item in value.split(","))


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_subnet(text: str) -> bool:
    if "/" not in text:
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def is_domain(text: str) -> bool:
    """Util::isDomain: dot-separated DNS labels, not all digits."""
    labels = text.rstrip(".").split(".")
    return all(_HOST_LABEL.match(label) for label in labels) and not text.replace(".", "").isdigit()


def description(value: str, ctx: Context) -> list[str]:
    """DescriptionField: 1 to 255 characters on one line."""
    return [] if re.fullmatch(r".{1,255}", value) else [DESCRIPTION_MESSAGE]


def single_address(value: str, ctx: Context) -> list[str]:
    """NetworkField with NetMaskAllowed N: one address, no mask."""
    return [] if is_ip(value) else [NETWORK_MESSAGE]


def address_list(value: str, ctx: Context) -> list[str]:
    """NetworkField with NetMaskAllowed N and AsList Y."""
    return [] if all(is_ip(item) for item in value.split(",")) else [NETWORK_MESSAGE]


def ipv4_address(value: str, ctx: Context) -> list[str]:
    """NetworkField with AddressFamily ipv4."""
    ok = is_ip(value) and ipaddress.ip_address(value).version == 4
    return [] if ok else [NETWORK_MESSAGE]


_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")


def mac_address(value: str, ctx: Context) -> list[str]:
    return [] if _MAC.match(value) else [MAC_MESSAGE]


def mac_list(value: str, ctx: Context) -> list[str]:
    return [] if all(_MAC.match(item) for item in value.split(",")) else [MAC_MESSAGE]


def masked(pattern: str, message: str) -> Checker:
    """TextField with a <Mask>: the whole value must match, else the field's message."""
    compiled = re.compile(pattern)

    def check(value: str, ctx: Context) -> list[str]:
        return [] if compiled.search(value) else [message]

    return check


def hostname_field(message: str, *, wildcard: bool = False) -> Checker:
    """HostnameField with IsDNSName Y and IpAllowed N (Unbound, Kea): one DNS label."""

    def check(value: str, ctx: Context) -> list[str]:
        if wildcard and value == "*":
            return []
        ok = bool(re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?", value))
        return [] if ok else [message.replace("%s", value, 1)]

    return check


def categories(value: str, ctx: Context) -> list[str]:
    """ModelRelationField to OPNsense.Firewall.Category (aliases and rules)."""
    return [] if set(value.split(",")) <= ctx.categories else ["Related category not found."]
