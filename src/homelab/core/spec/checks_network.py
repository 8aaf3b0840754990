"""Semantic checks on addresses: CIDRs, gateways, VM IPs, VLANs, DNS, the LoadBalancer pool, VIP.

Each check is a generator over one concern that yields ``Problem``s; it assumes the spec passed
model validation (types are right) and checks only how the values relate. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network

from homelab.core.spec.findings import Problem, error, warning
from homelab.core.spec.models import LabSpec

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
DNS_NAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$", re.IGNORECASE)
NODE_CIDR_PREFIX = 24  # kube-controller-manager's --node-cidr-mask-size for IPv4
SERVICE_CIDR_MIN_PREFIX = 12  # kube-apiserver refuses larger IPv4 service ranges
SERVICE_CIDR_MAX_PREFIX = 28  # kubeadm puts CoreDNS on the 10th address


def reserved_role(address: IPv4Address, cidr: IPv4Network) -> str | None:
    """'the network address' / 'the broadcast address' of ``cidr``, else None."""
    if cidr.prefixlen >= 31:
        return None
    if address == cidr.network_address:
        return f"the network address of {cidr}"
    if address == cidr.broadcast_address:
        return f"the broadcast address of {cidr}"
    return None


def _cidrs(spec: LabSpec) -> list[tuple[tuple[str, ...], str, IPv4Network]]:
    named: list[tuple[tuple[str, ...], str, IPv4Network]] = [
        (("networks", name, "cidr"), f"network '{name}'", net.cidr)
        for name, net in spec.networks.items()
    ]
    kube = spec.kubernetes
    named.append((("kubernetes", "pod_cidr"), "pod_cidr", kube.pod_cidr))
    named.append((("kubernetes", "service_cidr"), "service_cidr", kube.service_cidr))
    return named


def check_overlaps(spec: LabSpec) -> Iterator[Problem]:
    """No two of the networks, pod_cidr and service_cidr may overlap."""
    named = _cidrs(spec)
    for index, (path, _label, cidr) in enumerate(named):
        for _other_path, other_label, other in named[:index]:
            if cidr.overlaps(other):
                yield error(path, f"{cidr} overlaps {other_label} ({other})")


def check_gateways(spec: LabSpec) -> Iterator[Problem]:
    """Each gateway sits inside its network and is a usable host address."""
    for name, net in spec.networks.items():
        path = ("networks", name, "gateway")
        if net.gateway not in net.cidr:
            yield error(path, f"gateway {net.gateway} is outside the network's cidr {net.cidr}")
        elif (role := reserved_role(net.gateway, net.cidr)) is not None:
            yield error(path, f"gateway {net.gateway} is {role}")


def check_vlans(spec: LabSpec) -> Iterator[Problem]:
    """VLAN ids are unique across networks (the range 1-4094 is checked by the model)."""
    seen: dict[int, str] = {}
    for name, net in spec.networks.items():
        if net.vlan is None:
            continue
        if net.vlan in seen:
            yield error(
                ("networks", name, "vlan"),
                f"VLAN {net.vlan} is already used by network '{seen[net.vlan]}'",
            )
        else:
            seen[net.vlan] = name


def check_dns(spec: LabSpec) -> Iterator[Problem]:
    """DNS servers are reachable unicast addresses; search domains are DNS names."""
    for name, net in spec.networks.items():
        seen: set[IPv4Address] = set()
        for index, server in enumerate(net.dns):
            path = ("networks", name, "dns", index)
            if server.is_unspecified or server.is_multicast or server.is_loopback:
                yield error(path, f"{server} cannot serve DNS to the VMs")
            elif server in seen:
                yield warning(path, f"DNS server {server} is listed twice")
            seen.add(server)
        for index, domain in enumerate(net.search_domains):
            if not DNS_NAME_RE.match(domain):
                yield error(
                    ("networks", name, "search_domains", index),
                    f"'{domain}' is not a valid DNS domain name",
                )


def check_dns_for_vms(spec: LabSpec) -> Iterator[Problem]:
    """A network that VMs sit on names a DNS server: apt and image pulls need one at first boot."""
    used = {vm.network for vm in spec.vms.values()}
    for name, net in spec.networks.items():
        if name in used and not net.dns:
            yield warning(
                ("networks", name),
                f"VMs on network '{name}' get no DNS server (set dns: [...]); cloud-init's "
                "package installs and the cluster's image pulls will fail without one",
                on_key=True,
            )


def check_vm_ips_in_network(spec: LabSpec) -> Iterator[Problem]:
    """Each VM's IP is a usable host address of its network, not its gateway."""
    for vm_name, vm in spec.vms.items():
        net = spec.networks.get(vm.network)
        if net is None:
            continue  # reported by check_references
        path = ("vms", vm_name, "ip")
        if vm.ip not in net.cidr:
            yield error(path, f"ip {vm.ip} is outside network '{vm.network}' ({net.cidr})")
        elif (role := reserved_role(vm.ip, net.cidr)) is not None:
            yield error(path, f"ip {vm.ip} is {role}")
        elif vm.ip == net.gateway:
            yield error(path, f"ip {vm.ip} is the gateway of network '{vm.network}'")


def check_vm_ips_unique(spec: LabSpec) -> Iterator[Problem]:
    """No two VMs share an IP."""
    owners: dict[IPv4Address, str] = {}
    for vm_name, vm in spec.vms.items():
        if vm.ip in owners:
            yield error(
                ("vms", vm_name, "ip"), f"ip {vm.ip} is already used by vm '{owners[vm.ip]}'"
            )
        else:
            owners[vm.ip] = vm_name


