"""Named string formats of the PVE API schema (`pve-vmid`, `pve-node`, `dns-name`, ...).

Each validator takes the parameter's string value and raises FormatError with the text PVE's
validator dies with (trailing newline included, as in the server's messages). `-list` formats
split the value the way PVE::Tools::split_list does and check every element; `-opt` formats skip
empty values. Unknown names are refused when the table is loaded (see `known`), never passed.

Formats accepted loosely (a shape check, not PVE's full parser):
- `pve-calendar-event`: parsed as PVE parses it (proxmox-time's grammar, ``calendar.py``).
- `pve-cpuset`: comma-separated CPU numbers and ranges (`0-3,8`), no check against host CPUs.
- `storage-pair`: `SOURCE:TARGET` or a single storage ID, each a valid storage ID.
- `pve-qm-bootdev`: drive, `netN`, `usbN` or `hostpciN` names within the qemu-server ranges.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator

from homelab_sim.pve import privs
from homelab_sim.pve.calendar import EventError, parse_event

# PVE::Tools regexes.
_IPV4_OCTET = r"(?:25[0-5]|(?:2[0-4]|1[0-9]|[1-9])?[0-9])"
_IPV4_RE = re.compile(rf"^(?:(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET})$")
_EMAIL_USER = r"[\w\+\-\~]+(\.[\w\+\-\~]+)*"
_EMAIL_RE = re.compile(rf"^{_EMAIL_USER}@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*$")
_EMAIL_USER_RE = re.compile(rf"^{_EMAIL_USER}$")
_DNS_LABEL = r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)"
_DNS_RE = re.compile(rf"^({_DNS_LABEL}\.)*{_DNS_LABEL}$")

# qemu-server 8.x drive and device index limits.
_DRIVE_RE = re.compile(r"^(?:ide[0-3]|sata[0-5]|scsi(?:[12]?[0-9]|30)|virtio(?:[0-9]|1[0-5]))$")
_BOOTDEV_EXTRA_RE = re.compile(
    r"^(?:net(?:[12]?[0-9]|3[01])|usb(?:[0-9]|1[0-3])|hostpci(?:[0-9]|1[0-5]))$"
)

# Either version's names pass the format; the handlers check the running version's set.
PRIVILEGES = privs.ALL_PRIVILEGES
STORAGE_CONTENT_TYPES = frozenset(
    {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import", "none"}
)
HOTPLUG_FEATURES = frozenset({"network", "disk", "cpu", "memory", "usb", "cloudinit"})


class FormatError(Exception):
    """A value does not match its named format; str() is PVE's message (ends with a newline)."""


Validator = Callable[[str], None]


def split_list(text: str) -> list[str]:
    """PVE::Tools::split_list: NUL-separated if it contains NUL, else split on `,`, `;`, space."""
    if "\0" in text:
        return text.split("\0")
    return re.sub(r"[,;]", " ", text).split()


def _regex(pattern: str, message: str, flags: int = 0) -> Validator:
    compiled = re.compile(pattern, flags)

    def check(value: str) -> None:
        if not compiled.search(value):
            raise FormatError(message.format(value=value) + "\n")

    return check


def _is_ipv4(value: str) -> bool:
    return _IPV4_RE.search(value) is not None


def _is_ipv6(value: str) -> bool:
    if "%" in value or not re.fullmatch(r"[0-9A-Fa-f:.]+", value):
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _is_cidr(value: str, is_addr: Callable[[str], bool], low: int, high: int) -> bool:
    address, sep, bits = value.rpartition("/")
    if not sep or not re.fullmatch(r"\d+", bits) or not is_addr(address):
        return False
    return low < int(bits) <= high


def _predicate(test: Callable[[str], bool], message: str) -> Validator:
    def check(value: str) -> None:
        if not test(value):
            raise FormatError(message.format(value=value) + "\n")

    return check


def _cidr4(value: str) -> bool:
    return _is_cidr(value, _is_ipv4, 7, 32)


def _cidr6(value: str) -> bool:
    return _is_cidr(value, _is_ipv6, 7, 128)


def _is_dns_name(value: str) -> bool:
    return _DNS_RE.search(value) is not None


