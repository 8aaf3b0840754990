"""Whether a node's bridge can carry a network's NIC, as qemu-server judges it at start. Pure.

PVE refuses to start a VM whose virtio NIC sits on a bridge its node does not have (pve-common
``read_bridge_mtu``: "bridge 'vmbr9' does not exist") or has down, or whose MTU is above the
bridge's; a VLAN tag needs a VLAN-aware bridge that lets the VLAN through (``bridge-vids``) or a
port under the bridge to hang ``vmbr0v20`` on. One rule, used twice: ``homelab doctor`` judges
every VM of the spec, and the plan judges the VMs it would create, replace or move to another
network, before anything changes (``bridge_targets``: only those make the engine read the
nodes' bridges, so a no-op plan costs no extra request).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from homelab.core.plan.actions import CreateVm, Plan, ReplaceVm, UpdateVm
from homelab.core.pve_inventory import Bridge
from homelab.core.spec.models import LabSpec

__all__ = ["BridgeProblem", "bridge_problems", "bridge_targets", "vlan_allowed"]

_NET_KEYS = frozenset({"net0 bridge", "net0 tag"})


@dataclass(frozen=True)
class BridgeProblem:
    """What is wrong with a network's bridge on a node, and how to fix it."""

    node: str
    network: str
    problem: str
    fix: str


def bridge_targets(plan: Plan) -> tuple[tuple[str, str], ...]:
    """(VM, node) of each action that puts a NIC on a bridge: creates, replaces, and updates
    that change the NIC's bridge or VLAN."""
    return tuple((action.vm, action.node) for action in plan.actions if _puts_a_nic(action))


def _puts_a_nic(action: object) -> bool:
    if isinstance(action, UpdateVm):
        return any(change.key in _NET_KEYS for change in action.changes)
    return isinstance(action, CreateVm | ReplaceVm)


def bridge_problems(
    spec: LabSpec, vms: Iterable[tuple[str, str]], bridges: Mapping[str, tuple[Bridge, ...]]
) -> list[BridgeProblem]:
    """The problems of the bridges the given (VM, node) pairs need; a node missing from
    ``bridges`` (its network could not be read) is not judged."""
    found: list[BridgeProblem] = []
    for node, network in sorted({(node, spec.vms[vm].network) for vm, node in vms}):
        if node in bridges:
            found += _one(spec, node, network, bridges[node])
    return found


def _one(
    spec: LabSpec, node: str, network: str, bridges: tuple[Bridge, ...]
) -> list[BridgeProblem]:
    net = spec.networks[network]
    where = f"networks.{network}"

    def problem(text: str, fix: str) -> BridgeProblem:
        return BridgeProblem(node, network, text, fix)

    bridge = next((b for b in bridges if b.name == net.bridge), None)
    if bridge is None:
        return [
            problem(
                f"bridge {net.bridge} ({where}.bridge) does not exist on node {node}, or the "
                "token cannot see it: a VM on it cannot start",
                f"create {net.bridge} on {node} (System > Network), fix {where}.bridge, or "
                f"grant SDN.Use on /sdn/zones/localnetwork/{net.bridge}",
            )
        ]
    found = []
    if not bridge.active:
        found.append(
            problem(
                f"bridge {net.bridge} on node {node} is not active",
                f"bring it up on {node} (ifreload -a), or fix {where}.bridge",
            )
        )
    if bridge.ovs:
        pass  # Open vSwitch tags the VM's port itself (pve-common ovs_bridge_add_port)
    elif net.vlan is not None and not bridge.vlan_aware and not bridge.ports:
        found.append(
            problem(
                f"bridge {bridge.name} on node {node} has no port and is not VLAN aware: PVE "
                f"cannot put a NIC on VLAN {net.vlan} there (no physical interface on bridge)",
                f"make {bridge.name} VLAN aware, give it a port, or drop {where}.vlan",
            )
        )
    elif (
        net.vlan is not None
        and bridge.vlan_aware
        and not vlan_allowed(bridge.vids or "2-4094", net.vlan)
    ):
        found.append(
            problem(
                f"VLAN {net.vlan} ({where}.vlan) is not among bridge {bridge.name}'s VLANs "
                f"({bridge.vids}) on node {node}: its frames are dropped",
                f"add {net.vlan} to bridge-vids of {bridge.name} on {node}",
            )
        )
    if net.mtu is not None and net.mtu > bridge.mtu:
        found.append(
            problem(
                f"{where}.mtu {net.mtu} is above bridge {net.bridge}'s MTU {bridge.mtu} on "
                f"node {node}: the guests' larger frames are dropped",
                f"set mtu {net.mtu} on {net.bridge} and its ports on {node}, or lower {where}.mtu",
            )
        )
    return found


def vlan_allowed(vids: str, vlan: int) -> bool:
    """Whether ``bridge_vids`` (``2-4094``, ``2 4 100-200``) lets ``vlan`` through."""
    for part in vids.replace(",", " ").split():
        low, _, high = part.partition("-")
        if low.isdigit() and int(low) <= vlan <= int(high if high.isdigit() else low):
            return True
    return False
