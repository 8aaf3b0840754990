"""API keys, users and privileges, checked as ``ApiControllerBase`` and ``ACL::urlMatch`` do.

A key/secret pair belongs to a user; a user holds privileges (the keys of the ``ACL.xml``
files); a privilege grants URL patterns. The match is upstream's: ``*`` is a wildcard, a
trailing ``/*`` also matches the bare prefix, and the comparison is case-sensitive on the
request URI (query string included), so ``searchHostOverride`` is not covered by the
``search_host_override/*`` pattern of the Unbound overrides page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from homelab_sim.secret import Secret

# ACL.xml privileges of the areas a lab uses (api patterns only), from opnsense/core
PRIVILEGES: dict[str, tuple[str, ...]] = {
    "page-all": ("*",),
    "page-firewall-alias-edit": ("api/firewall/alias/*",),
    "page-firewall-aliases": (
        "api/firewall/alias/export",
        "api/firewall/alias/search*",
        "api/firewall/alias/list*",
        "api/firewall/alias/get*",
    ),
    "page-filter-api": ("api/firewall/filter/*",),
    "page-interfaces-vlan-edit": ("api/interfaces/vlan_settings/*",),
    "page-interfaces-assignnetworkports": ("api/interfaces/assignment/*",),
    "page-services-unbound": ("api/unbound/*",),
    "page-services-dnsresolver-overrides": tuple(
        f"api/unbound/settings/{verb}_{kind}/*"
        for kind in ("host_override", "host_alias", "domain_override")
        for verb in ("search", "get", "set", "add", "del", "toggle")
    ),
    "page-services-dnsforwarder": ("api/dnsmasq/*",),
    "page-dhcp-kea-v4": ("api/kea/dhcpv4/*", "api/kea/leases4/*", "api/kea/service/*"),
    "page-diagnostics-configurationhistory": ("api/core/backup/*",),
    "page-system-firmware-manualupdate": ("api/core/firmware/*",),
}


@dataclass(frozen=True)
class ApiKey:
    key: str
    secret: Secret
    user: str


def url_match(url: str, mask: str) -> bool:
    """ACL::urlMatch."""
    pattern = re.escape(mask).replace(r"\*", ".*")
    pattern = re.sub(r"([/&?]|\\\?)\.\*$", r"(\1.*)?", pattern)
    url = url.split("#", 1)[0]
    return re.match(f"^/{pattern}$", url) is not None


def page_accessible(privileges: Iterable[str], url: str) -> bool:
    return any(url_match(url, mask) for priv in privileges for mask in PRIVILEGES.get(priv, ()))
