"""Can each VM be cloned onto the node it is placed on, from a template fit to clone? Pure.

Proxmox VE clones to another node (``target=``) only when nothing of the VM stays behind
(qemu-server ``API2/Qemu.pm::clone_vm``): with ``storage`` (a full clone) that storage must be
shared ("can't clone to non-shared storage '<s>'"), and every volume of the template, its disks,
its CD-ROM ISOs and its cloud-init drive, must be on shared storage ("can't clone VM to node
'<n>' (VM uses local storage)"). ``local`` and ``local-lvm`` are node-local, so people keep one
template per node under the same name; ``sources.pick_template`` takes the copy on the VM's own
node first. ``clone_problems`` says, before anything changes, which VM has no usable template.

A template may also carry Proxmox's own cloud-init drive (``vm-<id>-cloudinit``, ``media=cdrom``).
On ``ide2`` homelab's seed ISO replaces it; on any other bus (``scsi1``, ``ide0``, ``sata0``) the
clone keeps it, and cloud-init's NoCloud then sees two ``cidata`` filesystems and takes the one
whose device name sorts last (``DataSourceNoCloud._get_devices``), possibly Proxmox's.
``cloudinit_drive_problems`` refuses such a template.

``placement_problems`` is both, for every VM of the spec, for ``homelab doctor``; the planner
asks the same questions for the VMs it creates or replaces (``build.plan_lab``). A fact not
observed (a template's config not read, a storage not listed) is not judged.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from homelab.core.desired import SEED_DRIVE
from homelab.core.observed import NodeCapacity, Observed, ObservedVm
from homelab.core.plan.actions import Action, CreateVm, ReplaceVm
from homelab.core.plan.sources import find_templates, pick_template
from homelab.core.spec.models import LabSpec

__all__ = [
    "Placement",
    "clone_problem",
    "clone_problems",
    "cloudinit_drive_problems",
    "is_cloudinit_volume",
    "placement_problems",
    "placements_from_spec",
    "planned_problems",
    "template_volumes",
]

_CLOUDINIT_RE = re.compile(r"(^|[:/])vm-\d+-cloudinit(\.(raw|qcow2|vmdk))?$")
_NO_VOLUME = frozenset({"", "none", "cdrom"})


@dataclass(frozen=True)
class Placement:
    """Where one VM goes and how it is cloned: ``storage`` is sent for full clones only."""

    vm: str
    node: str
    full: bool
    storage: str


def placements_from_spec(spec: LabSpec, names: Collection[str] | None = None) -> list[Placement]:
    """The placement of every spec VM (or of ``names`` only)."""
    full = spec.proxmox.clone == "full"
    return [
        Placement(name, spec.node_of(name), full, spec.proxmox.storage)
        for name in spec.vms
        if names is None or name in names
    ]


def is_cloudinit_volume(volid: str) -> bool:
    """Proxmox's generated cloud-init drive: ``local-lvm:vm-9000-cloudinit`` (or ``.qcow2``)."""
    return bool(_CLOUDINIT_RE.search(volid))


def template_volumes(template: ObservedVm) -> list[tuple[str, str]]:
    """(drive key, volume id) of every volume a clone of ``template`` takes along; empty when
    its config was not read."""
    config = template.config
    if config is None:
        return []
    drives = [*config.disks, *config.cdroms]
    return sorted((key, volid) for key, volid in drives if volid not in _NO_VOLUME)


def _storage_of(volid: str) -> str | None:
    storage, sep, _ = volid.partition(":")
    return storage if sep and storage else None


def _shared(nodes: Mapping[str, NodeCapacity], node: str, storage: str) -> bool | None:
    """Whether ``storage`` is shared, as ``node`` (else any node) reports it; None if unknown."""
    own = nodes.get(node)
    if own is not None and storage in own.storages:
        return own.storages[storage].shared
    for capacity in nodes.values():
        if storage in capacity.storages:
            return capacity.storages[storage].shared
    return None


def _fixes(place: Placement, template: ObservedVm, label: str) -> str:
    return (
        f"fix: give node {place.node} its own copy of the template under the same name "
        f"{label!r} (one template per node), or keep the template's volumes and "
        f"proxmox.storage on shared storage, or place vm {place.vm} on node {template.node}"
    )


