"""The lab's topology as a Graphviz graph: what ``homelab diagram`` draws. Pure.

``lab_diagram(spec, observed)`` builds a ``graphviz.Digraph``, which only writes DOT source in
memory; running ``dot`` on it is ``homelab.verbs.diagram``'s job. Nothing is placed by hand:
clusters group what belongs together and dot lays it out, top to bottom:

- the router, drawn from the networks' gateways (``Router``; the spec names no router yet, so
  it is labelled as the gateway, one row per network it routes);
- one node per network: its VLAN and bridge, CIDR, gateway, DNS and MTU;
- the Proxmox VE cluster (API endpoint, template, VMID range), a cluster per Proxmox node and in
  it a cluster per bridge and VLAN its VMs use, holding the VMs: name, role, IP and VMID (the
  observed one, else the one pinned in the spec). A group of more than ``ROW`` VMs wraps into
  rows, control planes first, so a lab of twenty workers stays a compact block;
- the Kubernetes cluster: the control-plane endpoint (the VIP, or the first control plane),
  the LoadBalancer pool, the pod and service CIDRs;
- a legend of the fills: the roles, or with observations the states ``VmState`` names.

``observed`` is plain data, a ``VmObservation`` per VM name (``homelab.verbs.diagram`` makes them
from the rows ``homelab status`` shows); a VM observed but not in the spec is drawn too, on the
node it was seen on. Every element gets a stable id (``vm-<name>``, ``net-<name>``, ...), which
is its ``id`` in SVG output.
"""

from __future__ import annotations

import html
import itertools
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address

import graphviz

from homelab.core.desired import placement
from homelab.core.spec.models import LabSpec, NetworkSpec, VmSpec

__all__ = [
    "EXTRA_NETWORK",
    "ROLE_FILLS",
    "ROW",
    "STATE_FILLS",
    "Router",
    "VmObservation",
    "VmState",
    "diagram_source",
    "element_id",
    "group_id",
    "lab_diagram",
    "router_of",
    "vm_state",
]

#: At most this many VMs side by side in one bridge/VLAN group; more wrap into rows.
ROW = 5

FONT = "Helvetica,Arial,sans-serif"
INK = "#37474f"
MUTED = "#607d8b"


class VmState(StrEnum):
    """What was seen of a spec VM, in the order one state wins over the next."""

    MISSING = "missing"  # not on Proxmox (not created yet, or destroyed)
    STOPPED = "stopped"  # exists, not running
    DRIFTED = "drifted"  # running, but apply would change it (or it is not in the spec)
    RUNNING = "running"  # running and as the spec says


STATE_FILLS: Mapping[VmState, str] = {
    VmState.RUNNING: "#b9e4b4",
    VmState.STOPPED: "#d5d9dd",
    VmState.MISSING: "#f7c5c5",
    VmState.DRIFTED: "#ffe08a",
}
STATE_MEANING: Mapping[VmState, str] = {
    VmState.RUNNING: "running, as the spec says",
    VmState.STOPPED: "exists, not running",
    VmState.MISSING: "not on Proxmox",
    VmState.DRIFTED: "differs from the spec",
}
ROLE_FILLS: Mapping[str, str] = {"control-plane": "#cfe2f8", "worker": "#f1f4f7"}
ROLES = ("control-plane", "worker")

_NETWORK_FILL, _ROUTER_FILL, _K8S_FILL, _PVE_FILL = "#fff3cd", "#e6dcf5", "#eaf2fb", "#f6f7f9"
_IN_SYNC = "in sync"
_ENDPOINT_HOST = re.compile(r"^https://([^/:\[\]]+)(?::\d+)?/?$")
_REASON_CHARS, _REASON_LINES = 32, 2
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")

#: The group that holds a VM observed but not in the spec (its network is not known).
EXTRA_NETWORK = ""


@dataclass(frozen=True)
class VmObservation:
    """One VM as observed: its state and what Proxmox says of it.

    ``power`` is Proxmox's word (``running``, ``stopped``, ``paused``; ``absent`` when there is
    no such VM), ``drift`` the plan's (``in sync``, ``update``, ``replace``, ``destroy``...)
    and ``reason`` why; ``role`` matters for a VM the spec does not have."""

    state: VmState
    vmid: int | None = None
    node: str | None = None
    power: str = ""
    drift: str = _IN_SYNC
    reason: str = ""
    ips: tuple[str, ...] = ()
    role: str = ""