def _parse_size_ok(value: str) -> bool:
    return re.search(r"^(\d+(\.\d+)?)([KMGT])?$", value) is not None


def _startup_order_ok(value: str) -> bool:
    if value in ("", "0"):  # Perl falsy: pve_parse_startup_order returns undef
        return False
    for part in value.split(","):
        if re.search(r"^\s*$", part):
            continue
        if not re.search(r"^(?:(?:order=)?\d+|up=\d+|down=\d+)$", part):
            return False
    return True


def _check_hotplug(value: str) -> None:
    if value in ("0", "1"):
        return
    for feature in split_list(value):
        if feature not in HOTPLUG_FEATURES:
            raise FormatError(f"invalid hotplug feature '{feature}'\n")


def _check_volume_id(value: str) -> None:
    if not re.search(r"^([a-z][a-z0-9\-\_\.]*[a-z0-9]):(.+)$", value, re.IGNORECASE):
        raise FormatError(f"unable to parse volume ID '{value}'\n")


def _check_volume_or_path(value: str) -> None:
    if value.startswith("/"):
        return
    _check_volume_id(value)


def _check_volume_or_qm_path(value: str) -> None:
    if value in ("none", "cdrom"):
        return
    _check_volume_or_path(value)


# pve-access-control / PVE::Auth::Plugin: user, realm and token sub-id patterns.
_USER = r"[^\s:/]+"
_REALM = r"[A-Za-z][A-Za-z0-9\.\-_]+"
_TOKEN_SUBID = r"[A-Za-z][A-Za-z0-9\.\-_]+"  # noqa: S105 - a pattern, not a secret
_USERID_RE = re.compile(rf"^{_USER}@{_REALM}$")


def _check_userid(value: str) -> None:
    """PVE::Auth::Plugin::verify_username."""
    if len(value) < 3:
        raise FormatError(f"user name '{value}' is too short\n")
    if len(value) > 64:
        raise FormatError(f"user name '{value}' is too long ({len(value)} > 64)\n")
    if not _USERID_RE.search(value):
        raise FormatError(f"value '{value}' does not look like a valid user name\n")


_check_storage_id = _regex(
    r"^[a-z][a-z0-9\-\_\.]*[a-z0-9]$", "storage ID '{value}' contains illegal characters", re.I
)


def _check_storage_pair(value: str) -> None:
    if value == "1":
        return
    ids = value.split(":") if re.fullmatch(r"[^:]+:[^:]+", value) else [value]
    for ident in ids:
        try:
            _check_storage_id(ident)
        except FormatError as exc:
            # parse_idmap appends a newline to the inner message, verify_idpair another one
            raise FormatError(f"entry '{value}' contains invalid ID - {exc}\n\n") from exc


def _check_calendar_event(value: str) -> None:
    """pve-common ``pve_verify_calendar_event``: proxmox-time's parser decides."""
    try:
        parse_event(value)
    except EventError as exc:
        raise FormatError(f"invalid calendar event '{value}' - {exc}\n") from None


def _check_server(value: str) -> None:
    """pve-storage ``verify_server``: an IP address or a DNS name."""
    if not (_is_ipv4(value) or _is_ipv6(value) or _is_dns_name(value)):
        raise FormatError("value does not look like a valid server name or IP address\n")


def _check_replication_job_id(value: str) -> None:
    """pve-guest-common ``ReplicationConfig::parse_replication_job_id``: ``<guest>-<jobnum>``."""
    match = re.fullmatch(r"(\d+)-(\d+)", value)
    if match is None:
        raise FormatError(f"invalid replication job id '{value}'\n")
    if int(match[1]) < 100:
        raise FormatError(f"invalid replication job id '{value}' (guest id too small)\n")


def _check_portal_dns(value: str) -> None:
    """pve-storage ``verify_portal_dns`` (``PVE::Tools::parse_host_and_port``): a host, an IPv4
    address or a [bracketed] IPv6 address, with an optional :port."""
    match = re.fullmatch(r"(\[[^\]]+\]|[^:\[\]]+)(?::(\d+))?", value)
    host = match.group(1).strip("[]") if match else ""
    if not host or not (_is_ipv4(host) or _is_ipv6(host) or _is_dns_name(host)):
        raise FormatError("value does not look like a valid portal address\n")


