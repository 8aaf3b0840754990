"""Compare one desired VM with the VM observed under its name: managed keys only, normalised.

Two levels. ``quick_mismatches`` uses only the ``/cluster/resources`` entry and the ISO list of
the VM's node: when tags, power state, cores, memory, disk and the seed ISO name (whose digest
covers every managed setting) all match, the VM is unchanged and its config is never read.
A superseded seed ISO of the VM still on the node also forces a config read (apply deletes
them, so an ISO name always means "this VM was last configured with these settings").
Otherwise ``diff_config`` compares the config key by key. Keys the spec does not manage (MAC,
firewall, CPU type, user tags, anything else) are never compared, so a no-op stays a no-op.

Decisions, in order:
- pinned node or VMID, role, template or seed differs -> replace. cloud-init runs
  once per instance: a changed user-data on a provisioned kubeadm node does nothing until the
  node is re-provisioned, so "reseed" of a changed seed honestly means re-creating the VM.
- boot disk smaller than the spec -> error (disks only grow; never replaced silently).
- cores/sockets/memory/agent -> update, restart needed while running (no hotplug assumed);
  disk grow, bridge, VLAN, tags, onboot, description, power state -> update, no restart.
- only the seed ISO name differs (settings changed, same seed) -> update with ``reseed``: the
  same seed files are attached under the new name; the guest sees the same instance.
- the seed's secret-free twin (``-clean``, see ``homelab.core.desired``) counts as the seed in
  place: in the CD-ROM and on the node, it is no change; an old seed's twin is superseded.
- an adopted VM (its record says so) is never reseeded and never replaced for its seed: its
  first boot was not homelab's, and a new instance-id would run cloud-init again over it.
"""

from __future__ import annotations

from dataclasses import dataclass

from homelab.core.desired import (
    ROLE_TAG_PREFIX,
    SEED_DRIVE,
    DesiredVm,
    description_text,
    is_managed_tag,
    managed_subset,
    role_tag,
    seed_owner,
    user_notes,
)
from homelab.core.observed import ObservedVm, SeedIndex, VmConfig
from homelab.core.plan.actions import Change

RUNNING = "running"


@dataclass(frozen=True)
class VmDiff:
    """The outcome for one VM: a replace reason, an error, or changes (maybe none)."""

    changes: tuple[Change, ...] = ()
    reseed: bool = False
    replace_reason: str | None = None
    error: str | None = None

    @property
    def unchanged(self) -> bool:
        return not (self.changes or self.reseed or self.replace_reason or self.error)


def quick_mismatches(desired: DesiredVm, vm: ObservedVm, seeds: SeedIndex) -> tuple[str, ...]:
    """What differs judging by /cluster/resources and the ISO list alone (empty: unchanged)."""
    checks = {
        "tags": managed_subset(vm.tags) == desired.tags,
        "status": vm.status == RUNNING,
        "cores": vm.cores == desired.cores,
        "memory": vm.maxmem_mib == desired.memory_mib,
        "disk": vm.disk_gib == desired.disk_gib,
        "seed ISO": seed_present(desired, seeds, vm.node),
        "old seed ISOs": not superseded_seeds(desired, seeds, vm.node),
        "node": vm.node == desired.node,
        "vmid": desired.vmid is None or desired.vmid == vm.vmid,
    }
    return tuple(name for name, ok in checks.items() if not ok)


def seed_present(desired: DesiredVm, seeds: SeedIndex, node: str) -> bool:
    """Whether the VM's current seed ISO, or its secret-free twin, is on its node."""
    return seeds.has(node, desired.seed_volid) or seeds.has(node, desired.clean_volid)


def superseded_seeds(desired: DesiredVm, seeds: SeedIndex, node: str) -> tuple[str, ...]:
    """Seed ISOs of this VM on its node other than the desired one and its secret-free twin
    (apply deletes them): an old seed, or an old seed's twin."""
    owner = seed_owner(desired.lab, desired.name)
    return tuple(v for v in seeds.of(node, owner) if not desired.seed_in_place(v))


def seed_attached(desired: DesiredVm, config: VmConfig, seeds: SeedIndex, node: str) -> bool:
    """Whether the CD-ROM holds the current seed or its twin, and that ISO exists."""
    volid = config.cdrom(SEED_DRIVE)
    return volid is not None and desired.seed_in_place(volid) and seeds.has(node, volid)


