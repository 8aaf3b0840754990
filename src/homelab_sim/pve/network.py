"""A node's network: ``GET /nodes/{node}/network`` and what a VM start needs of its bridges.

As pve-manager ``PVE/API2/Network.pm`` ``index``: any user may list, ``lo`` is never shown,
``type`` keeps one kind (``any_bridge``/``any_local_bridge``: every bridge), and a bridge is
listed only to whom has ``SDN.Audit`` or ``SDN.Use`` on ``/sdn/zones/localnetwork/<bridge>`` or
on one of its VLANs (``RPCEnvironment::check_sdn_bridge``; ``root@pam`` sees all).

At start, qemu-server reads each virtio NIC's bridge MTU (``PVE::Network::read_bridge_mtu``:
"bridge 'vmbr9' does not exist", also for a bridge configured but not up) and refuses a NIC
MTU above it or below 576; a tag on a bridge that is not VLAN aware makes a ``vmbr0v20``
bridge over its physical ports ("no physical interface on bridge"), and trunks need a
VLAN-aware bridge (pve-common ``tap_plug``); an Open vSwitch bridge tags the port itself.
"""

from __future__ import annotations

from typing import Any

from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import param_fail
from homelab_sim.pve.state import NetIface, Node, Vm

DEFAULT_MTU = 1500
_BRIDGES = ("bridge", "OVSBridge")
_TYPES = frozenset(
    [
        "bridge",
        "bond",
        "eth",
        "alias",
        "vlan",
        "fabric",
        "OVSBridge",
        "OVSBond",
        "OVSPort",
        "OVSIntPort",
        "vnet",
        "any_bridge",
        "any_local_bridge",
        "include_sdn",
    ]
)
# qemu-server's $nic_model_list: a NIC is written `virtio=MAC,...` or `model=virtio,...`
NIC_MODELS = frozenset(
    [
        "e1000",
        "e1000-82540em",
        "e1000-82544gc",
        "e1000-82545em",
        "e1000e",
        "i82551",
        "i82557b",
        "i82559er",
        "ne2k_isa",
        "ne2k_pci",
        "pcnet",
        "rtl8139",
        "virtio",
        "vmxnet3",
    ]
)


class StartRefused(Exception):
    """A NIC qemu-server cannot plug in: the start task fails with this text."""


def default_interfaces(node: Node) -> list[NetIface]:
    """What a node installed from the PVE ISO has: its NIC ``eno1`` under a bridge ``vmbr0``
    holding the node's address (made VLAN aware, as a lab with VLANs needs)."""
    prefix = node.ip.rsplit(".", 1)[0]
    return [
        NetIface(iface="eno1", type="eth", exists=True),
        NetIface(
            iface="vmbr0",
            type="bridge",
            method="static",
            cidr=f"{node.ip}/24",
            gateway=f"{prefix}.1",
            bridge_ports="eno1",
            bridge_vlan_aware=True,
            bridge_vids="2-4094",
        ),
    ]


def interfaces(node: Node) -> list[NetIface]:
    return node.interfaces if node.interfaces is not None else default_interfaces(node)


def _listed(entry: NetIface, priority: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "iface": entry.iface,
        "type": entry.type,
        "method": entry.method,
        "method6": "manual",
        "families": ["inet"],
        "priority": priority,
    }
    if entry.active:
        out["active"] = 1
    if entry.autostart:
        out["autostart"] = 1
    if entry.exists is not None:
        out["exists"] = int(entry.exists)
    if entry.cidr:
        address, _, bits = entry.cidr.partition("/")
        out.update(cidr=entry.cidr, address=address, netmask=bits)
    if entry.gateway:
        out["gateway"] = entry.gateway
    if entry.type in _BRIDGES:
        out["bridge_ports"] = entry.bridge_ports or ""
        out["bridge_stp"] = "off"
        out["bridge_fd"] = "0"
        if entry.bridge_vlan_aware:
            out["bridge_vlan_aware"] = 1
            out["bridge_vids"] = entry.bridge_vids or "2-4094"
    if entry.mtu is not None:
        out["mtu"] = entry.mtu
    if entry.comments:
        out["comments"] = entry.comments
    return out


