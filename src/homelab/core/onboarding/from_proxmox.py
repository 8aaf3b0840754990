"""``homelab init --from-proxmox``: a starter spec from what a Proxmox VE cluster has. Pure.

The verb reads an ``Inventory`` through the API (a read-only token is enough: PVEAuditor); this
module chooses and writes:

- the template: a cloud-init template (guest agent on, a cloud-init drive) present on the most
  nodes, by name; the lab's nodes are those that have it (every online node when its disk is
  on shared storage);
- ``storage``: where the VMs' disks go (content ``images``; the template's own storage first,
  then a shared one, then the largest), ``iso_storage``: content ``iso`` (``local`` first);
- ``vmid_range``: the first free block of 100 from 200 up, clear of every guest (QEMU and LXC);
- networks: one per bridge with an address (its subnet, its gateway) and one per bridge and VLAN
  the existing VMs use with a static address (``ipconfig0``); the lab goes on the network most
  existing VMs use (else the first);
- three VMs (one control plane, two workers) on free addresses of that network, spread over the
  nodes, and the LoadBalancer pool on a free range of it;
- each existing VM that ``adopt`` could take over, as a commented-out block, with what it has.

Everything chosen is written with a comment saying why, and ``Starter.notes`` says it again for
the terminal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from homelab.core.observed import NodeCapacity, ObservedVm, VmConfig
from homelab.core.onboarding.values import parse_ipconfig
from homelab.core.ownership import Facts, other_lab_of
from homelab.core.pve_inventory import Bridge
from homelab.core.spec.checks import HOSTNAME_RE
from homelab.core.storage_facts import StorageFacts

__all__ = ["Inventory", "Starter", "VmFacts", "starter_spec"]

RANGE_SIZE = 100
FIRST_RANGE = 200
LAB_VMS: tuple[tuple[str, str, int], ...] = (
    ("k8s-master-1", "control-plane", 10),
    ("k8s-worker-2", "worker", 21),
    ("k8s-worker-3", "worker", 22),
)


@dataclass(frozen=True)
class VmFacts:
    """One QEMU guest (its config attached when read) and its ``ipconfig0`` as PVE has it."""

    vm: ObservedVm
    ipconfig0: str | None = None
    has_cloudinit: bool = False

    @property
    def config(self) -> VmConfig | None:
        return self.vm.config

    @property
    def address(self) -> IPv4Interface | None:
        """The static IPv4 address of ``ipconfig0`` (None for DHCP or none)."""
        return parse_ipconfig(self.ipconfig0).address

    @property
    def gateway(self) -> IPv4Address | None:
        return parse_ipconfig(self.ipconfig0).gateway


@dataclass(frozen=True)
class Inventory:
    """What the cluster has, as read through the API."""

    endpoint: str
    version: str
    capacities: Mapping[str, NodeCapacity]  # the online nodes, with the storages each sees
    storages: Mapping[str, StorageFacts]
    bridges: Mapping[str, tuple[Bridge, ...]]  # per node
    guests: tuple[VmFacts, ...]  # QEMU guests, templates included
    guest_vmids: frozenset[int]  # every guest's VMID, LXC included
    fingerprint: str | None = None


@dataclass(frozen=True)
class Network:
    name: str
    bridge: str
    vlan: int | None
    cidr: IPv4Network
    gateway: IPv4Address
    why: str


@dataclass(frozen=True)
class Starter:
    """The spec's text and what was chosen (for the terminal and ``--json``)."""

    text: str
    template: str | None
    nodes: tuple[str, ...]
    storage: str
    iso_storage: str
    vmid_range: str
    networks: dict[str, str]
    lab_network: str
    adoptable: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())