def vm_state(power: str, drift: str) -> VmState:
    """The one state a VM is drawn in: missing, then stopped, then drifted, else running.

    A stopped VM also drifts (apply would start it), but "stopped" says more."""
    if power == "absent":
        return VmState.MISSING
    if power != "running":
        return VmState.STOPPED
    if drift != _IN_SYNC:
        return VmState.DRIFTED
    return VmState.RUNNING


@dataclass(frozen=True)
class Router:
    """The router the networks route through: a title and (network, gateway) per interface.

    Drawn from the networks' gateways; a router section in the spec (e.g. OPNsense) would fill
    ``title`` and ``detail`` with its own name."""

    title: str
    detail: str
    interfaces: tuple[tuple[str, IPv4Address], ...]


def router_of(spec: LabSpec) -> Router:
    """The gateway every network of the spec names, one interface per network."""
    interfaces = tuple((name, net.gateway) for name, net in spec.networks.items())
    return Router("gateway", "router of the lab's networks", interfaces)


def element_id(kind: str, name: str = "") -> str:
    """The DOT node name and SVG id of an element: ``vm-<name>``, ``net-<name>``, ``router``.

    Characters other than letters, digits, ``.``, ``_`` and ``-`` are written ``_<hex>_`` (a
    ``:`` would read as a port in an edge)."""
    return f"{kind}-{_safe(name)}" if name else kind


def group_id(node: str, network: str) -> str:
    """The id of the cluster of one network's VMs on one Proxmox node (``EXTRA_NETWORK``: the
    VMs not in the spec)."""
    return f"{element_id('node', node)}-net-{_safe(network) or '-'}"


def diagram_source(spec: LabSpec, observed: Mapping[str, VmObservation] | None = None) -> str:
    """The DOT source of ``lab_diagram``."""
    source: str = lab_diagram(spec, observed).source
    return source


@dataclass(frozen=True)
class _Vm:
    """A VM to draw: from the spec, the observations, or both."""

    name: str
    role: str
    node: str
    network: str
    spec: VmSpec | None
    seen: VmObservation | None

    @property
    def vmid(self) -> int | None:
        if self.seen is not None and self.seen.vmid is not None:
            return self.seen.vmid
        return self.spec.vmid if self.spec is not None else None


def lab_diagram(
    spec: LabSpec, observed: Mapping[str, VmObservation] | None = None
) -> graphviz.Digraph:
    """The lab's topology; with ``observed``, every VM filled with the colour of its state."""
    graph = graphviz.Digraph(name=spec.name, engine="dot")
    graph.attr(
        compound="true",
        rankdir="TB",
        nodesep="0.25",
        ranksep="0.45",
        fontname=FONT,
        fontsize="11",
        fontcolor=INK,
        labelloc="t",
        label=_html(_title(spec, observed is not None)),
    )
    graph.attr("node", fontname=FONT, fontsize="10", fontcolor=INK, color=MUTED)
    graph.attr("edge", fontname=FONT, fontsize="9", fontcolor=MUTED, color=MUTED)
    vms = _vms(spec, observed)
    _router(graph, router_of(spec))
    _networks(graph, spec)
    _proxmox(graph, spec, vms, observed is not None)
    _kubernetes(graph, spec, vms)
    _legend(graph, observed is not None)
    return graph


def _title(spec: LabSpec, observed: bool) -> str:
    what = "as observed" if observed else "as specified"
    return f"<B>lab {_e(spec.name)}</B> <FONT COLOR='{MUTED}'>({what})</FONT>"


def _vms(spec: LabSpec, observed: Mapping[str, VmObservation] | None) -> list[_Vm]:
    """The spec's VMs (control planes first, spec order otherwise), then the observed extras."""
    seen = observed or {}
    nodes = placement(spec)
    ordered = sorted(spec.vms.items(), key=lambda item: ROLES.index(item[1].role))
    vms = [
        _Vm(name, vm.role, _node(nodes[name], seen.get(name)), vm.network, vm, seen.get(name))
        for name, vm in ordered
    ]
    for name, obs in seen.items():
        if name not in spec.vms:
            node = obs.node or spec.proxmox.nodes[0]
            vms.append(_Vm(name, obs.role or "?", node, EXTRA_NETWORK, None, obs))
    return vms


