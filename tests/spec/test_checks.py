"""Each semantic check, driven by a small edit of an example file: expected path, line, message.

The expected line is named by its text (``line_of``), never by its number in the example."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from homelab.core.spec.findings import Severity
from tests.spec.helpers import check, example_text, find, line_of, mutate

M1 = "k8s-master-1: {role: control-plane, cores: 2, memory: 4GiB, disk: 32GiB, network: apps"
W2 = "k8s-worker-2: {role: worker, cores: 2, memory: 4GiB, disk: 32GiB, network: apps"
VIP_LINE = (
    "  # control_plane_endpoint: 10.0.20.9   # VIP, required with more than one control plane"
)
KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICR1Kjxkp8TY39QQ8rPrvZta2Cl81ledsQySZv20Y4+h admin@laptop"
)


class Case(NamedTuple):
    edits: list[tuple[str, str]]
    severity: Severity
    path: str
    at: str  # the (unique) text of the line the finding must point at
    fragment: str
    example: str = "home-lab"


CASES = {
    # networks, pod and service CIDRs
    "network overlaps network": Case(
        [("cidr: 10.0.20.0/24", "cidr: 10.0.0.0/16"), ("gateway: 10.0.20.1", "gateway: 10.0.0.1")],
        "error",
        "networks.apps.cidr",
        "  apps:",
        "10.0.0.0/16 overlaps network 'mgmt' (10.0.10.0/24)",
    ),
    "service overlaps pod": Case(
        [("pod_cidr: 192.168.0.0/16", "pod_cidr: 10.96.0.0/16")],
        "error",
        "kubernetes.service_cidr",
        "  service_cidr:",
        "overlaps pod_cidr (10.96.0.0/16)",
    ),
    "pod overlaps network": Case(
        [("pod_cidr: 192.168.0.0/16", "pod_cidr: 10.0.0.0/8")],
        "error",
        "kubernetes.pod_cidr",
        "  pod_cidr:",
        "overlaps network 'mgmt'",
    ),
    "gateway outside": Case(
        [("gateway: 10.0.20.1", "gateway: 10.0.30.1")],
        "error",
        "networks.apps.gateway",
        "  apps:",
        "outside the network's cidr 10.0.20.0/24",
    ),
    "gateway is network address": Case(
        [("gateway: 10.0.20.1", "gateway: 10.0.20.0")],
        "error",
        "networks.apps.gateway",
        "  apps:",
        "the network address of 10.0.20.0/24",
    ),
    "vlan reused": Case(
        [("vlan: 20", "vlan: 10")],
        "error",
        "networks.apps.vlan",
        "  apps:",
        "VLAN 10 is already used by network 'mgmt'",
    ),
    "vlan out of range": Case(
        [("vlan: 20", "vlan: 4095")], "error", "networks.apps.vlan", "  apps:", "at most 4094"
    ),
    "vlan zero": Case(
        [("vlan: 20", "vlan: 0")], "error", "networks.apps.vlan", "  apps:", "at least 1"
    ),
    "dns loopback": Case(
        [("dns: [10.0.10.1]", "dns: [127.0.0.53]")],
        "error",
        "networks.apps.dns[0]",
        "  apps:",
        "127.0.0.53 cannot serve DNS",
    ),
    "dns not an address": Case(
        [("dns: [10.0.10.1]", "dns: [dns.lan]")],
        "error",
        "networks.apps.dns[0]",
        "  apps:",
        "expected an IPv4 address",
    ),
    "no dns for the VMs' network": Case(
        [(", dns: [10.0.10.1]", "")],
        "warning",
        "networks.apps",
        "  apps:",
        "get no DNS server",
    ),
    "dns twice": Case(
        [("dns: [10.0.10.1]", "dns: [10.0.10.1, 10.0.10.1]")],
        "warning",
        "networks.apps.dns[1]",
        "  apps:",
        "listed twice",
    ),
    "search domain": Case(
        [("dns: [10.0.10.1]", "dns: [10.0.10.1], search_domains: [lab_local]")],
        "error",
        "networks.apps.search_domains[0]",
        "  apps:",
        "'lab_local' is not a valid DNS domain",
    ),
    "bridge name": Case(
        [("gateway: 10.0.20.1, bridge: vmbr0", "gateway: 10.0.20.1, bridge: 'vmbr 0'")],
        "error",
        "networks.apps.bridge",
        "  apps:",
        "not a valid bridge name",
    ),
    "pod cidr too small for the nodes": Case(
        [("pod_cidr: 192.168.0.0/16", "pod_cidr: 192.168.0.0/23")],
        "error",
        "kubernetes.pod_cidr",
        "  pod_cidr:",
        "holds 2 per-node /24 blocks but the lab has 3 VMs",
    ),
    "service cidr too large": Case(
        [("service_cidr: 10.96.0.0/12", "service_cidr: 64.0.0.0/4")],
        "error",
        "kubernetes.service_cidr",
        "  service_cidr:",
        "larger than kube-apiserver accepts",
    ),
    "service cidr too small": Case(
        [("service_cidr: 10.96.0.0/12", "service_cidr: 10.96.0.0/29")],
        "error",
        "kubernetes.service_cidr",
        "  service_cidr:",
        "too small",
    ),
    # VM addresses
    "vm ip outside its network": Case(
        [("ip: 10.0.20.10", "ip: 10.0.10.10")],
        "error",
        "vms.k8s-master-1.ip",
        "  k8s-master-1:",
        "outside network 'apps' (10.0.20.0/24)",
    ),
    "vm ip is network address": Case(
        [("ip: 10.0.20.10", "ip: 10.0.20.0")],
        "error",
        "vms.k8s-master-1.ip",
        "  k8s-master-1:",
        "the network address",
    ),
    "vm ip is broadcast": Case(
        [("ip: 10.0.20.10", "ip: 10.0.20.255")],
        "error",
        "vms.k8s-master-1.ip",
        "  k8s-master-1:",
        "the broadcast address of 10.0.20.0/24",
    ),
    "vm ip is gateway": Case(
        [("ip: 10.0.20.10", "ip: 10.0.20.1")],
        "error",
        "vms.k8s-master-1.ip",
        "  k8s-master-1:",
        "the gateway of network 'apps'",
    ),
    "vm ip taken": Case(
        [("ip: 10.0.20.21", "ip: 10.0.20.10")],
        "error",
        "vms.k8s-worker-2.ip",
        "  k8s-worker-2:",
        "already used by vm 'k8s-master-1'",
    ),
    "vm ip inside pod cidr": Case(
        [("pod_cidr: 192.168.0.0/16", "pod_cidr: 10.0.0.0/8")],
        "error",
        "vms.k8s-master-1.ip",
        "  k8s-master-1:",
        "inside pod_cidr 10.0.0.0/8",
    ),
    # load balancer pool
    "pool outside networks": Case(
        [("10.0.20.200-10.0.20.250", "10.0.30.200-10.0.30.250")],
        "error",
        "kubernetes.load_balancer.addresses",
        "  load_balancer:",
        "not inside one of the lab's networks",
    ),
    "pool across networks": Case(
        [("10.0.20.200-10.0.20.250", "10.0.10.200-10.0.20.250")],
        "error",
        "kubernetes.load_balancer.addresses",
        "  load_balancer:",
        "not inside one",
    ),
    "pool reversed": Case(
        [("10.0.20.200-10.0.20.250", "10.0.20.250-10.0.20.200")],
        "error",
        "kubernetes.load_balancer.addresses",
        "  load_balancer:",
        "reversed",
    ),
    "pool holds a vm": Case(
        [("10.0.20.200-10.0.20.250", "10.0.20.5-10.0.20.50")],
        "error",
        "kubernetes.load_balancer.addresses",
        "  load_balancer:",
        "10.0.20.10, the ip of vm 'k8s-master-1'",
    ),
    "pool holds the gateway": Case(
        [("10.0.20.200-10.0.20.250", "10.0.20.1-10.0.20.5")],
        "error",
        "kubernetes.load_balancer.addresses",
        "  load_balancer:",
        "the gateway of network 'apps'",
    ),
    "pool holds the broadcast": Case(
        [("10.0.20.200-10.0.20.250", "10.0.20.200-10.0.20.255")],
        "error",
        "kubernetes.load_balancer.addresses",
        "  load_balancer:",
        "broadcast address",
    ),
    "pool holds the vip": Case(
        [(VIP_LINE, "  control_plane_endpoint: 10.0.20.220")],
        "error",
        "kubernetes.load_balancer.addresses",
        "  load_balancer:",
        "the control_plane_endpoint (VIP)",
    ),
    "pool on a network without nodes": Case(
        [("10.0.20.200-10.0.20.250", "10.0.10.200-10.0.10.250")],
        "warning",
        "kubernetes.load_balancer.addresses",
        "  load_balancer:",
        "no VM sits on network 'mgmt'",
    ),
    "pool malformed": Case(
        [("10.0.20.200-10.0.20.250", "10.0.20.200")],
        "error",
        "kubernetes.load_balancer.addresses",
        "  load_balancer:",
        "first-last",
    ),
    # control planes and the VIP
    "no control plane": Case(
        [(f"{M1}", M1.replace("control-plane", "worker"))],
        "error",
        "vms",
        "vms:",
        "no control plane",
    ),
    "even control planes": Case(
        [
            ("  k8s-master-3:", "  k8s-worker-9:"),
            (
                "control-plane, cores: 2, memory: 4GiB, disk: 32GiB, network: apps, ip: 10.0.20.13",
                "worker, cores: 2, memory: 4GiB, disk: 32GiB, network: apps, ip: 10.0.20.13",
            ),
        ],
        "warning",
        "vms.k8s-master-2.role",
        "  k8s-master-2:",
        "2 control planes",
        "ha-lab",
    ),
    "several control planes without vip": Case(
        [("  control_plane_endpoint: 10.0.20.9     # the VIP kube-vip holds\n", "")],
        "error",
        "kubernetes.control_plane_endpoint",
        "kubernetes:",
        "3 control planes need a VIP",
        "ha-lab",
    ),
    "vip outside networks": Case(
        [("control_plane_endpoint: 10.0.20.9", "control_plane_endpoint: 10.0.30.9")],
        "error",
        "kubernetes.control_plane_endpoint",
        "  control_plane_endpoint:",
        "not inside any",
        "ha-lab",
    ),
    "vip is a vm": Case(
        [("control_plane_endpoint: 10.0.20.9", "control_plane_endpoint: 10.0.20.21")],
        "error",
        "kubernetes.control_plane_endpoint",
        "  control_plane_endpoint:",
        "ip of vm 'k8s-worker-1'",
        "ha-lab",
    ),
    "vip is the gateway": Case(
        [("control_plane_endpoint: 10.0.20.9", "control_plane_endpoint: 10.0.20.1")],
        "error",
        "kubernetes.control_plane_endpoint",
        "  control_plane_endpoint:",
        "the gateway",
        "ha-lab",
    ),
    "vip off the control planes' network": Case(
        [("control_plane_endpoint: 10.0.20.9", "control_plane_endpoint: 10.0.10.9")],
        "error",
        "kubernetes.control_plane_endpoint",
        "  control_plane_endpoint:",
        "not on the network of control plane 'k8s-master-1'",
        "ha-lab",
    ),
    # sizes and versions
    "small node": Case(
        [
            (
                W2.replace("apps", "apps, ip: 10.0.20.21"),
                W2.replace("4GiB", "1536MiB").replace("apps", "apps, ip: 10.0.20.21"),
            )
        ],
        "error",
        "vms.k8s-worker-2.memory",
        "  k8s-worker-2:",
        "1536 MiB is below kubeadm's minimum of 2 GiB",
    ),
    "one-core control plane": Case(
        [(M1, M1.replace("cores: 2", "cores: 1"))],
        "error",
        "vms.k8s-master-1.cores",
        "  k8s-master-1:",
        "at least 2 cores",
    ),
    "version without patch": Case(
        [("version: 1.29.15", 'version: "1.29"')],
        "error",
        "kubernetes.version",
        "  version:",
        "'1.29' is not a full x.y.z version",
    ),
    "version with v": Case(
        [("version: 1.29.15", "version: v1.29.15")],
        "error",
        "kubernetes.version",
        "  version:",
        "without the leading 'v'",
    ),
    "version unsupported": Case(
        [("version: 1.29.15", "version: 1.38.0")],
        "error",
        "kubernetes.version",
        "  version:",
        "1.38.0 is not supported; supported minors: 1.29, 1.30, 1.31, 1.32, 1.33, 1.34, 1.35, "
        "1.36, 1.37",
    ),
    "version read as a float": Case(
        [("version: 1.29.15", "version: 1.30")],
        "error",
        "kubernetes.version",
        "  version:",
        "reads as the number 1.3 in YAML; quote it",
    ),
    # names and references
    "lab name": Case(
        [("name: home-lab", "name: Home_Lab")], "error", "name", "name:", "(try 'home-lab')"
    ),
    "lab name too long": Case(
        [("name: home-lab", "name: " + "a" * 64)], "error", "name", "name:", "at most 63"
    ),
    "vm name": Case(
        [("  k8s-worker-3:", "  k8s_worker_3:")],
        "error",
        "vms.k8s_worker_3",
        "  k8s_worker_3:",
        "not a valid hostname",
    ),
    "unknown network": Case(
        [(M1, M1.replace("network: apps", "network: app"))],
        "error",
        "vms.k8s-master-1.network",
        "  k8s-master-1:",
        "unknown network 'app' (did you mean 'apps'?)",
    ),
    "unknown node": Case(
        [("ip: 10.0.20.10}", "ip: 10.0.20.10, node: pve9}")],
        "error",
        "vms.k8s-master-1.node",
        "  k8s-master-1:",
        "'pve9' is not in proxmox.nodes",
    ),
    "node listed twice": Case(
        [("nodes: [pve]", "nodes: [pve, pve]")],
        "error",
        "proxmox.nodes[1]",
        "  nodes:",
        "listed twice",
    ),
    "node name": Case(
        [("nodes: [pve]", "nodes: [pve_1]")],
        "error",
        "proxmox.nodes[0]",
        "  nodes:",
        "not a valid Proxmox node name",
    ),
    "storage id": Case(
        [("storage: local-lvm", "storage: 1local")],
        "error",
        "proxmox.storage",
        "  storage:",
        "not a valid Proxmox storage id",
    ),
    "iso storage id": Case(
        [("iso_storage: local", "iso_storage: 'lo cal'")],
        "error",
        "proxmox.iso_storage",
        "  iso_storage:",
        "not a valid Proxmox storage id",
    ),
    "template name": Case(
        [("template: ubuntu-2404-cloudinit", "template: ubuntu_2404")],
        "error",
        "proxmox.template",
        "  template:",
        "not a valid Proxmox VM name",
    ),
    "cluster domain": Case(
        [("  cni: calico", "  cni: calico\n  cluster_domain: -bad-")],
        "error",
        "kubernetes.cluster_domain",
        "  cluster_domain:",
        "not a valid DNS domain",
    ),
    # VMIDs
    "vmid range reversed": Case(
        [("vmid_range: 200-299", "vmid_range: 299-200")],
        "error",
        "proxmox.vmid_range",
        "  vmid_range:",
        "reversed",
    ),
    "vmid range below 100": Case(
        [("vmid_range: 200-299", "vmid_range: 50-299")],
        "error",
        "proxmox.vmid_range",
        "  vmid_range:",
        "within 100-999999999",
    ),
    "vmid range too small": Case(
        [("vmid_range: 200-299", "vmid_range: 200-201")],
        "error",
        "proxmox.vmid_range",
        "  vmid_range:",
        "holds 2 VMIDs but the lab has 3 VMs",
    ),
    "pinned vmid outside": Case(
        [("ip: 10.0.20.10}", "ip: 10.0.20.10, vmid: 300}")],
        "error",
        "vms.k8s-master-1.vmid",
        "  k8s-master-1:",
        "outside vmid_range 200-299",
    ),
    "pinned vmid twice": Case(
        [
            ("ip: 10.0.20.10}", "ip: 10.0.20.10, vmid: 201}"),
            ("ip: 10.0.20.21}", "ip: 10.0.20.21, vmid: 201}"),
        ],
        "error",
        "vms.k8s-worker-2.vmid",
        "  k8s-worker-2:",
        "already pinned by vm 'k8s-master-1'",
    ),
    "template inside the range": Case(
        [("template: ubuntu-2404-cloudinit", "template: 250")],
        "error",
        "proxmox.template",
        "  template:",
        "inside vmid_range",
    ),
    # access
    "no ssh key": Case(
        [(f'["{KEY}"]', "[]")],
        "warning",
        "access.ssh_authorized_keys",
        "  ssh_authorized_keys:",
        "no SSH key",
    ),
    "private key": Case(
        [(KEY, "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA")],
        "error",
        "access.ssh_authorized_keys[0]",
        "  ssh_authorized_keys:",
        "PRIVATE key",
    ),
    "not a key": Case(
        [(KEY, "hunter2")],
        "error",
        "access.ssh_authorized_keys[0]",
        "  ssh_authorized_keys:",
        "not an SSH public key",
    ),
    "key type mismatch": Case(
        [(KEY, KEY.replace("ssh-ed25519", "ssh-rsa"))],
        "error",
        "access.ssh_authorized_keys[0]",
        "  ssh_authorized_keys:",
        "does not match its type ssh-rsa",
    ),
    "key not base64": Case(
        [(KEY, "ssh-ed25519 not*base64 me@host")],
        "error",
        "access.ssh_authorized_keys[0]",
        "  ssh_authorized_keys:",
        "not valid base64",
    ),
    "root login": Case(
        [("user: ubuntu", "user: root")], "error", "access.user", "  user:", "system account"
    ),
    "key twice": Case(
        [(f'["{KEY}"]', f'["{KEY}", "{KEY}"]')],
        "warning",
        "access.ssh_authorized_keys[1]",
        "  ssh_authorized_keys:",
        "listed twice",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_check_reports_at_the_right_place(case: Case) -> None:
    text = mutate(example_text(case.example), case.edits)
    result = check(text)
    finding = find(result, case.path, case.fragment)
    assert finding.severity == case.severity
    assert finding.line == line_of(text, case.at)
    assert (result.spec is None) == any(f.is_error for f in result.findings)


@pytest.mark.parametrize("example", ["home-lab", "ha-lab"])
def test_examples_are_clean(example: str) -> None:
    result = check(example_text(example))
    assert result.findings == []
    assert result.spec is not None and result.ok


def test_all_problems_are_reported_at_once_sorted_by_position() -> None:
    text = mutate(
        example_text(),
        [
            ("name: home-lab", "name: Home_Lab"),
            ("vlan: 20", "vlan: 10"),
            ("ip: 10.0.20.21", "ip: 10.0.20.10"),
            ("version: 1.29.15", "version: 1.28.3"),
        ],
    )
    result = check(text)
    assert [(f.line, f.dotted) for f in result.findings] == [
        (line_of(text, "name: Home_Lab"), "name"),
        (line_of(text, "  apps:"), "networks.apps.vlan"),
        (line_of(text, "version: 1.28.3"), "kubernetes.version"),
        (line_of(text, "  k8s-worker-2:"), "vms.k8s-worker-2.ip"),
    ]
    assert [f.line for f in result.findings] == sorted(f.line for f in result.findings)
    assert result.spec is None


def test_warnings_alone_keep_the_spec() -> None:
    result = check(mutate(example_text(), [(f'["{KEY}"]', "[]")]))
    assert [f.severity for f in result.findings] == ["warning"]
    assert result.ok and result.spec is not None and result.spec.name == "home-lab"


def test_supported_minor_1_30_and_an_authorized_keys_option_are_fine() -> None:
    text = mutate(
        example_text(),
        [("version: 1.29.15", "version: 1.30.4"), (KEY, f'from=\\"10.0.0.0/8\\" {KEY}')],
    )
    assert check(text).findings == []


def test_yaml_anchors_merge_keys_and_x_extension_keys_validate() -> None:
    text = mutate(
        example_text(),
        [
            ("vms:\n", "x-vm: &vm {cores: 2, memory: 4GiB, disk: 32GiB, network: apps}\nvms:\n"),
            (M1, "k8s-master-1: {<<: *vm, role: control-plane"),
        ],
    )
    result = check(text)
    assert result.findings == []
    assert result.spec is not None and result.spec.vms["k8s-master-1"].memory == 4096


def test_extension_keys_are_only_allowed_at_the_top_level() -> None:
    result = check(mutate(example_text(), [("  cni: calico", "  cni: calico\n  x-note: hi")]))
    find(result, "kubernetes.x-note", "unknown key 'x-note'")