def _check_dir_override(value: str) -> None:
    """pve-storage ``verify_dir_override``: ``<content type>=<relative path>``."""
    match = re.fullmatch(r"([a-z]+)=([^.]*(?:\.?[^.]+)+)", value)
    ok = (
        match is not None
        and (match.group(1) in STORAGE_CONTENT_TYPES or match.group(1) == "import")
        and len(match.group(2)) < 1023
        and all(len(part) < 255 for part in match.group(2).split("/"))
    )
    if not ok:
        raise FormatError(f"invalid override '{value}'\n")


_FORMATS: dict[str, Validator] = {
    "string": lambda value: None,
    "pve-vmid": _regex(r"^[1-9][0-9]{2,8}$", "value does not look like a valid VM ID"),
    "pve-node": _regex(
        r"^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$", "value does not look like a valid node name"
    ),
    "pve-storage-id": _check_storage_id,
    "pve-bridge-id": _regex(r"^[-_.\w\d]+$", "invalid bridge ID '{value}'"),
    "pve-configid": _regex(
        r"^[a-z][a-z0-9_-]+$", "invalid configuration ID '{value}'", re.IGNORECASE
    ),
    "mac-prefix": _regex(  # pve-common's pve_verify_mac_prefix (datacenter.cfg)
        r"^[a-f0-9][02468ace](?::[a-f0-9]{2}){0,2}:?$",
        "value does not look like a valid mac address prefix",
        re.IGNORECASE,
    ),
    "urlencoded": _regex(r"^[-%a-zA-Z0-9_.!~*'()]*$", "invalid urlencoded string: {value}"),
    "mac-addr": _regex(
        r"^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$",
        "value does not look like a valid unicast MAC address",
        re.IGNORECASE,
    ),
    "ipv4": _predicate(_is_ipv4, "value does not look like a valid IPv4 address"),
    "ipv6": _predicate(_is_ipv6, "value does not look like a valid IPv6 address"),
    "ip": _predicate(
        lambda v: _is_ipv4(v) or _is_ipv6(v), "value does not look like a valid IP address"
    ),
    "CIDRv4": _predicate(_cidr4, "value does not look like a valid IPv4 CIDR network"),
    "CIDRv6": _predicate(_cidr6, "value does not look like a valid IPv6 CIDR network"),
    "CIDR": _predicate(
        lambda v: _cidr4(v) or _cidr6(v), "value does not look like a valid CIDR network"
    ),
    "pve-ipv4-config": _predicate(
        lambda v: v in ("dhcp", "manual") or _cidr4(v),
        "value does not look like a valid ipv4 network configuration",
    ),
    "pve-ipv6-config": _predicate(
        lambda v: v in ("auto", "dhcp", "manual") or _cidr6(v),
        "value does not look like a valid ipv6 network configuration",
    ),
    "email": _predicate(
        lambda v: _EMAIL_RE.search(v) is not None, "value does not look like a valid email address"
    ),
    "email-or-username": _predicate(
        lambda v: _EMAIL_RE.search(v) is not None or _EMAIL_USER_RE.search(v) is not None,
        "value does not look like a valid email address or user name",
    ),
    "dns-name": _predicate(_is_dns_name, "value does not look like a valid DNS name"),
    "address": _predicate(
        lambda v: _is_ipv4(v) or _is_ipv6(v) or _is_dns_name(v),
        "value does not look like a valid address: {value}",
    ),
    "disk-size": _predicate(_parse_size_ok, "value does not look like a valid disk size: {value}"),
    "pve-startup-order": _predicate(_startup_order_ok, "unable to parse startup options"),
    "pve-tag": _regex(r"^[a-z0-9_][a-z0-9_\-\+\.]*$", "invalid characters in tag", re.IGNORECASE),
    "pve-task-status-type": _regex(
        r"^(ok|error|warning|unknown)$", "invalid status '{value}'", re.IGNORECASE
    ),
    "pve-poolid": _regex(r"^[A-Za-z0-9\.\-_]+$", "pool name '{value}' contains invalid characters"),
    "pve-realm": _regex(r"^[A-Za-z][A-Za-z0-9\.\-_]+$", "value does not look like a valid realm"),
    "pve-priv": _predicate(lambda v: v in PRIVILEGES, "invalid privilege '{value}'"),
    "pve-roleid": _regex(r"^[A-Za-z0-9\.\-_]+$", "role name '{value}' contains invalid characters"),
    "pve-groupid": _regex(
        r"^[A-Za-z0-9\.\-_]+$", "group name '{value}' contains invalid characters"
    ),
    "pve-userid": _check_userid,
    "pve-tokenid": _regex(
        rf"^{_USER}@{_REALM}!{_TOKEN_SUBID}$", "value '{value}' does not look like a valid token ID"
    ),
    "pve-day-of-week": _regex(r"^(mon|tue|wed|thu|fri|sat|sun)$", "invalid day '{value}'"),
    "pve-calendar-event": _check_calendar_event,
    "pve-cpuset": _regex(r"^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$", "unable to parse cpuset option"),
    "pve-hotplug-features": _check_hotplug,
    "pve-qm-bootdisk": _predicate(
        lambda v: _DRIVE_RE.search(v) is not None or v in ("efidisk0", "tpmstate0"),
        "invalid boot disk '{value}'",
    ),
    "pve-qm-bootdev": _predicate(
        lambda v: _DRIVE_RE.search(v) is not None or _BOOTDEV_EXTRA_RE.search(v) is not None,
        "invalid boot device '{value}'",
    ),
    "pve-storage-content": _predicate(
        lambda v: v in STORAGE_CONTENT_TYPES, "invalid content type '{value}'"
    ),
    "pve-volume-id": _check_volume_id,
    "pve-volume-id-or-absolute-path": _check_volume_or_path,
    "pve-volume-id-or-qm-path": _check_volume_or_qm_path,
    "storage-pair": _check_storage_pair,
    # pve-storage Plugin.pm
    "pve-storage-path": _regex(r"^/[^;()]+", "value does not look like a valid absolute path"),
    "pve-storage-server": _check_server,
    "pve-replication-job-id": _check_replication_job_id,
    "pve-storage-vgname": _regex(
        r"^[a-z0-9][a-z0-9\-_.]*[a-z0-9]$",
        "lvm name '{value}' contains illegal characters",
        re.IGNORECASE,
    ),
    "pve-storage-portal-dns": _check_portal_dns,
    "pve-storage-options": _regex(r"^\S+$", "invalid options '{value}'"),
    "pve-dir-override": _check_dir_override,
}

