"""What the firewall should hold for a lab: VLANs, aliases, rules, DNS names, DHCP reservations.

``desired_objects(spec, dhcp)`` turns the spec's ``opnsense:`` section into ``NetObject``s with
the API's field values, the lab's mark in each description. Rules come in the spec's order: the
user's first, then the Kubernetes-lab defaults; a rule with several ports becomes one firewall
rule per port. Places in rules become what OPNsense reads without knowing the lab: a routed
network its CIDR, a VM its address, ``firewall`` the gateway of the rule's network, an alias
its name. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, summarize_address_range

from homelab.core.network.objects import NetObject, mark
from homelab.core.render.network import vm_mac
from homelab.core.spec.models import LabSpec
from homelab.core.spec.opnsense import (
    ANY,
    API_HOSTNAME,
    AliasSpec,
    RuleSpec,
    lab_domain,
    parse_port,
)

RULE_SEQUENCE_BASE = 5000  # the lab's rules sit after typical hand-made ones (1..4999)
RULE_SEQUENCE_STEP = 10
PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "tcp/udp": "TCP/UDP", "icmp": "ICMP", "any": "any"}


def alias_prefix(lab: str) -> str:
    """lab_<name>: the prefix of the lab's own aliases (OPNsense alias names allow '_' only)."""
    return "lab_" + lab.replace("-", "_")[:20]


def own_aliases(spec: LabSpec) -> dict[str, AliasSpec]:
    """The lab's own aliases: every VM, the control-plane endpoint, the LoadBalancer pool."""
    prefix = alias_prefix(spec.name)
    found = {
        f"{prefix}_vms": AliasSpec(
            type="host", content=[str(vm.ip) for vm in spec.vms.values()], description="lab VMs"
        ),
        f"{prefix}_api": AliasSpec(
            type="host", content=[str(spec.api_endpoint())], description="Kubernetes API"
        ),
    }
    pool = spec.kubernetes.load_balancer
    if pool is not None:
        nets = summarize_address_range(pool.first, pool.last)
        found[f"{prefix}_lb"] = AliasSpec(
            type="network", content=[str(net) for net in nets], description="LoadBalancer pool"
        )
    return found


@dataclass(frozen=True)
class Rule:
    """A readable rule after defaults are added, before it becomes API fields."""

    description: str
    source: str
    to: str
    ports: tuple[str, ...]
    protocol: str
    action: str
    log: bool
    at: str


def _from_spec(rule: RuleSpec) -> Rule:
    return Rule(
        description=rule.description,
        source=rule.source,
        to=rule.to,
        ports=tuple(str(port) for port in rule.ports),
        protocol=rule.protocol,
        action=rule.action,
        log=rule.log,
        at=rule.at or rule.source,
    )


def default_rules(spec: LabSpec) -> list[Rule]:
    """A Kubernetes lab's rules: mgmt runs the lab, apps serves and may not reach back."""
    assert spec.opnsense is not None
    prefix = alias_prefix(spec.name)
    nets = spec.opnsense.networks
    tool_net = tool_network(spec)
    port = str(spec.opnsense.port)
    api = api_address(spec) or "firewall"
    rules = [Rule("homelab reaches the OPNsense API", str(spec.opnsense.source), api,
                  (port,), "tcp", "pass", False, tool_net)]  # fmt: skip
    for mgmt in [n for n in nets if n == tool_net]:
        rules += [
            Rule(f"{mgmt} reaches the Kubernetes API", mgmt, f"{prefix}_api", ("6443",),
                 "tcp", "pass", False, mgmt),
            Rule(f"{mgmt} reaches SSH on the lab VMs", mgmt, f"{prefix}_vms", ("22",),
                 "tcp", "pass", False, mgmt),
            Rule(f"{mgmt} reaches NodePorts", mgmt, f"{prefix}_vms", ("30000-32767",),
                 "tcp", "pass", False, mgmt),
        ]  # fmt: skip
        if spec.kubernetes.load_balancer is not None:
            rules.append(Rule(f"{mgmt} reaches the LoadBalancer pool", mgmt, f"{prefix}_lb",
                              (), "tcp", "pass", False, mgmt))  # fmt: skip
    for other in [n for n in nets if n != tool_net]:
        rules += [
            Rule(f"{other} resolves names on the firewall", other, "firewall", ("53",),
                 "tcp/udp", "pass", False, other),
            Rule(f"{other} sets its clock from the firewall", other, "firewall", ("123",),
                 "udp", "pass", False, other),
            Rule(f"{other} may not reach {tool_net}", other, tool_net, (), "any", "block",
                 True, other),
            Rule(f"{other} may not reach the firewall", other, "firewall", (), "any", "block",
                 True, other),
            Rule(f"{other} reaches the internet", other, ANY, (), "any", "pass", False, other),
        ]  # fmt: skip
    return rules


def api_address(spec: LabSpec) -> str | None:
    """The endpoint's host when it is an address (a name is resolved by the engine)."""
    assert spec.opnsense is not None
    try:
        return str(IPv4Address(spec.opnsense.host))
    except ValueError:
        return None


def tool_network(spec: LabSpec) -> str:
    """The routed network the tool reaches OPNsense from (its ``source`` address's)."""
    assert spec.opnsense is not None
    return next(n for n in spec.opnsense.networks if spec.opnsense.source in spec.networks[n].cidr)


def lab_rules(spec: LabSpec) -> list[Rule]:
    """The user's rules in spec order, then the defaults (when ``default_rules``)."""
    assert spec.opnsense is not None
    rules = [_from_spec(rule) for rule in spec.opnsense.rules]
    return rules + (default_rules(spec) if spec.opnsense.default_rules else [])


