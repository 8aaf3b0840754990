"""`homelab doctor`: what a real lab needs of its Proxmox VE, judged from observed facts. Pure.

The engine gathers the facts (``homelab.verbs.doctor``); ``diagnose`` turns them and the spec
into findings, each with a severity, what is wrong and how to fix it. The checks, in order:

- privileges: each privilege of the documented roles (the one list,
  ``homelab.engine.proxmox.privileges``, passed in) on the path PVE checks it on
  (``GET /access/permissions?path=...``): ``VM.*`` on ``/vms`` (``VM.Clone`` on each
  template's ``/vms/{vmid}``), the lab role's ``Datastore.*`` on ``/storage/{storage}``, the seed
  role's on ``/storage/{iso_storage}``, ``SDN.Use`` on ``/sdn/zones/localnetwork/{bridge}/{vlan}``
  for each network (``PVE::GuestHelpers::check_vnet_access``); PVE 9's ``VM.GuestAgent.Audit``
  is also satisfied by ``VM.GuestAgent.Unrestricted``;
- templates: a template of the spec's name or VMID exists; every VM can be cloned onto its
  node and no template carries a cloud-init drive off ``ide2``
  (``homelab.core.plan.placement.placement_problems``, the planner's own rule); the templates
  cloned from have the guest agent enabled;
- storages: both exist, are enabled on the nodes that need them and hold the content types
  the lab writes (``images`` on ``storage``, ``iso`` on ``iso_storage``); a seed ISO on
  node-local storage blocks live migration ("local cdrom image");
- network: each network's bridge exists and is up on every node that hosts one of its VMs,
  lets its VLAN through (a VLAN-aware bridge's ``bridge_vids``, or a port to hang ``vmbr0v20``
  on) and carries its MTU (qemu-server refuses such a NIC at start, or the guests' big frames
  are dropped);
- VMIDs: no guest (VM or container) in ``vmid_range`` that is not the lab's;
- capacity: ``homelab.core.plan.capacity``'s rules against the nodes' real sizes;
- auditor: the read-only token prometheus-pve-exporter scrapes with (``homelab monitoring
  token``), when the state store holds one or the spec enables monitoring: it authenticates,
  holds every privilege of PVE's own ``PVEAuditor`` role on ``/`` and nothing that is not an
  ``.Audit`` privilege anywhere (``judge_auditor``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from homelab.core.observed import Observed, ObservedVm, StorageSpace
from homelab.core.ownership import tagged_for
from homelab.core.plan.bridges import bridge_problems
from homelab.core.plan.capacity import check_capacity, demands_from_spec
from homelab.core.plan.placement import placement_problems
from homelab.core.plan.sources import find_templates, pick_template
from homelab.core.pve_inventory import Bridge, StorageFacts
from homelab.core.spec.models import LabSpec

__all__ = [
    "CHECKS",
    "AuditorFacts",
    "Finding",
    "LabFacts",
    "Requirement",
    "StorageFacts",
    "diagnose",
    "judge_auditor",
    "pve_major",
    "required_privileges",
]

Severity = Literal["error", "warning"]

#: The checks in the order they run (and are reported).
CHECKS = (
    "endpoint",
    "token",
    "privileges",
    "templates",
    "storage",
    "network",
    "vmids",
    "capacity",
    "auditor",
)

# A privilege PVE also accepts in place of the documented one (qemu-server 9: the agent calls).
_ALTERNATIVES = {"VM.GuestAgent.Audit": ("VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted")}


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
class LabFacts:
    """What the engine observed. ``permissions``: path -> the privileges the token holds there;
    ``observed``: the guests (the templates' configs read) and the nodes' capacities;
    ``guest_vmids``: every guest's VMID, containers included. A path, or a field left None,
    could not be read (a finding of its own): the checks that need it are not judged."""

    version: str
    permissions: Mapping[str, frozenset[str]]
    storages: Mapping[str, StorageFacts] | None
    observed: Observed | None
    guest_vmids: frozenset[int] = frozenset()
    #: each host node's bridges (as the token may see them), when read
    bridges: Mapping[str, tuple[Bridge, ...]] | None = None


@dataclass(frozen=True)
class AuditorFacts:
    """What was read of the exporter's token. ``token_id`` None: the state store holds none;
    ``authenticated`` None: not tried; ``role``: PVEAuditor's privileges as PVE lists them;
    ``held``: path -> what the token holds there (every path it holds anything on)."""

    token_id: str | None
    monitoring: bool
    authenticated: bool | None = None
    role: frozenset[str] | None = None
    held: Mapping[str, frozenset[str]] | None = None


_TOKEN_FIX = "run: homelab monitoring token SPEC (with HOMELAB_PVE_ADMIN_TOKEN set)"  # noqa: S105


def judge_auditor(facts: AuditorFacts) -> list[Finding]:
    """The auditor check's findings (none when it holds exactly PVEAuditor on ``/``)."""
    if facts.token_id is None:
        if not facts.monitoring:
            return []
        problem = "no read-only Proxmox VE token for prometheus-pve-exporter has been made"
        return [Finding("auditor", "warning", problem, _TOKEN_FIX)]
    if facts.authenticated is False:
        problem = f"Proxmox VE refuses the exporter's token {facts.token_id}"
        return [Finding("auditor", "error", problem, _TOKEN_FIX + " (it makes a new one)")]
    found: list[Finding] = []
    held = facts.held or {}
    if facts.role is not None and facts.held is not None:
        missing = sorted(facts.role - held.get("/", frozenset()))
        if missing:
            problem = (
                f"the exporter's token {facts.token_id} lacks {', '.join(missing)} on / "
                "(PVEAuditor's privileges)"
            )
            found.append(Finding("auditor", "error", problem, _TOKEN_FIX))
    writes = sorted(
        f"{priv} on {path}"
        for path, privs in held.items()
        for priv in privs
        if not priv.endswith(".Audit")
    )
    if writes:
        problem = (
            f"the exporter's token {facts.token_id} may change things: it holds {', '.join(writes)}"
        )
        fix = "take those grants away: " + _TOKEN_FIX + " (it leaves only PVEAuditor on /)"
        found.append(Finding("auditor", "error", problem, fix))
    return found


def pve_major(version: str) -> int:
    """8 from ``8.2.4``; 8 when the version cannot be read."""
    match = re.match(r"(\d+)", version)
    return int(match.group(1)) if match else 8


def required_privileges(
    spec: LabSpec, lab_role: Iterable[str], seed_role: Iterable[str], templates: Iterable[int] = ()
) -> list[Requirement]:
    """Each privilege of the lab role and the seed role on the path PVE checks it on."""
    px = spec.proxmox
    disk, iso = f"/storage/{px.storage}", f"/storage/{px.iso_storage}"
    used = [spec.networks[vm.network] for vm in spec.vms.values()]
    sdn = sorted({f"/sdn/zones/localnetwork/{net.bridge}/{net.vlan}" for net in used})
    clones = [f"/vms/{vmid}" for vmid in sorted(set(templates))] or ["/vms"]
    hosts = [f"/nodes/{node}" for node in sorted({spec.node_of(vm) for vm in spec.vms})]
    needs: dict[tuple[str, str], Requirement] = {}
    for priv in sorted(set(lab_role)):
        if priv == "VM.Clone":
            paths, why = clones, "clone the template"
        elif priv.startswith("VM."):
            paths, why = ["/vms"], "create, configure and run the lab's VMs"
        elif priv.startswith("Datastore."):
            paths, why = [disk], "allocate the VMs' disks"
        elif priv == "SDN.Use":
            paths, why = sdn, "attach the VMs to their bridge and VLAN"
        elif priv.startswith("Sys."):
            paths, why = hosts, "read the nodes' CPUs and memory"
        else:
            paths, why = ["/"], "manage the lab"
        for path in paths:
            needs[(path, priv)] = Requirement(path, _ALTERNATIVES.get(priv, (priv,)), why)
    for priv in sorted(set(seed_role)):
        why = "upload, list and delete the seed ISOs"
        needs[(iso, priv)] = Requirement(iso, _ALTERNATIVES.get(priv, (priv,)), why)
    if spec.backup is not None:
        for path, priv, why in _backup_needs(spec.backup.storage.storage_id):
            needs[(path, priv)] = Requirement(path, (priv,), why)
        if spec.backup.storage.pbs is not None:
            why = "add the PBS storage"
            needs[("/storage", "Datastore.Allocate")] = Requirement(
                "/storage", ("Datastore.Allocate",), why
            )
    if any(vm.hotplug for vm in spec.vms.values()):  # the HomelabHotplug role
        why = "set CPU and memory hotplug (the hotplug option) on the VMs that have it"
        needs[("/vms", "VM.Config.HWType")] = Requirement("/vms", ("VM.Config.HWType",), why)
    return list(needs.values())


def _backup_needs(storage: str) -> list[tuple[str, str, str]]:
    """What backups need, where PVE checks it (pve-manager API2/Backup.pm, API2/VZDump.pm,
    pve-storage Content.pm): jobs are read and written on ``/`` only."""
    target = f"/storage/{storage}"
    return [
        ("/", "Sys.Audit", "read the backup jobs"),
        ("/", "Sys.Modify", "create, change and delete the lab's backup jobs"),
        ("/vms", "VM.Backup", "back the lab's VMs up"),
        (target, "Datastore.AllocateSpace", "write backups to the backup storage"),
        (target, "Datastore.Audit", "list the backups"),
    ]


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


def _split_fix(message: str) -> tuple[str, str]:
    """A placement message is "problem; fix: ..." (or "problem; remove it ...")."""
    problem, sep, fix = message.partition("; fix: ")
    if sep:
        return problem, fix
    problem, sep, fix = message.rpartition("; ")
    return (problem, fix) if sep else (message, "see the problem")


def _agent_findings(templates: Iterable[ObservedVm]) -> list[Finding]:
    return [
        Finding(
            "templates",
            "error",
            f"template {t.vmid} on node {t.node} has no guest agent enabled (agent: 1): "
            "homelab reads each VM's address through the agent",
            f"qm set {t.vmid} --agent enabled=1 (and install qemu-guest-agent in the image)",
        )
        for t in templates
        if t.config is not None and not t.config.agent
    ]


def _with_shared_flags(observed: Observed, storages: Mapping[str, StorageFacts]) -> Observed:
    """``observed`` whose nodes also know, from ``GET /storage``, whether each storage the
    token may use there is shared: ``/cluster/resources`` lists a storage only to a token with
    ``Datastore.Audit``, which the documented role does not hold. For placement only (the size
    of a storage added here is unknown: 0)."""
    nodes = {}
    for name, node in observed.capacities.items():
        extra = {
            sid: StorageSpace(0, None, st.shared)
            for sid, st in storages.items()
            if st.on_node(name) and sid not in node.storages
        }
        nodes[name] = replace(node, storages={**extra, **node.storages})
    return observed.model_copy(update={"capacities": nodes})


def _template_findings(
    spec: LabSpec, observed: Observed, storages: Mapping[str, StorageFacts] | None
) -> list[Finding]:
    label = str(spec.proxmox.template)
    templates = find_templates(label, observed.vms)
    if not templates:
        return [
            Finding(
                "templates",
                "error",
                f"template {label} not found: no VM template with that name or VMID is visible",
                "create it (an Ubuntu 24.04 cloud image VM with agent: 1, converted with qm "
                "template), or fix proxmox.template; the token needs VM.Audit to see it",
            )
        ]
    view = observed if storages is None else _with_shared_flags(observed, storages)
    found = [
        Finding("templates", "error", *_split_fix(message))
        for message in placement_problems(spec, view)
    ]
    hosts = sorted({spec.node_of(vm) for vm in spec.vms})
    chosen = {t.vmid: t for node in hosts if (t := pick_template(templates, node)) is not None}
    return found + _agent_findings(chosen[vmid] for vmid in sorted(chosen))


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


def _network_findings(spec: LabSpec, bridges: Mapping[str, tuple[Bridge, ...]]) -> list[Finding]:
    every = [(name, spec.node_of(name)) for name in spec.vms]
    return [
        Finding("network", "error", p.problem, p.fix) for p in bridge_problems(spec, every, bridges)
    ]


def _vmid_findings(spec: LabSpec, observed: Observed, guest_vmids: frozenset[int]) -> list[Finding]:
    vmids = spec.proxmox.vmids
    qemu = {vm.vmid: vm for vm in observed.vms}
    foreign = []
    for vmid in sorted(guest_vmids | set(qemu)):
        vm = qemu.get(vmid)
        if vmid not in vmids or (
            vm is not None and not vm.template and tagged_for(spec.name, vm.tags)
        ):
            continue
        if vm is None:
            foreign.append(f"{vmid} (a container)")
        else:
            kind = "template" if vm.template else "VM"
            foreign.append(f"{vmid} ({kind}{' ' + vm.name if vm.name else ''} on {vm.node})")
    if not foreign:
        return []
    return [
        Finding(
            "vmids",
            "error",
            f"vmid_range {spec.proxmox.vmid_range} holds guests that are not this lab's: "
            + ", ".join(foreign),
            "choose a vmid_range no other guest uses, or move those guests out of it",
        )
    ]


def _capacity_findings(spec: LabSpec, observed: Observed) -> list[Finding]:
    lab = {
        vm.name
        for vm in observed.vms
        if vm.name and not vm.template and tagged_for(spec.name, vm.tags)
    }
    return [
        Finding(
            "capacity",
            issue.severity,
            issue.message,
            "lower the VM's size in the spec or place it on a larger node (vms.NAME.node)",
        )
        for issue in check_capacity(demands_from_spec(spec, lab), observed.capacities)
    ]


def diagnose(
    spec: LabSpec, facts: LabFacts, lab_role: Iterable[str], seed_role: Iterable[str]
) -> list[Finding]:
    """Every finding about ``spec`` on the observed Proxmox VE (errors and warnings); the
    roles are the documented ones for its PVE version."""
    observed = facts.observed
    label = str(spec.proxmox.template)
    templates = [t.vmid for t in find_templates(label, observed.vms)] if observed else []
    reqs = required_privileges(spec, lab_role, seed_role, templates)
    found = _privilege_findings(reqs, facts.permissions)
    if observed is not None:
        found += _template_findings(spec, observed, facts.storages)
    if facts.storages is not None:
        found += _storage_findings(spec, facts.storages)
    if facts.bridges is not None:
        found += _network_findings(spec, facts.bridges)
    if observed is not None:
        found += _vmid_findings(spec, observed, facts.guest_vmids)
        found += _capacity_findings(spec, observed)
    return found
