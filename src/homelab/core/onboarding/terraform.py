"""``homelab import terraform``: a homelab spec, and the commands to hand the VMs over, from a
Terraform state holding Telmate's ``proxmox_vm_qemu`` or bpg's ``proxmox_virtual_environment_vm``.
Pure: the verb reads the state file and writes what ``import_state`` returns.

What is chosen, and why (each choice is written into the spec as a comment too):

- every managed, current instance of the two VM types becomes a spec VM (name, node, pinned
  VMID, cores, memory, boot disk, net0's network, ipconfig0's / ip_config's IPv4 address), unless
  the spec cannot hold it: no static IPv4 address (DHCP), no valid host name, less memory than
  kubeadm's minimum, a network the spec cannot have... Those are written as commented-out blocks
  with the reason, and listed. Templates (bpg ``template = true``) name the template of the VMs
  cloned from them. Data sources, tainted and deposed objects and other resource types are
  skipped with a note.
- roles: ``master``, ``control`` or ``cp`` in a VM's name (else its tags) makes it a control
  plane, anything else a worker; with none, the first VM that can be one is, and the spec says
  so. More than one control plane needs a VIP the state does not know: a free address is written
  as a placeholder to check.
- networks: one per (bridge, VLAN, IPv4 network of the addresses), named ``vlan20`` or
  ``net-vmbr0``, with the gateway most of its VMs use, their DNS servers and search domains.
- proxmox: the nodes seen, the template (``clone``, ``clone_id``, ``clone[0].vm_id``), the boot
  disks' storage, a ``vmid_range`` over the imported VMIDs (with room above when no other guest
  of the state is there), and placeholders for ``endpoint`` and ``token_id``.
- kubernetes: homelab's default version and CIDRs (another pod or service CIDR when the default
  overlaps a network), to be checked against the running cluster.
- access: the SSH public keys and the login user the VMs were given (never a password).
- settings the spec cannot say are listed per VM (value and what becomes of it); those homelab's
  plan will change after the adopt (agent, onboot, sockets, power state) are listed apart.

The commands take the VMs out of Terraform's state (exact addresses, quoted for the shell) and
let homelab adopt them, so the two tools never manage the same VM.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from homelab.core.onboarding import bpg, telmate
from homelab.core.onboarding.model import Attr, ImportedVm
from homelab.core.onboarding.spec_text import LabDraft, NetworkDraft, VmDraft, render
from homelab.core.onboarding.tfstate import Skipped, StateFile, shell_quote
from homelab.core.spec.checks import HOSTNAME_RE, MIN_CONTROL_PLANE_CORES, MIN_MEMORY_MIB
from homelab.core.spec.findings import Finding
from homelab.core.spec.models import VMID_MAX
from homelab.core.spec.validate import validate_text
from homelab.errors import LabError

__all__ = ["Defaults", "ImportResult", "guess_role", "import_state"]

CONTROL_WORDS = ("master", "control", "controlplane", "cp")
POD_CIDRS = ("192.168.0.0/16", "10.244.0.0/16", "172.16.0.0/16", "10.42.0.0/16")
SERVICE_CIDRS = ("10.96.0.0/12", "172.20.0.0/16", "10.43.0.0/16")
VMID_ROOM = 10
_OTHER_TYPES = {
    "proxmox_lxc": "an LXC container: homelab manages QEMU VMs only",
    "proxmox_virtual_environment_container": "an LXC container: homelab manages QEMU VMs only",
    "proxmox_virtual_environment_cloned_vm": "bpg's cloned_vm resource: the importer reads "
    "proxmox_virtual_environment_vm only",
    "proxmox_vm": "bpg's experimental VM resource: the importer reads "
    "proxmox_virtual_environment_vm only",
}


@dataclass(frozen=True)
class Defaults:
    """What homelab writes where the state says nothing (the reference lab's values)."""

    name: str
    kubernetes_version: str
    template: str
    storage: str
    iso_storage: str


@dataclass
class ImportResult:
    """The spec text, the hand-over commands and the report of one import."""

    spec_text: str
    commands: list[str]
    lab: str
    source: str
    imported: list[VmDraft]
    not_imported: list[ImportedVm]
    skipped: list[Skipped]
    checks: list[str]
    notes: list[str]

    def to_json(self, spec: str, commands_file: str | None) -> dict[str, object]:
        return {
            "spec": spec,
            "lab": self.lab,
            "source": self.source,
            "imported": [_vm_json(draft) for draft in self.imported],
            "not_imported": [
                {"address": vm.address, "name": vm.name, "reason": vm.problem}
                for vm in self.not_imported
            ],
            "skipped": [{"address": s.address, "reason": s.reason} for s in self.skipped],
            "unknown_attributes": {
                vm.address: [_attr_json(a) for a in vm.unmapped]
                for vm in [d.vm for d in self.imported] + self.not_imported
                if vm.unmapped
            },
            "check": list(self.checks),
            "notes": list(self.notes),
            "commands": list(self.commands),
            "commands_file": commands_file,
        }


def _attr_json(attr: Attr) -> dict[str, str]:
    return {"path": attr.path, "value": attr.value, "note": attr.note}


def _vm_json(draft: VmDraft) -> dict[str, object]:
    vm = draft.vm
    return {
        "name": vm.name,
        "address": vm.address,
        "provider": vm.provider,
        "vmid": vm.vmid,
        "node": vm.node,
        "role": draft.role,
        "role_reason": draft.role_reason,
        "network": draft.network,
        "ip": str(vm.ipv4.ip) if vm.ipv4 else None,
        "plan_changes": [d.text() for d in vm.differences()],
        "unmapped": [_attr_json(a) for a in vm.unmapped],
        "secrets_not_imported": list(vm.secrets),
        "notes": list(vm.notes),
    }


# ---- reading the VMs ---------------------------------------------------------------------


def _read_vms(state: StateFile) -> tuple[list[ImportedVm], list[Skipped], dict[int, str]]:
    vms: list[ImportedVm] = []
    skipped = list(state.skipped)
    templates: dict[int, str] = {}
    for instance in state.instances:
        if instance.type == telmate.RESOURCE_TYPE:
            vms.append(telmate.read_vm(instance))
        elif instance.type == bpg.RESOURCE_TYPE:
            template = bpg.template_of(instance.attributes)
            if template is not None:
                templates[template[0]] = template[1]
                skipped.append(
                    Skipped(instance.address, f"a template ({template[1]}, VMID {template[0]})")
                )
            else:
                vms.append(bpg.read_vm(instance))
        else:
            reason = _OTHER_TYPES.get(instance.type, f"not a Proxmox VM ({instance.type})")
            skipped.append(Skipped(instance.address, reason))
    for vm in vms:
        if isinstance(vm.template, int) and vm.template in templates:
            vm.template = templates[vm.template]
    return vms, skipped, templates


def _check_vm(vm: ImportedVm, names: Counter[str]) -> None:
    """What makes a VM impossible to write as a spec VM, before the lab is put together."""
    if vm.name is None:
        vm.cannot("it has no name (homelab finds VMs by name)")
    elif not HOSTNAME_RE.match(vm.name):
        vm.cannot(
            f"'{vm.name}' is not a valid host name (lower-case letters, digits and '-'): "
            "homelab adopts VMs by name, so rename it in Proxmox VE first"
        )
    elif names[vm.name] > 1:
        vm.cannot(f"another VM of the state is named '{vm.name}' too")
    if vm.node is None:
        vm.cannot("its Proxmox node is not in the state")
    if vm.vmid is None:
        vm.cannot("its VMID is not in the state")
    if vm.memory_mib < MIN_MEMORY_MIB:
        vm.cannot(
            f"{vm.memory_mib} MiB of memory is below kubeadm's minimum of 2 GiB for a node "
            "(not a Kubernetes node?)"
        )


# ---- roles -------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def guess_role(name: str, tags: Sequence[str]) -> tuple[str, str]:
    """(role, why): ``master``, ``control`` or ``cp`` in the name, else in a tag, makes a
    control plane; anything else a worker."""
    for word in _words(name):
        if word in CONTROL_WORDS:
            return "control-plane", f"role guessed from the name ('{word}')"
    for tag in tags:
        if any(word in CONTROL_WORDS for word in _words(tag)):
            return "control-plane", f"role guessed from the tag '{tag}'"
    return "worker", "role guessed: no master, control or cp in its name or tags"


def _roles(vms: list[ImportedVm]) -> tuple[dict[str, tuple[str, str]], list[str]]:
    roles = {vm.address: guess_role(vm.name or "", vm.tags) for vm in vms}
    notes: list[str] = []
    if not any(role == "control-plane" for role, _ in roles.values()):
        able = [vm for vm in vms if vm.vcpus >= MIN_CONTROL_PLANE_CORES]
        if able:
            first = able[0]
            roles[first.address] = (
                "control-plane",
                "made the control plane: no name or tag suggested one, and the spec needs one",
            )
            notes.append(
                f"no VM's name or tags suggested a control plane: {first.name} is made one; "
                "set the roles your cluster really has"
            )
    return roles, notes


# ---- the lab -----------------------------------------------------------------------------


def _most(values: Iterable[object]) -> object | None:
    counted = Counter(v for v in values if v is not None)
    return counted.most_common(1)[0][0] if counted else None


@dataclass
class _Net:
    bridge: str
    vlan: int | None
    cidr: IPv4Network
    vms: list[ImportedVm] = field(default_factory=list)


def _networks(vms: list[ImportedVm]) -> dict[str, NetworkDraft]:
    groups: dict[tuple[str, int | None, IPv4Network], _Net] = {}
    for vm in vms:
        assert vm.ipv4 is not None
        key = (vm.bridge or "vmbr0", vm.vlan, vm.ipv4.network)
        groups.setdefault(key, _Net(*key)).vms.append(vm)
    drafts: dict[str, NetworkDraft] = {}
    vlans: dict[int, str] = {}
    for net in sorted(groups.values(), key=lambda n: -len(n.vms)):
        base = f"vlan{net.vlan}" if net.vlan else f"net-{net.bridge}"
        name, number = base, 2
        while name in drafts:
            name, number = f"{base}-{number}", number + 1
        if net.vlan is not None and net.vlan in vlans:
            for vm in net.vms:
                vm.cannot(
                    f"VLAN {net.vlan} also carries network {vlans[net.vlan]} (another bridge or "
                    "IPv4 network): the spec has one network per VLAN"
                )
            continue
        draft = _network_draft(name, net)
        if draft is None:
            continue
        if net.vlan is not None:
            vlans[net.vlan] = name
        drafts[name] = draft
    return drafts


def _network_draft(name: str, net: _Net) -> NetworkDraft | None:
    gateway = _most(vm.gateway for vm in net.vms)
    if not isinstance(gateway, IPv4Address):
        for vm in net.vms:
            vm.cannot(
                f"no gateway for {net.cidr}: neither it nor another VM on that network names one "
                "(the spec needs a gateway per network)"
            )
        return None
    draft = NetworkDraft(name, net.bridge, net.vlan, net.cidr, gateway)
    for vm in net.vms:
        if vm.gateway is not None and vm.gateway != gateway:
            note = (
                f"its gateway {vm.gateway} differs from {gateway}, which most VMs of network "
                f"{name} use (the spec has one gateway per network; an adopted VM keeps its own)"
            )
            if note not in vm.notes:  # the lab is drafted again after a VM is taken out
                vm.notes.append(note)
        for server in vm.dns:
            if server not in draft.dns:
                draft.dns.append(server)
        for domain in vm.search_domains:
            if domain not in draft.search_domains:
                draft.search_domains.append(domain)
        draft.vms.append(vm.name or vm.address)
    return draft


def _free_cidr(candidates: Sequence[str], taken: list[IPv4Network]) -> IPv4Network | None:
    for text in candidates:
        cidr = IPv4Network(text)
        if not any(cidr.overlaps(other) for other in taken):
            return cidr
    return None


def _vmid_range(
    vmids: list[int], others: dict[int, str], checks: list[str]
) -> tuple[int, int, str]:
    first, last = min(vmids), max(vmids)
    end = min(max(last, first + VMID_ROOM - 1), VMID_MAX)
    for other in sorted(others):
        if last < other <= end:
            end = other - 1
    inside = sorted(v for v in others if first <= v <= last)
    comment = f"covers the imported VMIDs ({first}-{last})"
    if end > last:
        comment += f", and {end - last} more for new VMs"
    if inside:
        held = ", ".join(f"{v} ({others[v]})" for v in inside)
        checks.append(
            f"proxmox.vmid_range {first}-{end} also holds VMIDs of VMs not imported: {held}; "
            "homelab never takes a VMID in use, but `homelab doctor` will warn"
        )
        comment += "; CHECK: also holds other VMs' VMIDs"
    return first, end, comment


def _vip(net: NetworkDraft, taken: set[IPv4Address]) -> IPv4Address | None:
    hosts = list(net.cidr.hosts())
    for address in reversed(hosts):
        if address not in taken and address != net.gateway and address not in net.dns:
            return address
    return None


def _access(vms: list[ImportedVm], defaults_user: str, notes: list[str]) -> tuple[str, list[str]]:
    keys: list[str] = []
    for vm in vms:
        keys += [key for key in vm.ssh_keys if key not in keys]
    users = Counter(vm.user for vm in vms if vm.user)
    user = defaults_user
    for candidate, _count in users.most_common():
        if re.match(r"^[a-z_][a-z0-9_-]{0,31}$", candidate) and candidate not in (
            "root",
            "daemon",
            "bin",
            "sys",
            "nobody",
            "syslog",
        ):
            user = candidate
            break
        notes.append(
            f"login user '{candidate}' (ciuser/username) cannot be homelab's login user (an "
            f"ordinary user that gets sudo): access.user is {defaults_user}"
        )
    if len(users) > 1:
        notes.append(f"the VMs have different login users ({', '.join(sorted(users))})")
    return user, keys


def _draft(
    state: StateFile,
    defaults: Defaults,
    vms: list[ImportedVm],
    others: dict[int, str],
    overrides: dict[str, str],
) -> tuple[LabDraft, list[str], list[str]]:
    checks: list[str] = []
    notes: list[str] = []
    networks = _networks([vm for vm in vms if vm.problem is None])
    ok = [vm for vm in vms if vm.problem is None]
    if not ok:
        raise _nothing_to_import(state, vms)
    roles, role_notes = _roles(ok)
    notes += role_notes
    net_of = {vm_name: name for name, net in networks.items() for vm_name in net.vms}
    drafts = [VmDraft(vm, *roles[vm.address], net_of[vm.name or vm.address]) for vm in ok]
    nodes = list(dict.fromkeys(vm.node for vm in ok if vm.node))
    template_value = _most(vm.template for vm in ok)
    templates = {vm.template for vm in ok if vm.template is not None}
    if "template" in overrides or template_value is None:
        template: str | int = defaults.template
        why = overrides.get("template", "no VM's clone source is in the state")
        template_comment = f"CHECK: homelab's default; {why}"
        checks.append(
            f"proxmox.template: {why}; name the cloud-init template to clone new VMs from"
        )
    else:
        assert isinstance(template_value, str | int)
        template = template_value
        template_comment = "the template the VMs were cloned from"
        if len(templates) > 1:
            template_comment += f" (most of them; also {_others_text(templates, template)})"
    storage_value = _most(vm.storage for vm in ok)
    storage = (
        str(storage_value) if storage_value and "storage" not in overrides else defaults.storage
    )
    storage_comment = (
        "the storage of the VMs' boot disks"
        if storage == storage_value
        else "homelab's default (the state names no usable disk storage)"
    )
    linked = sum(not vm.full_clone for vm in ok) > len(ok) / 2
    vmids = [vm.vmid for vm in ok if vm.vmid is not None]
    if isinstance(template, int):
        others = {**others, template: "the template"}
    first, last, range_comment = _vmid_range(vmids, others, checks)
    if isinstance(template, int) and first <= template <= last:
        raise LabError(
            f"{state.source}: the template's VMID {template} lies between the imported VMIDs "
            f"({first}-{last}), and homelab's vmid_range may not hold it",
            hint="give the template's name in the spec by hand, or import the VMs in two labs",
        )
    taken = [net.cidr for net in networks.values()]
    pod = _free_cidr(POD_CIDRS, taken)
    service = _free_cidr(SERVICE_CIDRS, [*taken, *([pod] if pod else [])])
    if pod is None or service is None:
        raise LabError(
            f"{state.source}: the imported networks overlap every pod and service CIDR the "
            "importer knows",
            hint="write kubernetes.pod_cidr and service_cidr by hand",
        )
    planes = [d for d in drafts if d.role == "control-plane"]
    vip = None
    if len(planes) > 1:
        home = networks[planes[0].network]
        used = {vm.ipv4.ip for vm in ok if vm.ipv4 is not None}
        vip = _vip(home, used)
        checks.append(
            f"kubernetes.control_plane_endpoint {vip}: a placeholder (a free address of network "
            f"{home.name}); set the VIP your {len(planes)} control planes share (kube-vip)"
        )
    user, keys = _access(ok, "ubuntu", notes)
    if not keys:
        notes.append("no SSH public key in the state: access.ssh_authorized_keys is empty")
    checks += [
        "proxmox.endpoint and proxmox.token_id are placeholders: set your Proxmox VE API and "
        "the token homelab uses (README: Using a real Proxmox VE)",
        f"kubernetes.version {defaults.kubernetes_version} is homelab's default: set the version "
        "your cluster runs (supported minors 1.29 through 1.37)",
    ]
    if str(pod) != POD_CIDRS[0] or str(service) != SERVICE_CIDRS[0]:
        checks.append(
            f"kubernetes.pod_cidr {pod} / service_cidr {service}: homelab's defaults overlap an "
            "imported network; set your cluster's own"
        )
    lab = LabDraft(
        name=defaults.name,
        source=state.source,
        terraform_version=state.terraform_version,
        serial=state.serial,
        nodes=nodes,
        template=template,
        template_comment=template_comment,
        storage=storage,
        storage_comment=storage_comment,
        iso_storage=defaults.iso_storage,
        vmid_range=f"{first}-{last}",
        vmid_comment=range_comment,
        clone="linked" if linked else "full",
        networks=list(networks.values()),
        kubernetes_version=defaults.kubernetes_version,
        pod_cidr=pod,
        service_cidr=service,
        vip=vip,
        vms=drafts,
        not_imported=[vm for vm in vms if vm.problem is not None],
        user=user,
        keys=keys,
    )
    return lab, checks, notes


def _others_text(values: set[str | int], chosen: str | int) -> str:
    return ", ".join(sorted(str(v) for v in values if v != chosen))


def _nothing_to_import(state: StateFile, vms: list[ImportedVm]) -> LabError:
    if not vms:
        return LabError(
            f"{state.source}: no proxmox_vm_qemu or proxmox_virtual_environment_vm instance to "
            "import",
            hint="homelab imports VMs of the Telmate/proxmox and bpg/proxmox providers",
        )
    reasons = "; ".join(f"{vm.name or vm.address}: {vm.problem}" for vm in vms[:3])
    more = f" (and {len(vms) - 3} more)" if len(vms) > 3 else ""
    return LabError(
        f"{state.source}: none of its {len(vms)} VM(s) can be written as a spec VM: {reasons}{more}"
    )


# ---- validation: what the spec refuses is taken out, with the reason -----------------------


def _apply_findings(
    errors: list[Finding], lab: LabDraft, overrides: dict[str, str], notes: list[str]
) -> bool:
    """Turn the spec's errors into reasons on VMs (or overrides); False if one is not ours."""
    by_name = {d.vm.name: d.vm for d in lab.vms}
    for error in errors:
        path = error.path
        if len(path) >= 2 and path[0] == "vms" and str(path[1]) in by_name:
            by_name[str(path[1])].cannot(f"the spec refuses it: {error.message}")
        elif len(path) >= 2 and path[0] == "networks":
            net = next((n for n in lab.networks if n.name == path[1]), None)
            if net is None:
                return False
            for draft in lab.vms:
                if draft.network == net.name:
                    draft.vm.cannot(f"its network {net.name} is refused: {error.message}")
        elif path[:2] in (("proxmox", "template"), ("proxmox", "storage")):
            overrides[str(path[1])] = f"the state's {path[1]} is refused ({error.message})"
            notes.append(f"proxmox.{path[1]}: {error.message}; homelab's default is written")
        elif len(path) == 3 and path[:2] == ("proxmox", "nodes"):
            node = lab.nodes[int(path[2])]
            for draft in lab.vms:
                if draft.vm.node == node:
                    draft.vm.cannot(f"its node '{node}' is refused: {error.message}")
        else:
            return False
    return True


def import_state(state: StateFile, defaults: Defaults, spec_path: str) -> ImportResult:
    """The spec and commands for the VMs of ``state``; ``spec_path`` is where the verb writes
    the spec (the commands name it)."""
    vms, skipped, templates = _read_vms(state)
    names = Counter(vm.name for vm in vms if vm.name)
    for vm in vms:
        _check_vm(vm, names)
    others = {vm.vmid: vm.name or vm.address for vm in vms if vm.vmid is not None}
    others.update({vmid: f"template {name}" for vmid, name in templates.items()})
    overrides: dict[str, str] = {}
    for _attempt in range(len(vms) + 3):
        imported = {vm.vmid for vm in vms if vm.problem is None}
        lab, checks, notes = _draft(
            state, defaults, vms, {k: v for k, v in others.items() if k not in imported}, overrides
        )
        text = render(lab)
        result = validate_text(text, spec_path)
        if not result.errors:
            return ImportResult(
                spec_text=text,
                commands=_commands(lab, spec_path),
                lab=lab.name,
                source=state.source,
                imported=lab.vms,
                not_imported=lab.not_imported,
                skipped=skipped,
                checks=checks,
                notes=notes,
            )
        if not _apply_findings(result.errors, lab, overrides, notes):
            break
    raise LabError(
        f"{state.source}: the spec made from it does not validate: "
        f"{result.errors[0].format(spec_path)}",
        hint="this is a bug of the importer: please report it with the state's shape "
        "(not its secrets)",
    )


def _commands(lab: LabDraft, spec_path: str) -> list[str]:
    spec = shlex.quote(spec_path)
    lines = [
        f"# Hand the VMs of {lab.source} over from Terraform to homelab (lab {lab.name}).",
        "# 1. Take them out of Terraform's state: Terraform forgets them, they keep running.",
        "#    Then delete their resource blocks (or module calls) from the Terraform",
        "#    configuration, or the next `terraform apply` creates them again (Terraform 1.7+",
        "#    can say so with `removed { from = ... lifecycle { destroy = false } }`).",
    ]
    lines += [f"terraform state rm {shell_quote(draft.vm.address)}" for draft in lab.vms]
    lines += [
        "# 2. Let homelab adopt them: it tags each VM and records the lab in its description.",
        f"#    (`homelab adopt {spec} --json` shows what it would do and changes nothing.)",
        f"homelab adopt {spec}",
        "# 3. What homelab would change now:",
        f"homelab plan {spec}",
    ]
    return lines