def _node(planned: str, seen: VmObservation | None) -> str:
    """Where a VM is: where it was seen, else where the spec places it."""
    return seen.node if seen is not None and seen.node else planned


# ---- the router and the networks -------------------------------------------------------------


def _router(graph: graphviz.Digraph, router: Router) -> None:
    rows = "".join(
        f"<TR><TD ALIGN='LEFT' PORT='{_port(name)}'>{_e(name)}</TD>"
        f"<TD ALIGN='LEFT'>{_e(str(gateway))}</TD></TR>"
        for name, gateway in router.interfaces
    )
    label = (
        "<TABLE BORDER='1' CELLBORDER='0' CELLSPACING='0' CELLPADDING='3' "
        f"BGCOLOR='{_ROUTER_FILL}' COLOR='{MUTED}' STYLE='ROUNDED'>"
        f"<TR><TD COLSPAN='2'><B>{_e(router.title)}</B></TD></TR>"
        f"<TR><TD COLSPAN='2'><FONT POINT-SIZE='9' COLOR='{MUTED}'>{_e(router.detail)}"
        f"</FONT></TD></TR>{rows}</TABLE>"
    )
    ident = element_id("router")
    graph.node(ident, label=_html(label), shape="plain", id=ident, tooltip=router.detail)
    for name, _gateway in router.interfaces:
        graph.edge(f"{ident}:{_port(name)}", element_id("net", name), arrowhead="none")


def _networks(graph: graphviz.Digraph, spec: LabSpec) -> None:
    with graph.subgraph(name="networks") as rank:
        rank.attr(rank="same")
        for name, net in spec.networks.items():
            ident = element_id("net", name)
            rank.node(
                ident,
                label=_html(_network_label(name, net)),
                shape="box",
                style="filled,rounded",
                fillcolor=_NETWORK_FILL,
                id=ident,
                tooltip=f"network {name}: {net.cidr}",
            )


def _network_label(name: str, net: NetworkSpec) -> str:
    vlan = f"VLAN {net.vlan}" if net.vlan is not None else "untagged"
    lines = [
        f"<B>{_e(name)}</B>  {vlan} on {_e(net.bridge)}",
        f"{net.cidr}",
        f"gateway {net.gateway}",
    ]
    if net.dns:
        lines.append("DNS " + ", ".join(str(dns) for dns in net.dns))
    if net.mtu is not None:
        lines.append(f"MTU {net.mtu}")
    return "<BR/>".join(lines)


# ---- Proxmox: nodes, bridges and VLANs, VMs --------------------------------------------------


def _proxmox(graph: graphviz.Digraph, spec: LabSpec, vms: list[_Vm], observed: bool) -> None:
    nodes = list(dict.fromkeys([*spec.proxmox.nodes, *(vm.node for vm in vms)]))
    anchor: str | None = None
    with graph.subgraph(name="cluster_proxmox") as pve:
        pve.attr(
            label=_html(_proxmox_label(spec)),
            labeljust="l",
            labelloc="b",
            style="rounded,filled",
            fillcolor=_PVE_FILL,
            color=MUTED,
            id="proxmox",
        )
        for node in nodes:
            here = [vm for vm in vms if vm.node == node]
            first = _proxmox_node(pve, spec, node, here, observed)
            anchor = anchor or first
    host = _endpoint_host(spec.proxmox.endpoint)
    network = _network_holding(spec, host) if host is not None else None
    if network is not None and anchor is not None:
        graph.edge(
            element_id("net", network),
            anchor,
            lhead="cluster_proxmox",
            label=f"API {host}",
            style="dashed",
            arrowhead="none",
            id=element_id("pve-api"),
        )


def _proxmox_label(spec: LabSpec) -> str:
    pve = spec.proxmox
    return (
        f"<B>Proxmox VE</B>  API {_e(pve.endpoint)}<BR ALIGN='LEFT'/>"
        f"<FONT POINT-SIZE='9' COLOR='{MUTED}'>template {_e(str(pve.template))}, "
        f"{pve.clone} clones on {_e(pve.storage)}, VMIDs {_e(pve.vmid_range)}</FONT>"
        "<BR ALIGN='LEFT'/>"
    )