def starter_spec(
    inventory: Inventory,
    *,
    name: str,
    token_id: str,
    ssh_key: str,
    kubernetes: str,
) -> Starter:
    """The starter spec of lab ``name`` for ``inventory``; ``kubernetes`` is the reference lab's
    ``kubernetes:`` block (its text), ``ssh_key`` the user's public key."""
    notes: list[str] = []
    online = sorted(inventory.capacities)
    if not online:
        raise ValueError("Proxmox lists no online node to this token")
    template, template_nodes = _template(inventory, online, notes)
    nodes = template_nodes or online
    storage = _storage(inventory, nodes, template, notes)
    iso = _iso_storage(inventory, nodes, notes)
    first, last = _vmid_range(inventory.guest_vmids | {g.vm.vmid for g in inventory.guests})
    networks = _networks(inventory, notes)
    lab_net = _lab_network(inventory, networks)
    used = _used_addresses(inventory)
    vms, pool = _lab_vms(inventory, lab_net, used, nodes, notes)
    adoptable, blocks = _adoptable(inventory, networks, name)
    text = _render(
        name=name,
        inventory=inventory,
        token_id=token_id,
        template=template,
        nodes=nodes,
        storage=storage,
        iso=iso,
        vmid_range=f"{first}-{last}",
        networks=networks,
        lab_net=lab_net,
        kubernetes=kubernetes,
        pool=pool,
        vms=vms,
        blocks=blocks,
        ssh_key=ssh_key,
    )
    return Starter(
        text=text,
        template=template.vm.name if template else None,
        nodes=tuple(nodes),
        storage=storage,
        iso_storage=iso,
        vmid_range=f"{first}-{last}",
        networks={n.name: str(n.cidr) for n in networks} or {lab_net.name: str(lab_net.cidr)},
        lab_network=lab_net.name,
        adoptable=adoptable,
        notes=tuple(notes),
    )


# ----------------------------------------------------------------------------- choices


def _template(
    inventory: Inventory, online: Sequence[str], notes: list[str]
) -> tuple[VmFacts | None, list[str]]:
    templates = [g for g in inventory.guests if g.vm.template and g.vm.name]
    if not templates:
        notes.append(
            "no VM template found: make one from an Ubuntu cloud image (README, Using a real "
            "Proxmox VE) and put its name in proxmox.template"
        )
        return None, []

    def fit(g: VmFacts) -> tuple[int, int]:
        agent = bool(g.config and g.config.agent)
        return int(agent) + int(g.has_cloudinit), -g.vm.vmid

    by_name: dict[str, list[VmFacts]] = {}
    for g in templates:
        by_name.setdefault(str(g.vm.name), []).append(g)
    best_name = max(
        by_name,
        key=lambda n: (max(fit(g)[0] for g in by_name[n]), len(by_name[n]), -_lowest(by_name[n])),
    )
    copies = sorted(by_name[best_name], key=lambda g: g.vm.vmid)
    chosen = copies[0]
    if chosen.config is not None and not chosen.config.agent:
        notes.append(f"template {best_name} has the guest agent off: set it on (qm set --agent 1)")
    if not chosen.has_cloudinit:
        notes.append(f"template {best_name} has no cloud-init drive; homelab gives each VM a seed")
    others = sorted(set(by_name) - {best_name})
    if others:
        notes.append(f"other templates: {', '.join(others)}")
    if _on_shared_storage(inventory, chosen):
        return chosen, list(online)
    nodes = sorted({g.vm.node for g in copies if g.vm.node in online})
    missing = sorted(set(online) - set(nodes))
    if missing:
        notes.append(
            f"template {best_name} is on {', '.join(nodes)} only (node-local storage): the lab "
            f"uses those nodes; copy the template to {', '.join(missing)} to use them too"
        )
    return chosen, nodes


def _lowest(group: Iterable[VmFacts]) -> int:
    return min(g.vm.vmid for g in group)


def _disk_storage(g: VmFacts) -> str | None:
    disk = g.config.boot_disk if g.config else None
    return disk.volid.partition(":")[0] if disk else None


def _on_shared_storage(inventory: Inventory, g: VmFacts) -> bool:
    storage = _disk_storage(g)
    facts = inventory.storages.get(storage) if storage else None
    return bool(facts and facts.shared)


def _on_all(inventory: Inventory, storage: str, nodes: Sequence[str]) -> bool:
    return all(storage in inventory.capacities[n].storages for n in nodes)


def _usable(inventory: Inventory, content: str, nodes: Sequence[str]) -> list[StorageFacts]:
    return [
        facts
        for sid, facts in sorted(inventory.storages.items())
        if content in facts.content and not facts.disabled and _on_all(inventory, sid, nodes)
    ]


def _size(inventory: Inventory, storage: str, nodes: Sequence[str]) -> int:
    return min(inventory.capacities[n].storages[storage].total_bytes for n in nodes)