def check_vm_ips_clear_of_cluster(spec: LabSpec) -> Iterator[Problem]:
    """VM IPs are outside the pod and service CIDRs (routing inside the cluster would break)."""
    kube = spec.kubernetes
    for vm_name, vm in spec.vms.items():
        for label, cidr in (("pod_cidr", kube.pod_cidr), ("service_cidr", kube.service_cidr)):
            if vm.ip in cidr:
                yield error(("vms", vm_name, "ip"), f"ip {vm.ip} is inside {label} {cidr}")


def check_cluster_cidr_sizes(spec: LabSpec) -> Iterator[Problem]:
    """pod_cidr leaves a /24 per node; service_cidr is between /12 and /28."""
    pod = spec.kubernetes.pod_cidr
    room = NODE_CIDR_PREFIX - pod.prefixlen
    blocks = 2**room if room >= 0 else 0
    if blocks < len(spec.vms):
        wanted = NODE_CIDR_PREFIX - (len(spec.vms) - 1).bit_length()
        yield error(
            ("kubernetes", "pod_cidr"),
            f"pod_cidr {pod} holds {blocks} per-node /{NODE_CIDR_PREFIX} blocks but the lab "
            f"has {len(spec.vms)} VMs; use a /{wanted} or larger",
        )
    service = spec.kubernetes.service_cidr
    if service.prefixlen < SERVICE_CIDR_MIN_PREFIX:
        yield error(
            ("kubernetes", "service_cidr"),
            f"service_cidr {service} is larger than kube-apiserver accepts "
            f"(/{SERVICE_CIDR_MIN_PREFIX} at most)",
        )
    elif service.prefixlen > SERVICE_CIDR_MAX_PREFIX:
        yield error(
            ("kubernetes", "service_cidr"),
            f"service_cidr {service} is too small for the cluster's services "
            f"(/{SERVICE_CIDR_MAX_PREFIX} at least; the default is 10.96.0.0/12)",
        )


def network_of(spec: LabSpec, address: IPv4Address) -> str | None:
    """The name of the first network whose cidr holds ``address``."""
    for name, net in spec.networks.items():
        if address in net.cidr:
            return name
    return None


def _pool_conflicts(spec: LabSpec, first: IPv4Address, last: IPv4Address) -> Iterator[str]:
    def inside(address: IPv4Address) -> bool:
        return first <= address <= last

    for name, net in spec.networks.items():
        if net.cidr.prefixlen < 31:
            for reserved in (net.cidr.network_address, net.cidr.broadcast_address):
                if inside(reserved):
                    yield f"includes {reserved}, {reserved_role(reserved, net.cidr)}"
        if inside(net.gateway):
            yield f"includes {net.gateway}, the gateway of network '{name}'"
    for vm_name, vm in spec.vms.items():
        if inside(vm.ip):
            yield f"includes {vm.ip}, the ip of vm '{vm_name}'"
    vip = spec.kubernetes.control_plane_endpoint
    if vip is not None and inside(vip):
        yield f"includes {vip}, the control_plane_endpoint (VIP)"


def check_load_balancer(spec: LabSpec) -> Iterator[Problem]:
    """The LoadBalancer pool is ordered, inside one network, clear of VMs, gateways and the VIP."""
    pool = spec.kubernetes.load_balancer
    if pool is None:
        return
    path = ("kubernetes", "load_balancer", "addresses")
    first, last = pool.first, pool.last
    if first > last:
        yield error(path, f"the range is reversed: {first} comes after {last}")
        return
    home = network_of(spec, first)
    if home is None or last not in spec.networks[home].cidr:
        yield error(path, f"{first}-{last} is not inside one of the lab's networks")
        return
    for conflict in _pool_conflicts(spec, first, last):
        yield error(path, f"the pool {conflict}")
    if not any(vm.network == home for vm in spec.vms.values()):
        yield warning(
            path,
            f"no VM sits on network '{home}', so no node can announce these addresses (L2 mode)",
        )


def check_control_plane_endpoint(spec: LabSpec) -> Iterator[Problem]:
    """More than one control plane needs a VIP: a free address on the control planes' network."""
    vip = spec.kubernetes.control_plane_endpoint
    planes = spec.control_planes
    path = ("kubernetes", "control_plane_endpoint")
    if vip is None:
        if len(planes) > 1:
            yield error(
                path,
                f"{len(planes)} control planes need a VIP: set control_plane_endpoint to a free "
                "address on their network",
            )
        return
    home = network_of(spec, vip)
    if home is None:
        yield error(path, f"VIP {vip} is not inside any of the lab's networks")
        return
    net = spec.networks[home]
    if (role := reserved_role(vip, net.cidr)) is not None:
        yield error(path, f"VIP {vip} is {role}")
    if vip == net.gateway:
        yield error(path, f"VIP {vip} is the gateway of network '{home}'")
    for vm_name, vm in spec.vms.items():
        if vm.ip == vip:
            yield error(path, f"VIP {vip} is already the ip of vm '{vm_name}'")
    for name in planes:
        plane_net = spec.networks.get(spec.vms[name].network)
        if plane_net is not None and vip not in plane_net.cidr:
            yield error(
                path,
                f"VIP {vip} is not on the network of control plane '{name}' "
                f"({spec.vms[name].network}, {plane_net.cidr})",
            )


ADDRESS_CHECKS = (
    check_overlaps,
    check_gateways,
    check_vlans,
    check_dns,
    check_dns_for_vms,
    check_vm_ips_in_network,
    check_vm_ips_unique,
    check_vm_ips_clear_of_cluster,
    check_cluster_cidr_sizes,
    check_load_balancer,
    check_control_plane_endpoint,
)
