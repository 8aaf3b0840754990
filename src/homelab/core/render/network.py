"""network-config (v2) for a VM, and the MAC address that ties it to the VM's NIC.

The VLAN tag lives on the Proxmox NIC (``net0: virtio=<MAC>,bridge=vmbr0,tag=20``), so the
guest sees one untagged interface. The interface is matched by MAC, not by name: a name
(``ens18``) depends on the NIC model and PCI slot, a MAC does not. ``vm_mac`` derives the MAC
from the lab and VM names (stable across renders, unique per VM, locally administered), and
the provisioning side must set that MAC on ``net0``. The interface is renamed ``eth0`` so
that everything else on the node (kube-vip's ``vip_interface``) can name it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from homelab.core.spec.models import LabSpec

INTERFACE = "eth0"


def vm_mac(lab: str, vm: str) -> str:
    """A locally administered unicast MAC derived from ``lab`` and ``vm`` (e.g. 02:1f:...)."""
    digest = hashlib.sha256(f"homelab/{lab}/{vm}".encode()).digest()
    octets = [0x02, *digest[:5]]  # 0x02: locally administered, unicast
    return ":".join(f"{octet:02x}" for octet in octets)


def network_config(spec: LabSpec, vm_name: str) -> dict[str, Any]:
    """The netplan v2 document of ``vm_name``: static address, gateway, DNS."""
    vm = spec.vms[vm_name]
    net = spec.networks[vm.network]
    eth: dict[str, Any] = {
        "match": {"macaddress": vm_mac(spec.name, vm_name)},
        "set-name": INTERFACE,
        "dhcp4": False,
        "dhcp6": False,
        "addresses": [f"{vm.ip}/{net.cidr.prefixlen}"],
        "routes": [{"to": "default", "via": str(net.gateway)}],
    }
    nameservers: dict[str, Any] = {}
    if net.dns:
        nameservers["addresses"] = [str(ip) for ip in net.dns]
    if net.search_domains:
        nameservers["search"] = list(net.search_domains)
    if nameservers:
        eth["nameservers"] = nameservers
    if net.mtu is not None:
        eth["mtu"] = net.mtu
    return {"version": 2, "ethernets": {INTERFACE: eth}}
