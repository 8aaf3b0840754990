"""The imported lab as spec text: YAML written line by line, so every choice carries its comment.

``render`` writes a ``LabDraft`` in the layout of the reference lab (``examples/home-lab.yaml``):
``name``, ``proxmox``, ``networks``, ``kubernetes``, ``vms`` (each VM with comments above it: its
Terraform address, how its role was chosen, what homelab's plan will change, what the spec does
not carry, the secrets left out), then ``access``. VMs the spec cannot hold follow the others as
commented-out blocks with the reason. Scalars are written plain only when YAML reads them back as
the same text; comments are cut to printable characters, so no value from a state file can break
the document. Pure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

import yaml

from homelab.core.onboarding.model import ImportedVm
from homelab.core.spec.units import format_mib

__all__ = ["LabDraft", "NetworkDraft", "VmDraft", "render", "scalar"]

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@!+-]*")
ENDPOINT_PLACEHOLDER = "https://pve.invalid:8006"
TOKEN_PLACEHOLDER = "homelab@pve!apply"  # noqa: S105  (a token id, not a secret)


@dataclass
class NetworkDraft:
    name: str
    bridge: str
    vlan: int | None
    cidr: IPv4Network
    gateway: IPv4Address
    dns: list[IPv4Address] = field(default_factory=list)
    search_domains: list[str] = field(default_factory=list)
    vms: list[str] = field(default_factory=list)


@dataclass
class VmDraft:
    vm: ImportedVm
    role: str
    role_reason: str
    network: str


@dataclass
class LabDraft:
    name: str
    source: str
    terraform_version: str
    serial: int | None
    nodes: list[str]
    template: str | int
    template_comment: str
    storage: str
    storage_comment: str
    iso_storage: str
    vmid_range: str
    vmid_comment: str
    clone: str
    networks: list[NetworkDraft]
    kubernetes_version: str
    pod_cidr: IPv4Network
    service_cidr: IPv4Network
    vip: IPv4Address | None
    vms: list[VmDraft]
    not_imported: list[ImportedVm]
    user: str
    keys: list[str]


def clean(text: str) -> str:
    """``text`` safe inside a YAML comment: one line of printable characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def scalar(value: object) -> str:
    """A YAML scalar that reads back as ``value``: plain when that is safe, else quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _PLAIN.fullmatch(text):
        try:
            if yaml.safe_load(text) == text:
                return text
        except yaml.YAMLError:
            pass
    return json.dumps(text, ensure_ascii=True)


def _flow(values: list[object]) -> str:
    return "[" + ", ".join(scalar(v) for v in values) + "]"


class _Doc:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def comment(self, text: str, indent: int = 0) -> None:
        self.lines.append(" " * indent + "# " + clean(text))

    def key(self, key: str, value: str | None = None, note: str = "", indent: int = 0) -> None:
        line = " " * indent + f"{key}:" + (f" {value}" if value is not None else "")
        self.lines.append(line + (f"  # {clean(note)}" if note else ""))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(lab: LabDraft) -> str:
    """The spec text of ``lab``."""
    doc = _Doc()
    serial = f", serial {lab.serial}" if lab.serial is not None else ""
    doc.comment(
        f"Imported by `homelab import terraform` from {lab.source} "
        f"(Terraform {lab.terraform_version}{serial})."
    )
    doc.comment(
        f"{len(lab.vms)} VM(s) imported; {len(lab.not_imported)} not imported (commented out "
        "at the end of vms:, with the reason)."
    )
    doc.comment("Lines marked CHECK hold a placeholder or a guess: correct them first.")
    doc.key("name", scalar(lab.name))
    _proxmox(doc, lab)
    _networks(doc, lab)
    _kubernetes(doc, lab)
    doc.key("vms")
    for draft in lab.vms:
        _vm(doc, draft)
    for vm in lab.not_imported:
        _not_imported(doc, vm, lab)
    _access(doc, lab)
    return doc.text()


def _proxmox(doc: _Doc, lab: LabDraft) -> None:
    doc.key("proxmox")
    doc.key(
        "endpoint",
        ENDPOINT_PLACEHOLDER,
        "CHECK: placeholder; your Proxmox VE API, https://HOST:8006 (or env PROXMOX_VE_ENDPOINT)",
        2,
    )
    doc.key(
        "token_id",
        scalar(TOKEN_PLACEHOLDER),
        "CHECK: placeholder; the API token homelab uses (secret: env PROXMOX_VE_API_TOKEN only)",
        2,
    )
    doc.key("nodes", _flow(list(lab.nodes)), "the nodes the imported VMs run on", 2)
    doc.key("template", scalar(lab.template), lab.template_comment, 2)
    doc.key("storage", scalar(lab.storage), lab.storage_comment, 2)
    doc.key(
        "iso_storage",
        scalar(lab.iso_storage),
        "homelab's default: where the seed ISOs of VMs homelab creates go (content iso)",
        2,
    )
    doc.key("vmid_range", scalar(lab.vmid_range), lab.vmid_comment, 2)
    if lab.clone != "full":
        doc.key("clone", lab.clone, "the VMs were linked clones", 2)


def _networks(doc: _Doc, lab: LabDraft) -> None:
    doc.key("networks")
    for net in lab.networks:
        where = f"bridge {net.bridge}" + (f", VLAN {net.vlan}" if net.vlan else ", untagged")
        doc.comment(f"{where}: the network of {', '.join(net.vms)}", 2)
        doc.key(net.name, indent=2)
        if net.vlan:
            doc.key("vlan", str(net.vlan), indent=4)
        doc.key("cidr", scalar(net.cidr), indent=4)
        doc.key("gateway", scalar(net.gateway), "the gateway its VMs use", 4)
        doc.key("bridge", scalar(net.bridge), indent=4)
        if net.dns:
            doc.key("dns", _flow(list(net.dns)), "nameservers of its VMs", 4)
        else:
            doc.comment("dns: []  no DNS server in the state: new VMs need one", 4)
        if net.search_domains:
            doc.key("search_domains", _flow(list(net.search_domains)), indent=4)


def _kubernetes(doc: _Doc, lab: LabDraft) -> None:
    doc.key("kubernetes")
    doc.key(
        "version",
        scalar(lab.kubernetes_version),
        "CHECK: homelab's default; the version your cluster runs (supported: 1.29-1.37)",
        2,
    )
    default_pod = str(lab.pod_cidr) == "192.168.0.0/16"
    doc.key(
        "pod_cidr",
        scalar(lab.pod_cidr),
        "homelab's default (the Calico pool): CHECK it is your cluster's"
        if default_pod
        else "CHECK: homelab's default 192.168.0.0/16 overlaps an imported network; set yours",
        2,
    )
    default_service = str(lab.service_cidr) == "10.96.0.0/12"
    doc.key(
        "service_cidr",
        scalar(lab.service_cidr),
        "kubeadm's default: CHECK it is your cluster's"
        if default_service
        else "CHECK: kubeadm's default 10.96.0.0/12 overlaps an imported network; set yours",
        2,
    )
    doc.key("cni", "calico", indent=2)
    doc.comment(
        "load_balancer: {addresses: FIRST-LAST}  MetalLB's pool: not known from Terraform", 2
    )
    if lab.vip is not None:
        doc.key(
            "control_plane_endpoint",
            scalar(lab.vip),
            "CHECK: placeholder; the VIP your control planes share (kube-vip)",
            2,
        )


def _vm_fields(doc: _Doc, vm: ImportedVm, role: str, network: str) -> None:
    def line(key: str, value: object, note: str = "") -> None:
        text = f"    {key}: {value}"
        doc.lines.append(text + (f"  # {clean(note)}" if note else ""))

    line("role", role)
    line("node", scalar(vm.node) if vm.node else "null")
    line("vmid", vm.vmid if vm.vmid is not None else "null")
    sockets = f" ({vm.sockets} sockets x {vm.cores} cores)" if vm.sockets != 1 else ""
    line("cores", vm.vcpus, f"vCPUs{sockets}" if sockets else "")
    line("memory", format_mib(vm.memory_mib))
    line("disk", f"{vm.disk_gib}GiB" if vm.disk_gib else "null", f"boot disk {vm.disk_slot}")
    line("network", network)
    if vm.ipv4 is not None:
        line("ip", scalar(vm.ipv4.ip), f"from {vm.ip_source}")
    else:
        line("ip", "null", f"no static IPv4 address in {vm.ip_source}")
    if not vm.onboot:
        line("onboot", "false", "not started with its node, as in Terraform")


def _vm(doc: _Doc, draft: VmDraft) -> None:
    vm = draft.vm
    doc.comment(f"{vm.address} ({vm.provider}); {draft.role_reason}", 2)
    for difference in vm.differences():
        doc.comment(f"homelab's plan will change: {difference.text()}", 2)
    for attr in vm.unmapped:
        doc.comment(f"not in the spec: {attr.text()}", 2)
    for secret in vm.secrets:
        doc.comment(f"not imported: {secret} (a secret)", 2)
    for note in vm.notes:
        doc.comment(f"note: {note}", 2)
    doc.key(str(vm.name), indent=2)
    _vm_fields(doc, vm, draft.role, draft.network)


def _not_imported(doc: _Doc, vm: ImportedVm, lab: LabDraft) -> None:
    doc.comment(f"NOT IMPORTED {vm.address} ({vm.provider}): {vm.problem}", 2)
    for attr in vm.unmapped:
        doc.comment(f"not in the spec: {attr.text()}", 2)
    for secret in vm.secrets:
        doc.comment(f"not imported: {secret} (a secret)", 2)
    network = "null"
    if vm.ipv4 is not None:
        network = next((n.name for n in lab.networks if vm.ipv4 in n.cidr), "null")
    doc.lines.append(f"  # {clean(scalar(vm.name) if vm.name else 'null')}:")
    start = len(doc.lines)
    _vm_fields(doc, vm, "worker", network)
    doc.lines[start:] = [f"  #{line[1:]}" for line in doc.lines[start:]]


def _access(doc: _Doc, lab: LabDraft) -> None:
    doc.key("access")
    doc.key("user", scalar(lab.user), "the login user of VMs homelab creates", 2)
    if not lab.keys:
        doc.key("ssh_authorized_keys", "[]", "no SSH public key in the state: add yours", 2)
        return
    doc.key("ssh_authorized_keys", note="the public keys the VMs were given", indent=2)
    for key in lab.keys:
        doc.lines.append(f"    - {json.dumps(key, ensure_ascii=True)}")