_SUFFIX = re.compile(r"^(.*?)(?:-(list|opt))?$")


def _split_name(name: str) -> tuple[str, str]:
    match = _SUFFIX.match(name)
    assert match is not None  # the pattern matches every string
    base, kind = match.group(1), match.group(2) or "none"
    if kind != "none" and base not in _FORMATS and name in _FORMATS:
        return name, "none"
    return base, kind


def known(name: str) -> bool:
    """Whether `name` (with an optional -list / -opt suffix) is a format this module checks."""
    if name == "regex":
        return True
    base, _ = _split_name(name)
    return base in _FORMATS


def resolve(name: str) -> Validator:
    """The checker of a named format (list and opt handling included), resolved once.

    Raises KeyError for a name this module does not implement.
    """
    if name == "regex":
        return _FORMATS["string"]
    base, kind = _split_name(name)
    validator = _FORMATS[base]
    if kind == "list":

        def check_list(value: str) -> None:
            for item in split_list(value):
                validator(item)

        return check_list
    if kind == "opt":

        def check_opt(value: str) -> None:
            if value not in ("", "0"):
                validator(value)

        return check_opt
    return validator


def check(name: str, value: str) -> None:
    """Check `value` against the named format, raising FormatError with PVE's message."""
    try:
        checker = resolve(name)
    except KeyError:
        raise FormatError(f"undefined format '{name}'\n") from None
    checker(value)


def names() -> Iterator[str]:
    """Every base format name this module implements."""
    return iter(sorted(_FORMATS))