def clone_problem(
    place: Placement, templates: list[ObservedVm], nodes: Mapping[str, NodeCapacity], label: str
) -> str | None:
    """Why Proxmox VE would refuse to clone ``place.vm`` onto its node, or None."""
    template = pick_template(templates, place.node)
    if template is None or template.node == place.node:
        return None
    head = (
        f"vm {place.vm}: placed on node {place.node}, which has no copy of template {label}; "
        f"the one on node {template.node} (vmid {template.vmid}) cannot be cloned there, as "
        "Proxmox VE clones to another node only what is on shared storage"
    )
    if place.full and _shared(nodes, place.node, place.storage) is False:
        return (
            f"{head}: proxmox.storage {place.storage} is not shared (Proxmox would answer "
            f"\"can't clone to non-shared storage '{place.storage}'\"); "
            + _fixes(place, template, label)
        )
    local = [
        f"{key} ({volid})"
        for key, volid in template_volumes(template)
        if (storage := _storage_of(volid)) is not None
        and _shared(nodes, template.node, storage) is False
    ]
    if local:
        return (
            f"{head}: the template's {', '.join(local)} "
            f"{'is' if len(local) == 1 else 'are'} on node-local storage (Proxmox would answer "
            f"\"can't clone VM to node '{place.node}' (VM uses local storage)\"); "
            + _fixes(place, template, label)
        )
    return None


def clone_problems(
    places: Iterable[Placement],
    templates: list[ObservedVm],
    nodes: Mapping[str, NodeCapacity],
    label: str,
) -> list[str]:
    """``clone_problem`` of each placement, in order."""
    found = (clone_problem(place, templates, nodes, label) for place in places)
    return [problem for problem in found if problem is not None]


def cloudinit_drive_problems(templates: Iterable[ObservedVm], label: str) -> list[str]:
    """A template (config read) holding Proxmox's cloud-init drive anywhere but ``ide2``."""
    problems = []
    for template in templates:
        for key, volid in template_volumes(template):
            if key == SEED_DRIVE or not is_cloudinit_volume(volid):
                continue
            problems.append(
                f"template {label} (vmid {template.vmid} on node {template.node}) has Proxmox's "
                f"cloud-init drive on {key} ({volid}): every clone keeps it, and cloud-init "
                "(NoCloud) may read Proxmox's seed instead of homelab's; remove it from the "
                f"template (`qm set {template.vmid} --delete {key}`) or move it to {SEED_DRIVE}, "
                "where homelab's seed ISO replaces it"
            )
    return problems


def placement_problems(
    spec: LabSpec, observed: Observed, names: Collection[str] | None = None
) -> list[str]:
    """Every VM of the spec (or of ``names``) that Proxmox VE could not clone onto its node,
    and every template it would be cloned from that carries a conflicting cloud-init drive."""
    label = str(spec.proxmox.template)
    templates = find_templates(label, observed.vms)
    places = placements_from_spec(spec, names)
    chosen = {t.vmid: t for p in places if (t := pick_template(templates, p.node)) is not None}
    return [
        *clone_problems(places, templates, observed.capacities, label),
        *cloudinit_drive_problems(sorted(chosen.values(), key=lambda t: t.vmid), label),
    ]


def _created(actions: Iterable[Action]) -> list[CreateVm | ReplaceVm]:
    return [a for a in actions if isinstance(a, CreateVm | ReplaceVm)]


def _chosen_sources(
    actions: Iterable[Action], templates: list[ObservedVm]
) -> dict[int, ObservedVm]:
    chosen = (pick_template(templates, a.desired.node) for a in _created(actions))
    return {t.vmid: t for t in chosen if t is not None}


def planned_problems(label: str, actions: Iterable[Action], observed: Observed) -> list[str]:
    """The placement problems of the VMs a plan creates or replaces (each on its desired node,
    cloned as the spec says) and of the templates they are cloned from."""
    created = _created(actions)
    templates = find_templates(label, observed.vms)
    places = [
        Placement(a.vm, a.desired.node, a.desired.clone == "full", a.desired.storage)
        for a in created
    ]
    sources = sorted(_chosen_sources(created, templates).values(), key=lambda t: t.vmid)
    return [
        *clone_problems(places, templates, observed.capacities, label),
        *cloudinit_drive_problems(sources, label),
    ]