def _proxmox_node(
    parent: graphviz.Digraph, spec: LabSpec, node: str, vms: list[_Vm], observed: bool
) -> str:
    """A Proxmox node's cluster, one inner cluster per bridge and VLAN; its first node's id."""
    ident = element_id("node", node)
    first = None
    with parent.subgraph(name=f"cluster_{ident}") as cluster:
        unknown = "" if node in spec.proxmox.nodes else " (not in the spec)"
        cluster.attr(
            label=_html(f"<B>node {_e(node)}</B>{unknown}"),
            labeljust="l",
            labelloc="b",
            style="rounded,filled",
            fillcolor="white",
            color=MUTED,
            id=ident,
        )
        groups: dict[str, list[_Vm]] = {}
        for vm in vms:
            groups.setdefault(vm.network, []).append(vm)
        for network, members in groups.items():
            head = _group(cluster, spec, node, network, members, observed)
            first = first or head
        if first is None:  # dot drops an empty cluster: say it is empty
            first = f"{ident}-empty"
            cluster.node(first, label="no VMs of this lab", shape="plaintext", fontcolor=MUTED)
    return first


def _group(
    parent: graphviz.Digraph,
    spec: LabSpec,
    node: str,
    network: str,
    vms: list[_Vm],
    observed: bool,
) -> str:
    """The VMs of one network on one node, wrapped in rows of ``ROW``; the first VM's id."""
    net = spec.networks.get(network)
    ident = group_id(node, network)
    name = f"cluster_{ident}"
    with parent.subgraph(name=name) as group:
        group.attr(
            label=_html(_group_label(network, net)),
            style="rounded,dashed",
            color=MUTED,
            labeljust="l",
            labelloc="b",
            id=ident,
        )
        rows = _rows(vms)
        for number, row in enumerate(rows):
            with group.subgraph(name=f"{ident}-row{number}") as line:
                line.attr(rank="same")
                for vm in row:
                    _vm(line, vm, observed)
                for left, right in itertools.pairwise(row):  # keeps the row's order
                    line.edge(
                        element_id("vm", left.name), element_id("vm", right.name), style="invis"
                    )
        for upper, lower in itertools.pairwise(rows):  # each row below the last
            group.edge(
                element_id("vm", upper[0].name), element_id("vm", lower[0].name), style="invis"
            )
    head = element_id("vm", vms[0].name)
    if net is not None:
        parent.edge(element_id("net", network), head, lhead=name, arrowhead="none")
    return head


def _group_label(network: str, net: NetworkSpec | None) -> str:
    if net is None:
        return f"<FONT COLOR='{MUTED}'>not in the spec</FONT>"
    vlan = f"VLAN {net.vlan}" if net.vlan is not None else "untagged"
    return f"<B>{_e(net.bridge)}</B>  {vlan} ({_e(network)})"


def _rows(vms: list[_Vm]) -> list[list[_Vm]]:
    """Rows of at most ``ROW`` VMs; control planes and workers start rows of their own when the
    group does not fit in one."""
    if len(vms) <= ROW:
        return [vms]
    rows: list[list[_Vm]] = []
    for role in dict.fromkeys(vm.role for vm in vms):
        same = [vm for vm in vms if vm.role == role]
        rows += [same[start : start + ROW] for start in range(0, len(same), ROW)]
    return rows


def _vm(graph: graphviz.Digraph, vm: _Vm, observed: bool) -> None:
    seen = vm.seen
    state = seen.state if seen is not None else (VmState.MISSING if observed else None)
    fill = STATE_FILLS[state] if state is not None else ROLE_FILLS.get(vm.role, "white")
    ident = element_id("vm", vm.name)
    graph.node(
        ident,
        label=_html(_vm_label(vm, state)),
        shape="box",
        style="filled,rounded" + (",dashed" if state is VmState.MISSING else ""),
        fillcolor=fill,
        penwidth="2" if vm.role == "control-plane" else "1",
        id=ident,
        tooltip=_vm_tooltip(vm, state),
        margin="0.12,0.06",
    )