def _storage(
    inventory: Inventory, nodes: Sequence[str], template: VmFacts | None, notes: list[str]
) -> str:
    usable = _usable(inventory, "images", nodes)
    if not usable:
        notes.append("no storage with content 'images' on every lab node: set proxmox.storage")
        return "local-lvm"
    own = _disk_storage(template) if template else None
    ids = [f.storage for f in usable]
    if own in ids:
        return str(own)
    shared = [f.storage for f in usable if f.shared]
    return shared[0] if shared else max(ids, key=lambda s: (_size(inventory, s, nodes), s))


def _iso_storage(inventory: Inventory, nodes: Sequence[str], notes: list[str]) -> str:
    ids = [f.storage for f in _usable(inventory, "iso", nodes)]
    if not ids:
        notes.append(
            "no storage with content 'iso' on every lab node (the seed ISOs go there): "
            "enable 'ISO image' on one (Datacenter > Storage) and set proxmox.iso_storage"
        )
        return "local"
    return "local" if "local" in ids else ids[0]


def _vmid_range(taken: Iterable[int]) -> tuple[int, int]:
    used = sorted(set(taken))
    start = FIRST_RANGE
    while any(start <= vmid < start + RANGE_SIZE for vmid in used):
        start += RANGE_SIZE
    return start, start + RANGE_SIZE - 1


def _networks(inventory: Inventory, notes: list[str]) -> list[Network]:
    found: dict[tuple[str, int | None], Network] = {}
    for node in sorted(inventory.bridges):
        for bridge in inventory.bridges[node]:
            if bridge.address is None or (bridge.name, None) in found:
                continue
            gateway = bridge.gateway or bridge.address.ip
            why = f"{bridge.name} on {node}: {bridge.address}" + (
                f", gateway {bridge.gateway}" if bridge.gateway else ", the node routes"
            )
            found[(bridge.name, None)] = Network(
                bridge.name, bridge.name, None, bridge.address.network, gateway, why
            )
    for g in inventory.guests:
        net0 = g.config.net0 if g.config else None
        address = g.address
        if g.vm.template or net0 is None or net0.bridge is None or address is None:
            continue
        key = (net0.bridge, net0.tag)
        if key in found:
            continue
        gateway = g.gateway or next(iter(address.network.hosts()))
        name = f"vlan{net0.tag}" if net0.tag else net0.bridge
        why = f"VM {g.vm.name or g.vm.vmid} uses {address} on {net0.bridge}" + (
            f" VLAN {net0.tag}" if net0.tag else ""
        )
        found[key] = Network(name, net0.bridge, net0.tag, address.network, gateway, why)
    names: Counter[str] = Counter()
    out = []
    for key in sorted(found, key=lambda k: (k[0], k[1] or 0)):
        net = found[key]
        names[net.name] += 1
        unique = net.name if names[net.name] == 1 else f"{net.name}-{names[net.name]}"
        out.append(Network(unique, net.bridge, net.vlan, net.cidr, net.gateway, net.why))
    if not out:
        notes.append("no bridge with an address and no VM with a static address: set networks")
    return out


def _lab_network(inventory: Inventory, networks: Sequence[Network]) -> Network:
    if not networks:
        return Network(
            "lab",
            "vmbr0",
            None,
            IPv4Network("10.0.20.0/24"),
            IPv4Address("10.0.20.1"),
            "nothing seen: an example",
        )
    counts: Counter[str] = Counter()
    for g in inventory.guests:
        net0 = g.config.net0 if g.config else None
        if g.vm.template or net0 is None or g.address is None:
            continue
        for net in networks:
            if net.bridge == net0.bridge and net.vlan == net0.tag and g.address.ip in net.cidr:
                counts[net.name] += 1
    return max(networks, key=lambda n: (counts[n.name], n.vlan is not None, -networks.index(n)))


def _used_addresses(inventory: Inventory) -> set[IPv4Address]:
    used: set[IPv4Address] = set()
    for bridges in inventory.bridges.values():
        used.update(b.address.ip for b in bridges if b.address is not None)
        used.update(b.gateway for b in bridges if b.gateway is not None)
    for g in inventory.guests:
        if g.address is not None:
            used.add(g.address.ip)
        if g.gateway is not None:
            used.add(g.gateway)
    return used


@dataclass(frozen=True)
class _LabVm:
    name: str
    role: str
    ip: IPv4Address
    node: str | None