def diff_config(desired: DesiredVm, vm: ObservedVm, config: VmConfig, seeds: SeedIndex) -> VmDiff:
    """Compare the managed keys of a VM's config with the desired VM."""
    replace = replace_reason(desired, vm, config)
    if replace is not None:
        return VmDiff(replace_reason=replace)
    disk_changes, disk_error = diff_disk(desired, config)
    if disk_error is not None:
        return VmDiff(error=disk_error)
    running = vm.status == RUNNING
    changes = (
        *diff_hardware(desired, vm, config),
        *disk_changes,
        *diff_options(desired, config),
    )
    if not running:
        changes = (*changes, Change("state", vm.status, RUNNING))
    reseed = not desired.adopted and (
        not seed_attached(desired, config, seeds, vm.node)
        or bool(superseded_seeds(desired, seeds, vm.node))
    )
    return VmDiff(changes=changes, reseed=reseed)


def replace_reason(desired: DesiredVm, vm: ObservedVm, config: VmConfig) -> str | None:
    """Why the VM must be re-created, or None."""
    if desired.node_pinned and vm.node != desired.node:
        return f"node changed: {vm.node} -> {desired.node}"
    if desired.vmid is not None and vm.vmid != desired.vmid:
        return f"vmid changed: {vm.vmid} -> {desired.vmid}"
    roles = [tag for tag in managed_subset(config.tags) if tag.startswith(ROLE_TAG_PREFIX)]
    if roles and roles != [role_tag(desired.role)]:
        old = ", ".join(role[len(ROLE_TAG_PREFIX) :] for role in roles)
        return f"role changed: {old} -> {desired.role}"
    record = config.record
    if record is None or record.lab != desired.lab:
        return None
    if record.template != desired.template:
        return f"template changed: {record.template} -> {desired.template}"
    if record.seed != desired.seed_digest and not desired.adopted:
        return "seed changed: cloud-init configuration differs (it only runs on a new instance)"
    return None


def diff_disk(desired: DesiredVm, config: VmConfig) -> tuple[tuple[Change, ...], str | None]:
    """A grow of the boot disk, or an error (no boot disk, or a shrink)."""
    disk = config.boot_disk
    if disk is None or disk.size_gib is None:
        return (), f"vm {desired.name}: no boot disk with a size found in its config"
    if disk.size_gib > desired.disk_gib:
        return (), (
            f"vm {desired.name}: disk {disk.key} is {disk.size_gib}GiB but the spec says "
            f"{desired.disk_gib}GiB; disks can only grow (set disk: {disk.size_gib}GiB or larger)"
        )
    if disk.size_gib < desired.disk_gib:
        return (Change(f"disk {disk.key}", f"{disk.size_gib}GiB", f"{desired.disk_gib}GiB"),), None
    return (), None


def diff_hardware(desired: DesiredVm, vm: ObservedVm, config: VmConfig) -> tuple[Change, ...]:
    """cores, sockets, memory and the guest agent: applied on the next restart when running.

    A running VM whose /cluster/resources figures differ from its config has a change pending
    (set earlier, never restarted): that still counts as a change needing a restart.
    """
    running = vm.status == RUNNING
    memory, cores = config.memory_mib, config.cores
    if running and vm.maxmem_mib is not None and vm.maxmem_mib != memory:
        memory = vm.maxmem_mib
    if running and vm.cores is not None and vm.cores != cores * config.sockets:
        cores = vm.cores
    wanted: list[tuple[str, int | bool, int | bool]] = [
        ("cores", cores, desired.cores),
        ("sockets", config.sockets, 1),
        ("memory", memory, desired.memory_mib),
        ("agent", config.agent, desired.agent),
    ]
    return tuple(Change(key, old, new, running) for key, old, new in wanted if old != new)


def diff_options(desired: DesiredVm, config: VmConfig) -> tuple[Change, ...]:
    """Network, tags, onboot and the description record: applied at once, no restart."""
    changes: list[Change] = []
    net = config.net0
    if (net.bridge if net else None) != desired.bridge:
        changes.append(Change("net0 bridge", net.bridge if net else None, desired.bridge))
    if (net.tag if net else None) != desired.vlan:
        changes.append(Change("net0 tag", net.tag if net else None, desired.vlan))
    if managed_subset(config.tags) != desired.tags:
        changes.append(
            Change("tags", ";".join(config.tags), ";".join(merged_tags(desired, config)))
        )
    if config.onboot != desired.onboot:
        changes.append(Change("onboot", config.onboot, desired.onboot))
    if config.record != desired.record:
        text = description_text(desired.record, user_notes(config.description))
        changes.append(Change("description", config.description, text))
    return tuple(changes)


def merged_tags(desired: DesiredVm, config: VmConfig) -> tuple[str, ...]:
    """The user's own tags kept, homelab's set to the desired ones."""
    user = {tag for tag in config.tags if not is_managed_tag(tag)}
    return tuple(sorted(user | set(desired.tags), key=lambda tag: (tag.lower(), tag)))