def _vm_label(vm: _Vm, state: VmState | None) -> str:
    lines = [f"<B>{_e(vm.name)}</B>", _e(vm.role)]
    address = str(vm.spec.ip) if vm.spec is not None else ", ".join(_seen_ips(vm))
    vmid = f"<FONT COLOR='{MUTED}'>VMID {vm.vmid}</FONT>" if vm.vmid is not None else ""
    lines.append("  ".join(part for part in (_e(address), vmid) if part) or "-")
    if state is not None:
        lines.append(f"<I>{_e(_state_text(vm, state))}</I>")
    drifted = vm.seen is not None and vm.spec is not None and state is VmState.DRIFTED
    reason = vm.seen.reason if vm.seen is not None and drifted else ""
    lines += [
        f"<FONT POINT-SIZE='8' COLOR='{MUTED}'>{_e(line)}</FONT>" for line in _shortened(reason)
    ]
    if vm.spec is not None and vm.seen is not None:
        others = [ip for ip in vm.seen.ips if ip != str(vm.spec.ip)]
        if others and str(vm.spec.ip) not in vm.seen.ips:
            lines.append(f"<FONT COLOR='#b71c1c'>guest has {_e(', '.join(others))}</FONT>")
    return "<BR/>".join(lines)


def _shortened(reason: str) -> list[str]:
    """The plan's reason in at most two short lines (the tooltip has all of it)."""
    return textwrap.wrap(reason, _REASON_CHARS, max_lines=_REASON_LINES, placeholder=" ...")


def _seen_ips(vm: _Vm) -> tuple[str, ...]:
    return vm.seen.ips if vm.seen is not None else ()


def _state_text(vm: _Vm, state: VmState) -> str:
    seen = vm.seen
    if vm.spec is None:
        return f"{state}: not in the spec"
    if seen is None or state is VmState.MISSING:
        return "missing: not on Proxmox"
    if state is VmState.STOPPED:
        return seen.power or "stopped"
    if state is VmState.DRIFTED:
        return f"drifted: {seen.drift}"
    return "running"


def _vm_tooltip(vm: _Vm, state: VmState | None) -> str:
    parts = [f"{vm.name} ({vm.role}) on {vm.node}"]
    if vm.spec is not None:
        spec = vm.spec
        parts.append(f"{spec.cores} cores, {spec.memory} MiB, {spec.disk} GiB disk")
    if state is not None:
        parts.append(_state_text(vm, state))
        if vm.seen is not None and vm.seen.reason:
            parts.append(vm.seen.reason)
    return "; ".join(parts)


# ---- Kubernetes ------------------------------------------------------------------------------


def _kubernetes(graph: graphviz.Digraph, spec: LabSpec, vms: Sequence[_Vm]) -> None:
    k8s = spec.kubernetes
    with graph.subgraph(name="cluster_kubernetes") as cluster:
        cluster.attr(
            label=_html(
                f"<B>Kubernetes {_e(k8s.version)}</B>  kubeadm, {_e(k8s.cni.capitalize())}"
            ),
            style="rounded,filled",
            fillcolor=_K8S_FILL,
            color=MUTED,
            id="kubernetes",
        )
        with cluster.subgraph(name="kubernetes-rank") as rank:
            rank.attr(rank="same")
            ids = _kubernetes_nodes(rank, spec)
            for left, right in itertools.pairwise(ids):  # keeps their order
                rank.edge(left, right, style="invis")
    endpoint = ids[0]
    planes = [vm for vm in vms if vm.role == "control-plane" and vm.spec is not None]
    for vm in planes:
        graph.edge(
            endpoint,
            element_id("vm", vm.name),
            style="dashed",
            arrowhead="none",
            color="#1e88e5",
        )