def _lab_vms(
    inventory: Inventory,
    net: Network,
    used: set[IPv4Address],
    nodes: Sequence[str],
    notes: list[str],
) -> tuple[list[_LabVm], tuple[IPv4Address, IPv4Address] | None]:
    hosts = [ip for ip in net.cidr.hosts() if ip != net.gateway]
    taken = set(used) | {net.gateway}
    names = {str(g.vm.name) for g in inventory.guests if g.vm.name}
    out = []
    for index, (base, role, last_octet) in enumerate(LAB_VMS):
        wanted = net.cidr.network_address + last_octet
        ip = wanted if wanted in hosts and wanted not in taken else _free(hosts, taken)
        if ip is None:
            raise ValueError(f"network {net.name} ({net.cidr}) has no free address for the lab")
        taken.add(ip)
        name = base if base not in names else f"{base}-new"
        if name != base:
            notes.append(f"a VM named {base} exists: the new one is {name}")
        node = nodes[index % len(nodes)] if len(nodes) > 1 else None
        out.append(_LabVm(name, role, ip, node))
    pool = _pool(hosts, taken)
    if pool is None:
        notes.append(f"no free range of 10 addresses in {net.cidr} for LoadBalancer services")
    return out, pool


def _free(hosts: Sequence[IPv4Address], taken: set[IPv4Address]) -> IPv4Address | None:
    start = min(len(hosts) - 1, 9)  # .10 and up first: low addresses are often routers
    for ip in [*hosts[start:], *hosts[:start]]:
        if ip not in taken:
            return ip
    return None


def _pool(
    hosts: Sequence[IPv4Address], taken: set[IPv4Address]
) -> tuple[IPv4Address, IPv4Address] | None:
    """The highest run of up to 51 free addresses (at least 10) below the top five."""
    usable = hosts[: max(len(hosts) - 5, 0)]
    best: tuple[int, int] | None = None
    run_end: int | None = None
    for index in range(len(usable) - 1, -1, -1):
        if usable[index] in taken:
            run_end = None
            continue
        if run_end is None:
            run_end = index
        if run_end - index + 1 >= 51:
            best = (index, run_end)
            break
        if run_end - index + 1 >= 10 and best is None:
            best = (index, run_end)
        if best is not None and best[1] == run_end:
            best = (index, run_end)
    if best is None:
        return None
    return usable[best[0]], usable[best[1]]


def _adoptable(
    inventory: Inventory, networks: Sequence[Network], lab: str
) -> tuple[tuple[str, ...], list[str]]:
    names: list[str] = []
    blocks: list[str] = []
    for g in sorted(inventory.guests, key=lambda g: g.vm.vmid):
        vm = g.vm
        if vm.template:
            continue
        label = vm.name or f"VM {vm.vmid}"
        other = other_lab_of(lab, Facts.of(vm))
        if other is not None:
            blocks.append(f"  # {label} (vmid {vm.vmid}): lab {other}'s (homelab tags)")
            continue
        if not vm.name or not HOSTNAME_RE.match(vm.name):
            blocks.append(
                f"  # VM {vm.vmid} ({vm.name or 'no name'}): its name is not an RFC 1123 label;"
                " rename it to adopt it"
            )
            continue
        names.append(vm.name)
        blocks.append(_adopt_block(g, networks))
    return tuple(names), blocks


def _adopt_block(g: VmFacts, networks: Sequence[Network]) -> str:
    vm, config = g.vm, g.config
    fields = ["role: worker", f"node: {vm.node}"]
    cores = config.cores * max(config.sockets, 1) if config else vm.cores
    if cores:
        fields.append(f"cores: {cores}")
    memory = config.memory_mib if config else vm.maxmem_mib
    if memory:
        shown = f"{memory // 1024}GiB" if memory % 1024 == 0 else f"{memory}MiB"
        fields.append(f"memory: {shown}")
    disk = config.boot_disk.size_gib if config and config.boot_disk else vm.disk_gib
    if disk:
        fields.append(f"disk: {disk}GiB")
    problems = []
    net0 = config.net0 if config else None
    network = next(
        (
            n
            for n in networks
            if net0 is not None
            and n.bridge == net0.bridge
            and n.vlan == net0.tag
            and g.address is not None
            and g.address.ip in n.cidr
        ),
        None,
    )
    if network is not None and g.address is not None:
        fields += [f"network: {network.name}", f"ip: {g.address.ip}"]
    else:
        problems.append("no static address in ipconfig0: set network and ip")
    line = f"  # {vm.name}: {{{', '.join(fields)}}}"
    state = f"vmid {vm.vmid}, {vm.status}" + (", " + "; ".join(problems) if problems else "")
    return f"{line}   # {state}"