def place_value(spec: LabSpec, place: str, at: str) -> str:
    """A rule's from/to as OPNsense's source_net/destination_net value."""
    assert spec.opnsense is not None
    if place == "firewall":
        return str(spec.networks[at].gateway)
    if place in spec.opnsense.networks:
        return str(spec.networks[place].cidr)
    if place in spec.vms:
        return str(spec.vms[place].ip)
    return place  # any, an alias name, an address or a CIDR


def rule_objects(spec: LabSpec) -> list[NetObject]:
    """Every lab rule as filter rule fields, one per port, with sequences in spec order."""
    assert spec.opnsense is not None
    found: list[NetObject] = []
    for rule in lab_rules(spec):
        ports = rule.ports or ("",)
        for port in ports:
            label = rule.description if len(ports) == 1 else f"{rule.description} (port {port})"
            sequence = RULE_SEQUENCE_BASE + RULE_SEQUENCE_STEP * len(found)
            fields = {
                "enabled": "1",
                "action": rule.action,
                "quick": "1",
                "interface": spec.opnsense.networks[rule.at].interface,
                "direction": "in",
                "ipprotocol": "inet",
                "protocol": PROTOCOLS[rule.protocol],
                "source_net": place_value(spec, rule.source, rule.at),
                "source_not": "0",
                "destination_net": place_value(spec, rule.to, rule.at),
                "destination_not": "0",
                "destination_port": _port_text(port),
                "log": "1" if rule.log else "0",
                "sequence": str(sequence),
                "description": mark(spec.name, label),
            }
            what = f"{rule.at}: {rule.source} -> {rule.to}"
            summary = f"{what} {rule.protocol}{'/' + port if port else ''} {rule.action}"
            found.append(NetObject("rule", label, fields, summary + (", log" if rule.log else "")))
    return found


def _port_text(port: str) -> str:
    bounds = parse_port(port)
    if bounds is None:
        return port  # a port alias
    low, high = bounds
    return str(low) if low == high else f"{low}-{high}"


def alias_objects(spec: LabSpec) -> list[NetObject]:
    """The user's aliases, then the lab's own; content newline-separated as the API stores it."""
    assert spec.opnsense is not None
    found = []
    for name, alias in {**spec.opnsense.aliases, **own_aliases(spec)}.items():
        texts = [str(item) for item in alias.content]
        items = [item.replace("-", ":") if alias.type == "port" else item for item in texts]
        fields = {
            "enabled": "1",
            "name": name,
            "type": alias.type,
            "content": "\n".join(items),
            "description": mark(spec.name, name),
        }
        summary = f"{alias.type} {', '.join(items)}" + (
            f" ({alias.description})" if alias.description else ""
        )
        found.append(NetObject("alias", name, fields, summary))
    return found


def vlan_objects(spec: LabSpec) -> list[NetObject]:
    """A VLAN device per routed network, on its parent, tagged as the spec's network."""
    assert spec.opnsense is not None
    found = []
    for name, routed in spec.opnsense.networks.items():
        net = spec.networks[name]
        fields = {
            "if": routed.parent,
            "tag": str(net.vlan),
            "pcp": "0",
            "descr": mark(spec.name, name),
        }
        address = f"{net.gateway}/{net.cidr.prefixlen}"
        summary = f"tag {net.vlan} on {routed.parent}, {routed.interface} {address}"
        found.append(NetObject("vlan", name, fields, summary))
    return found


def host_objects(spec: LabSpec) -> list[NetObject]:
    """Unbound host overrides: every VM, and ``api`` for the control-plane endpoint."""
    domain = lab_domain(spec)
    names: dict[str, IPv4Address] = {name: vm.ip for name, vm in spec.vms.items()}
    names.setdefault(API_HOSTNAME, spec.api_endpoint())
    found = []
    for host, ip in names.items():
        fields = {
            "enabled": "1",
            "hostname": host,
            "domain": domain,
            "rr": "A",
            "server": str(ip),
            "description": mark(spec.name, host),
        }
        found.append(NetObject("host", host, fields, f"{host}.{domain} A {ip}"))
    return found


def dhcp_objects(spec: LabSpec, dhcp: str) -> list[NetObject]:
    """Reservations for the VMs of networks with ``dhcp: true`` (Dnsmasq hosts or Kea)."""
    assert spec.opnsense is not None
    domain = lab_domain(spec)
    found = []
    for name, vm in spec.vms.items():
        routed = spec.opnsense.networks.get(vm.network)
        if routed is None or not routed.dhcp:
            continue
        mac = vm_mac(spec.name, name)
        if dhcp == "kea":
            cidr: IPv4Network = spec.networks[vm.network].cidr
            fields = {
                "subnet": str(cidr),  # the engine maps the CIDR to Kea's subnet uuid
                "ip_address": str(vm.ip),
                "hw_address": mac,
                "hostname": name,
                "description": mark(spec.name, name),
            }
        else:
            fields = {
                "host": name,
                "domain": domain,
                "ip": str(vm.ip),
                "hwaddr": mac,
                "descr": mark(spec.name, name),
            }
        found.append(NetObject("dhcp", name, fields, f"{mac} -> {vm.ip} ({name})"))
    return found


def dhcp_wanted(spec: LabSpec) -> list[str]:
    """The routed networks that ask for DHCP reservations."""
    assert spec.opnsense is not None
    return [name for name, routed in spec.opnsense.networks.items() if routed.dhcp]


def desired_objects(spec: LabSpec, dhcp: str) -> list[NetObject]:
    """Everything the lab wants on the firewall, module by module, in apply order."""
    return [
        *vlan_objects(spec),
        *alias_objects(spec),
        *rule_objects(spec),
        *host_objects(spec),
        *(dhcp_objects(spec, dhcp) if dhcp in ("dnsmasq", "kea") else []),
    ]
