"""`homelab doctor`: what a real lab needs of its Proxmox VE, judged from observed facts. Pure.

The engine gathers the facts (``homelab.verbs.doctor``); ``diagnose`` turns them and the spec
into findings, each with a severity, what is wrong and how to fix it. The checks, in order:

- privileges: each privilege of the documented role on the path PVE checks it on
  (``GET /access/permissions?path=...``): ``/vms`` (and ``/vms/{template}`` for the clone),
  ``/storage/{storage}`` and ``/storage/{iso_storage}``, ``/nodes/{node}``, ``/`` and, for each
  network, ``/sdn/zones/localnetwork/{bridge}/{vlan}`` (PVE 8 checks ``SDN.Use`` there for a
  plain bridge, ``PVE::GuestHelpers::check_vnet_access``). PVE 9 has no ``VM.Monitor``; its
  guest-agent calls need ``VM.GuestAgent.Audit`` (or ``.Unrestricted``);
- templates: a template of the spec's name or VMID on every node that hosts a VM, else one a
  clone can reach (qemu-server refuses a clone to another node while any of the template's
  volumes is on non-shared storage, "can't clone VM to node '<n>' (VM uses local storage)", and
  onto a non-shared target storage, "can't clone to non-shared storage '<s>'"); with the guest
  agent enabled and no cloud-init drive of its own on a bus other than ``ide2`` (a clone keeps
  it, and NoCloud may read Proxmox's seed instead of the lab's);
- storages: both exist, are enabled on the nodes that need them and hold the content types
  the lab writes (``images`` on ``storage``, ``iso`` on ``iso_storage``); a seed ISO on
  node-local storage blocks live migration ("local cdrom image");
- VMIDs: no guest (VM or container) in ``vmid_range`` that is not the lab's;
- capacity: ``homelab.core.plan.capacity``'s rules against the nodes' real sizes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from homelab.core.ownership import tagged_for
from homelab.core.plan.capacity import NodeCapacity, check_capacity, demands_from_spec
from homelab.core.pve_inventory import Guest, StorageFacts
from homelab.core.spec.models import LabSpec

__all__ = [
    "CHECKS",
    "Finding",
    "Guest",
    "LabFacts",
    "Requirement",
    "StorageFacts",
    "TemplateFacts",
    "diagnose",
    "required_privileges",
    "template_problems",
]

Severity = Literal["error", "warning"]

#: The checks in the order they run (and are reported).
CHECKS = ("endpoint", "token", "privileges", "templates", "storage", "vmids", "capacity")

# The documented role's privileges on /vms, common to PVE 8 and 9 (README).
_VM_PRIVILEGES = (
    "VM.Allocate",
    "VM.Audit",
    "VM.PowerMgmt",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
)
_DRIVE_KEY = re.compile(r"^(ide|sata|scsi|virtio|efidisk|tpmstate|unused)\d+$")


@dataclass(frozen=True)
class Finding:
    """One thing wrong: the check that found it, how bad, what is wrong, how to fix it."""

    check: str
    severity: Severity
    problem: str
    fix: str

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True)
class Requirement:
    """A privilege needed on ``path`` (any of ``privileges`` will do), and what for."""

    path: str
    privileges: tuple[str, ...]
    why: str

    @property
    def name(self) -> str:
        return " or ".join(self.privileges)


@dataclass(frozen=True)
class TemplateFacts:
    """A template matching ``proxmox.template``, with its config (text values)."""

    vmid: int
    node: str
    config: Mapping[str, str]


@dataclass(frozen=True)
class LabFacts:
    """What the engine observed. ``permissions``: path -> the privileges the token holds there;
    a path, or a field left None, could not be read (a finding of its own): the checks that
    need it are not judged."""

    version: str
    permissions: Mapping[str, frozenset[str]]
    storages: Mapping[str, StorageFacts] | None
    templates: Sequence[TemplateFacts] | None
    guests: Sequence[Guest] | None
    capacities: Mapping[str, NodeCapacity] | None = None


def pve_major(version: str) -> int:
    """8 from ``8.2.4``; 8 when the version cannot be read."""
    match = re.match(r"(\d+)", version)
    return int(match.group(1)) if match else 8


def required_privileges(
    spec: LabSpec, version: str, templates: Iterable[int] = ()
) -> list[Requirement]:
    """Each privilege of the documented role on the path PVE checks it on (see the module)."""
    px = spec.proxmox
    agent = (
        ("VM.Monitor",)
        if pve_major(version) < 9
        else (
            "VM.GuestAgent.Audit",
            "VM.GuestAgent.Unrestricted",
        )
    )
    needs = [
        Requirement("/vms", (priv,), "create and configure the lab's VMs")
        for priv in _VM_PRIVILEGES
    ]
    needs.append(Requirement("/vms", agent, "ask the guest agent for the VM's addresses"))
    needs.extend(
        Requirement(f"/vms/{vmid}", ("VM.Clone",), f"clone template {vmid}")
        for vmid in sorted(set(templates))
    )
    disk = f"/storage/{px.storage}"
    iso = f"/storage/{px.iso_storage}"
    needs += [
        Requirement(disk, ("Datastore.AllocateSpace",), "allocate the VMs' disks"),
        Requirement(disk, ("Datastore.Audit",), "read the disk storage"),
        Requirement(iso, ("Datastore.AllocateTemplate",), "upload the seed ISOs"),
        Requirement(iso, ("Datastore.Audit",), "list the seed ISOs"),
        Requirement(iso, ("Datastore.Allocate",), "delete superseded and destroyed VMs' seed ISOs"),
        Requirement("/", ("Sys.Audit",), "read the datacenter options (user-tag-access)"),
    ]
    nodes = sorted({spec.node_of(vm) for vm in spec.vms})
    needs.extend(
        Requirement(f"/nodes/{node}", ("Sys.Audit",), "see the node and its capacity")
        for node in nodes
    )
    bridges = sorted({(net.bridge, net.vlan) for net in spec.networks.values()})
    needs.extend(
        Requirement(
            f"/sdn/zones/localnetwork/{bridge}/{vlan}",
            ("SDN.Use",),
            f"attach VMs to {bridge} VLAN {vlan}",
        )
        for bridge, vlan in bridges
    )
    return needs


def _privilege_findings(
    reqs: Sequence[Requirement], held: Mapping[str, frozenset[str]]
) -> list[Finding]:
    missing: dict[str, list[Requirement]] = {}
    for req in reqs:
        if req.path in held and not set(req.privileges) & held[req.path]:
            missing.setdefault(req.path, []).append(req)
    return [
        Finding(
            "privileges",
            "error",
            f"the token lacks {', '.join(r.name for r in reqs)} on {path} "
            f"(needed to {'; '.join(r.why for r in reqs)})",
            f"grant them on {path} (or a parent path, with propagate): add them to the token's "
            "role (pveum role modify ROLE -privs ...), or pveum aclmod PATH -token TOKEN -role "
            "ROLE for a privilege-separated token",
        )
        for path, reqs in missing.items()
    ]


def _volumes(config: Mapping[str, str]) -> list[tuple[str, str]]:
    """(drive key, volume id) of every drive holding a storage volume (not ``none``/``cdrom``)."""
    found = []
    for key, value in config.items():
        if not _DRIVE_KEY.match(key):
            continue
        volid = value.split(",", 1)[0]
        if ":" in volid and not volid.startswith("/"):
            found.append((key, volid))
    return found


def _agent_enabled(value: str | None) -> bool:
    if value is None:
        return False
    for part in value.split(","):
        part = part.strip()
        if part in {"1", "enabled=1", "enabled=yes", "enabled=on", "yes", "on"}:
            return True
    return False


def template_problems(template: TemplateFacts) -> list[Finding]:
    """A template the lab clones from: guest agent enabled, no cloud-init drive but on ide2."""
    vmid = template.vmid
    found = []
    if not _agent_enabled(template.config.get("agent")):
        found.append(
            Finding(
                "templates",
                "error",
                f"template {vmid} on node {template.node} has no guest agent enabled "
                "(agent: 1): homelab reads each VM's address through the agent",
                f"qm set {vmid} --agent enabled=1 (and install qemu-guest-agent in the image)",
            )
        )
    for key, volid in _volumes(template.config):
        if "cloudinit" in volid.split(":", 1)[1] and key != "ide2":
            found.append(
                Finding(
                    "templates",
                    "error",
                    f"template {vmid} on node {template.node} has a cloud-init drive on {key} "
                    f"({volid}): its clones keep it, and cloud-init may read Proxmox's seed "
                    "instead of the lab's",
                    f"qm set {vmid} --delete {key} (homelab puts its own seed on ide2)",
                )
            )
    return found


def _storage_of(volid: str) -> str:
    return volid.split(":", 1)[0]


def _template_findings(
    spec: LabSpec, found_templates: Sequence[TemplateFacts], storages: Mapping[str, StorageFacts]
) -> list[Finding]:
    px = spec.proxmox
    templates = sorted(found_templates, key=lambda t: t.vmid)
    if not templates:
        return [
            Finding(
                "templates",
                "error",
                f"template {px.template} not found: no VM template with that name or VMID is "
                "visible",
                "create it (an Ubuntu 24.04 cloud image VM with agent: 1, converted with qm "
                "template), or fix proxmox.template; the token needs VM.Audit to see it",
            )
        ]
    found: list[Finding] = []
    used: dict[int, TemplateFacts] = {}
    hosts: dict[str, list[str]] = {}
    for vm in spec.vms:
        hosts.setdefault(spec.node_of(vm), []).append(vm)
    target = storages.get(px.storage)
    for node, vms in sorted(hosts.items()):
        local = [t for t in templates if t.node == node]
        chosen = (local or templates)[0]
        used[chosen.vmid] = chosen
        if local:
            continue
        names = ", ".join(vms)
        local_stores = sorted(
            {
                _storage_of(v)
                for _, v in _volumes(chosen.config)
                if not (st := storages.get(_storage_of(v))) or not st.shared
            }
        )
        if local_stores:
            found.append(
                Finding(
                    "templates",
                    "error",
                    f"node {node} (vm {names}) has no copy of template {px.template}, and "
                    f"template {chosen.vmid} on node {chosen.node} uses non-shared storage "
                    f"{', '.join(local_stores)}: Proxmox refuses the clone (can't clone VM "
                    f"to node '{node}' (VM uses local storage))",
                    f"keep a copy of the template on {node} under the same name, move the "
                    "template's disks (and its ISO/cloud-init drives) to shared storage, or "
                    f"place the VMs on node {chosen.node}",
                )
            )
        if target is not None and not target.shared:
            found.append(
                Finding(
                    "templates",
                    "error",
                    f"node {node} (vm {names}) has no copy of template {px.template}, and "
                    f"storage {px.storage} is not shared: Proxmox refuses a clone to another "
                    f"node onto it (can't clone to non-shared storage '{px.storage}')",
                    f"keep a copy of the template on {node}, or use a shared storage for "
                    "proxmox.storage",
                )
            )
    for template in used.values():
        found.extend(template_problems(template))
    return found


def _storage_findings(spec: LabSpec, storages: Mapping[str, StorageFacts]) -> list[Finding]:
    px = spec.proxmox
    hosts = sorted({spec.node_of(vm) for vm in spec.vms})
    found: list[Finding] = []
    for key, name, content, why in (
        ("storage", px.storage, "images", "the VMs' disks"),
        ("iso_storage", px.iso_storage, "iso", "the seed ISOs"),
    ):
        storage = storages.get(name)
        if storage is None:
            found.append(
                Finding(
                    "storage",
                    "error",
                    f"storage {name} (proxmox.{key}) does not exist or is not visible",
                    f"fix proxmox.{key} (pvesm status lists the storages), or grant "
                    f"Datastore.Audit on /storage/{name}",
                )
            )
            continue
        if content not in storage.content:
            have = ",".join(sorted(storage.content)) or "nothing"
            found.append(
                Finding(
                    "storage",
                    "error",
                    f"storage {name} (proxmox.{key}) holds {have}, not {content}: it cannot "
                    f"take {why}",
                    f"pvesm set {name} --content {','.join(sorted(storage.content | {content}))}"
                    f", or choose a storage with {content} content for proxmox.{key}",
                )
            )
        absent = [node for node in hosts if not storage.on_node(node)]
        if absent:
            state = "disabled" if storage.disabled else f"not available on node {', '.join(absent)}"
            found.append(
                Finding(
                    "storage",
                    "error",
                    f"storage {name} (proxmox.{key}) is {state}",
                    f"enable it there (pvesm set {name} --disable 0 / --nodes ...), or choose "
                    f"another proxmox.{key}",
                )
            )
    iso = storages.get(px.iso_storage)
    if iso is not None and not iso.shared and len(px.nodes) > 1:
        found.append(
            Finding(
                "storage",
                "warning",
                f"iso_storage {px.iso_storage} is not shared: a VM with its seed ISO on it "
                "cannot be live-migrated (local cdrom image)",
                "use a shared storage with iso content for proxmox.iso_storage, or eject the "
                "seed (qm set VMID --ide2 none) before migrating",
            )
        )
    return found


def _vmid_findings(spec: LabSpec, guests: Sequence[Guest]) -> list[Finding]:
    vmids = spec.proxmox.vmids
    foreign = [
        guest
        for guest in guests
        if guest.vmid in vmids
        and (guest.kind != "qemu" or guest.template or not tagged_for(spec.name, guest.tags))
    ]
    if not foreign:
        return []
    listed = ", ".join(
        f"{g.vmid} ({'container' if g.kind == 'lxc' else 'template' if g.template else 'VM'}"
        f"{' ' + g.name if g.name else ''} on {g.node})"
        for g in sorted(foreign, key=lambda g: g.vmid)
    )
    return [
        Finding(
            "vmids",
            "error",
            f"vmid_range {spec.proxmox.vmid_range} holds guests that are not this lab's: {listed}",
            "choose a vmid_range no other guest uses, or move those guests out of it",
        )
    ]


def _capacity_findings(
    spec: LabSpec, guests: Sequence[Guest], capacities: Mapping[str, NodeCapacity]
) -> list[Finding]:
    lab = {
        g.name
        for g in guests
        if g.name and g.kind == "qemu" and tagged_for(spec.name, g.tags)
    }
    found = []
    for node in sorted({spec.node_of(vm) for vm in spec.vms}):
        if node not in capacities:
            found.append(
                Finding(
                    "capacity",
                    "warning",
                    f"node {node} is not seen online: its capacity cannot be checked",
                    f"check that node {node} is in the cluster and online (pvecm status), and "
                    f"that the token has Sys.Audit on /nodes/{node}",
                )
            )
    for issue in check_capacity(demands_from_spec(spec, lab), capacities):
        found.append(
            Finding(
                "capacity",
                issue.severity,
                issue.message,
                "lower the VM's size in the spec or place it on a larger node (vms.NAME.node)",
            )
        )
    return found


def diagnose(spec: LabSpec, facts: LabFacts) -> list[Finding]:
    """Every finding about ``spec`` on the observed Proxmox VE (errors and warnings)."""
    templates = facts.templates or ()
    reqs = required_privileges(spec, facts.version, (t.vmid for t in templates))
    found = _privilege_findings(reqs, facts.permissions)
    storages = facts.storages
    if facts.templates is not None and storages is not None:
        found += _template_findings(spec, facts.templates, storages)
    if storages is not None:
        found += _storage_findings(spec, storages)
    if facts.guests is not None:
        found += _vmid_findings(spec, facts.guests)
        if facts.capacities is not None:
            found += _capacity_findings(spec, facts.guests, facts.capacities)
    return found
