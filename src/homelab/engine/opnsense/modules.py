"""Where each kind of firewall object lives in the API: paths, posted item key, description field.

One table, read from OPNsense's controllers (``addBase('<item>', ...)``) and models: the
engine builds every path from it, and nothing else in the tool spells an OPNsense path.
"""

from __future__ import annotations

from dataclasses import dataclass

from homelab.core.network.objects import Module


@dataclass(frozen=True)
class Api:
    base: str  # module/controller
    noun: str  # the suffix of search/add/set/del: Item, Rule, HostOverride, Host, Reservation
    item: str  # the key of posted bodies
    apply: str  # the module's apply/reconfigure call
    description: str  # the field that carries the lab's mark

    def path(self, verb: str, uuid: str | None = None) -> str:
        tail = f"/{uuid}" if uuid else ""
        return f"{self.base}/{verb}{self.noun}{tail}"


VLAN = Api(
    "interfaces/vlan_settings", "Item", "vlan", "interfaces/vlan_settings/reconfigure", "descr"
)
ASSIGN = Api(
    "interfaces/assignment", "Item", "interface", "interfaces/assignment/reconfigure", "descr"
)
ALIAS = Api("firewall/alias", "Item", "alias", "firewall/alias/reconfigure", "description")
RULE = Api("firewall/filter", "Rule", "rule", "firewall/filter/apply", "description")
UNBOUND = Api(
    "unbound/settings", "HostOverride", "host", "unbound/service/reconfigure", "description"
)
DNSMASQ = Api("dnsmasq/settings", "Host", "host", "dnsmasq/service/reconfigure", "descr")
KEA = Api("kea/dhcpv4", "Reservation", "reservation", "kea/service/reconfigure", "description")
KEA_SUBNETS = "kea/dhcpv4/searchSubnet"

FIRMWARE_STATUS = "core/firmware/status"
KEA_SETTINGS = "kea/dhcpv4/get"
DNSMASQ_SETTINGS = "dnsmasq/settings/get"
ISC_STATUS = "dhcpv4/service/status"
SAVEPOINT = "firewall/filter/savepoint"
CANCEL_ROLLBACK = "firewall/filter/cancelRollback"
BACKUPS = "core/backup/backups/this"
DOWNLOAD = "core/backup/download/this"
REVERT_BACKUP = "core/backup/revertBackup"


def api_of(module: Module, dhcp: str) -> Api | None:
    """The API of ``module``; DHCP reservations only with Dnsmasq or Kea."""
    if module == "dhcp":
        return {"dnsmasq": DNSMASQ, "kea": KEA}.get(dhcp)
    return {"vlan": VLAN, "assign": ASSIGN, "alias": ALIAS, "rule": RULE, "host": UNBOUND}[module]