# ----------------------------------------------------------------------------- text


def _render(
    *,
    name: str,
    inventory: Inventory,
    token_id: str,
    template: VmFacts | None,
    nodes: Sequence[str],
    storage: str,
    iso: str,
    vmid_range: str,
    networks: Sequence[Network],
    lab_net: Network,
    kubernetes: str,
    pool: tuple[IPv4Address, IPv4Address] | None,
    vms: Sequence[_LabVm],
    blocks: Sequence[str],
    ssh_key: str,
) -> str:
    template_line = (
        f"  template: {_q(str(template.vm.name))}"
        f"{' ' * 4}# vmid {template.vm.vmid} on {template.vm.node}"
        if template
        else "  template: ubuntu-2404-cloudinit    # NOT FOUND on this cluster: make it first"
    )
    pin = (
        f"  fingerprint: {_q(inventory.fingerprint)}   # the certificate init was given"
        if inventory.fingerprint
        else "  fingerprint: null   # or set PROXMOX_VE_FINGERPRINT / proxmox.ca_bundle"
    )
    lines = [
        f"# A starter lab for the Proxmox VE {inventory.version} cluster at {inventory.endpoint},",
        "# written by `homelab init --from-proxmox` from what its API showed. Check each choice,",
        "# then `homelab validate`, `homelab doctor` and `homelab plan` this file.",
        f"name: {name}",
        "proxmox:",
        f"  endpoint: {inventory.endpoint}",
        f"  token_id: {token_id}   # the token apply uses; its secret from PROXMOX_VE_API_TOKEN",
        pin,
        f"  nodes: [{', '.join(nodes)}]   # nodes that have the template",
        template_line,
        f"  storage: {storage}   # the VMs' disks (content 'images')",
        f"  iso_storage: {iso}   # the seed ISOs (content 'iso')",
        f"  vmid_range: {vmid_range}   # no guest there today",
        "networks:",
    ]
    shown = list(networks) or [lab_net]
    for net in shown:
        vlan = f"vlan: {net.vlan}, " if net.vlan is not None else ""
        lines.append(
            f"  {net.name}: {{{vlan}cidr: {net.cidr}, gateway: {net.gateway}, "
            f"bridge: {net.bridge}, dns: [{net.gateway}]}}   # {net.why}"
        )
    aware = sorted(
        {b.name for bridges in inventory.bridges.values() for b in bridges if b.vlan_aware}
    )
    if aware and not any(net.vlan is not None for net in shown):
        lines.append(
            f"  # {aware[0]} is VLAN aware: a VLAN network is e.g. "
            f"{{vlan: 20, cidr: 10.0.20.0/24, gateway: 10.0.20.1, bridge: {aware[0]}}}"
        )
    lines += _kubernetes(kubernetes, pool)
    lines.append(f"vms:   # on {lab_net.name}, addresses no VM or bridge uses today")
    for vm in vms:
        node = f", node: {vm.node}" if vm.node else ""
        lines.append(
            f"  {vm.name}: {{role: {vm.role}, cores: 2, memory: 4GiB, disk: 32GiB, "
            f"network: {lab_net.name}, ip: {vm.ip}{node}}}"
        )
    if blocks:
        lines += [
            "  # Existing VMs: uncomment one (check its role) and `homelab adopt` this file takes",
            "  # it over (tags it; nothing else changes); `homelab plan` then shows what differs.",
            *blocks,
        ]
    lines += ["access:", "  user: ubuntu", f"  ssh_authorized_keys: [{_q(ssh_key)}]"]
    return "\n".join(lines) + "\n"


def _kubernetes(block: str, pool: tuple[IPv4Address, IPv4Address] | None) -> list[str]:
    out = []
    for line in block.rstrip("\n").splitlines():
        if line.strip().startswith("load_balancer:"):
            if pool is None:
                out.append("  # load_balancer: {addresses: FIRST-LAST}   # no free range found")
            else:
                indent = line[: len(line) - len(line.lstrip())]
                out.append(
                    f"{indent}load_balancer: {{addresses: {pool[0]}-{pool[1]}}}   # free today"
                )
            continue
        out.append(line)
    return out


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