def _kubernetes_nodes(cluster: graphviz.Digraph, spec: LabSpec) -> list[str]:
    """The endpoint, the LoadBalancer pool and the cluster CIDRs; their ids in that order."""
    k8s = spec.kubernetes
    boxes = [
        (
            element_id("endpoint"),
            _endpoint_label(spec),
            "the control-plane endpoint (API server, port 6443)",
        )
    ]
    if k8s.load_balancer is not None:
        pool = k8s.load_balancer
        network = _network_holding(spec, pool.first)
        where = f" on {_e(network)}" if network is not None else ""
        boxes.append(
            (
                element_id("lb-pool"),
                f"<B>LoadBalancer pool</B><BR/>{pool.first} - {pool.last}<BR/>"
                f"<FONT COLOR='{MUTED}'>MetalLB, L2{where}</FONT>",
                "MetalLB IPAddressPool (L2 advertisement)",
            )
        )
    cni = _e(k8s.cni.capitalize())
    boxes.append(
        (
            element_id("cluster-cidrs"),
            f"<B>pod CIDR</B> {k8s.pod_cidr}<BR/><FONT COLOR='{MUTED}'>{cni} IP pool</FONT><BR/>"
            f"<B>service CIDR</B> {k8s.service_cidr}<BR/>"
            f"<FONT COLOR='{MUTED}'>domain {_e(k8s.cluster_domain)}</FONT>",
            "the cluster's own address ranges",
        )
    )
    for ident, label, tooltip in boxes:
        cluster.node(
            ident,
            label=_html(label),
            shape="box",
            style="filled,rounded",
            fillcolor="white",
            id=ident,
            tooltip=tooltip,
        )
    return [ident for ident, _label, _tooltip in boxes]


def _endpoint_label(spec: LabSpec) -> str:
    k8s = spec.kubernetes
    if k8s.control_plane_endpoint is not None:
        how = "kube-vip VIP"
    else:
        how = f"on {_e(spec.control_planes[0])}"
    return (
        f"<B>control-plane endpoint</B><BR/>https://{spec.api_endpoint()}:6443<BR/>"
        f"<FONT COLOR='{MUTED}'>{how}</FONT>"
    )


# ---- the legend ------------------------------------------------------------------------------


def _legend(graph: graphviz.Digraph, observed: bool) -> None:
    if observed:
        order = (VmState.RUNNING, VmState.DRIFTED, VmState.STOPPED, VmState.MISSING)
        entries = [(STATE_FILLS[s], str(s), STATE_MEANING[s]) for s in order]
        title = "VM state"
    else:
        entries = [(ROLE_FILLS[role], role, "") for role in ROLES]
        title = "VM role"
    rows = "".join(
        f"<TR><TD BGCOLOR='{fill}' BORDER='1' WIDTH='18'> </TD>"
        f"<TD ALIGN='LEFT'>{_e(name)}</TD>"
        + (f"<TD ALIGN='LEFT'><FONT COLOR='{MUTED}'>{_e(meaning)}</FONT></TD>" if meaning else "")
        + "</TR>"
        for fill, name, meaning in entries
    )
    label = (
        "<TABLE BORDER='1' CELLBORDER='0' CELLSPACING='3' CELLPADDING='2' COLOR='#b0bec5' "
        f"STYLE='ROUNDED'><TR><TD COLSPAN='3' ALIGN='LEFT'><B>{title}</B></TD></TR>{rows}"
        f"<TR><TD COLSPAN='3' ALIGN='LEFT'><FONT COLOR='{MUTED}' POINT-SIZE='9'>"
        "thick border: control plane</FONT></TD></TR></TABLE>"
    )
    graph.node(element_id("legend"), label=_html(label), shape="plain", id="legend")


# ---- helpers ---------------------------------------------------------------------------------


def _endpoint_host(endpoint: str) -> IPv4Address | None:
    """The IPv4 address in ``https://HOST:PORT``, or None for a host name."""
    match = _ENDPOINT_HOST.match(endpoint)
    if match is None:
        return None
    try:
        return IPv4Address(match.group(1))
    except ValueError:
        return None


def _network_holding(spec: LabSpec, address: IPv4Address) -> str | None:
    return next((name for name, net in spec.networks.items() if address in net.cidr), None)


def _safe(name: str) -> str:
    return _UNSAFE.sub(lambda match: f"_{ord(match.group()):x}_", name)


def _port(name: str) -> str:
    """A table port name for a network."""
    return "p-" + _safe(name)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _html(label: str) -> str:
    """An HTML-like label as the graphviz package takes it (kept as is, not quoted)."""
    return f"<{label}>"