def _may_see_bridge(ctx: Ctx, bridge: str) -> bool:
    if ctx.is_root:
        return True
    path = f"/sdn/zones/localnetwork/{bridge}"
    privs = ("SDN.Audit", "SDN.Use")
    if any(ctx.can(path, priv) for priv in privs):
        return True
    vlans = {
        entry.path
        for entry in ctx.state.acl
        if entry.path.startswith(path + "/") and entry.path.count("/") == path.count("/") + 1
    }
    return any(ctx.can(vlan, priv) for vlan in sorted(vlans) for priv in privs)


def network_index(ctx: Ctx, p: dict[str, Any]) -> Any:
    node = ctx.node(p["node"])
    wanted = p.get("type")
    if wanted is not None and wanted not in _TYPES:
        raise param_fail({"type": f"value '{wanted}' does not have a value in the enumeration"})
    out = []
    for priority, entry in enumerate(sorted(interfaces(node), key=lambda e: e.iface), 1):
        is_bridge = entry.type in _BRIDGES
        if wanted not in (None, "include_sdn") and not (
            wanted == entry.type or (is_bridge and wanted in ("any_bridge", "any_local_bridge"))
        ):
            continue
        if is_bridge and not _may_see_bridge(ctx, entry.iface):
            continue
        out.append(_listed(entry, priority))
    return out


def check_nics(node: Node, vm: Vm) -> None:
    """Raise StartRefused as qemu-server's start does for a NIC its node cannot plug in."""
    found = {entry.iface: entry for entry in interfaces(node)}
    nics = sorted((int(k[3:]), k) for k in vm.config if k.startswith("net") and k[3:].isdigit())
    for _, key in nics:
        opts = _options(str(vm.config[key]))
        bridge = opts.get("bridge")
        if not bridge:
            continue  # user-mode networking
        entry = found.get(bridge)
        # not active: configured (/etc/network/interfaces) but not up in the kernel, as after an
        # edit not applied yet (ProcFSTools::get_active_network_interfaces): no /sys/class/net
        # entry, so read_bridge_mtu finds none
        if entry is None or entry.type not in _BRIDGES or not entry.active:
            raise StartRefused(f"bridge '{bridge}' does not exist")
        _check_mtu(key, opts, entry)
        if entry.type == "bridge" and not entry.bridge_vlan_aware:  # OVS tags the port itself
            if opts.get("trunks"):
                raise StartRefused("vlan aware feature need to be enabled to use trunks")
            if opts.get("tag") and not entry.bridge_ports:
                raise StartRefused(f"no physical interface on bridge '{bridge}'")


def _check_mtu(key: str, opts: dict[str, str], entry: NetIface) -> None:
    model = opts.get("model") or next((m for m in opts if m in NIC_MODELS), None)
    if model != "virtio":
        return
    bridge_mtu = entry.mtu or DEFAULT_MTU
    mtu = int(opts["mtu"]) if opts.get("mtu", "").isdigit() else None
    if mtu is None or mtu == 1:
        return
    if mtu < 576:
        raise StartRefused(f"netdev {key}: MTU '{mtu}' is smaller than the IP minimum MTU '576'")
    if mtu > bridge_mtu:
        raise StartRefused(
            f"netdev {key}: MTU '{mtu}' is bigger than the bridge MTU '{bridge_mtu}'"
            " - adjust the MTU for the network device in the VM configuration, while ensuring"
            " that the bridge is configured as desired."
        )


def _options(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.split(","):
        name, sep, val = part.partition("=")
        out[name] = val if sep else ""
    return out


ROUTES = {
    ("GET", "/nodes/{node}/network"): network_index,
}
