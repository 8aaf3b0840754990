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
- cores/sockets/memory/agent/hotplug/numa -> update, restart needed while running, except a
  growth of vcpus or memory PVE hotplugs into the running VM (``hot_growth``: the key reads
  ``vcpus (hotplug)``/``memory (hotplug)``, no restart, so no drain); disk grow, bridge, VLAN,
  tags, onboot, description, power state -> update, no restart.
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


HOT = " (hotplug)"  # marks a Change applied to the running VM: no restart, no drain


def diff_hardware(desired: DesiredVm, vm: ObservedVm, config: VmConfig) -> tuple[Change, ...]:
    """cores, sockets, memory, the guest agent and hotplug: applied on the next restart when
    running, except a growth that PVE hotplugs (see ``hot_growth``).

    A running VM whose /cluster/resources figures differ from its config has a change pending
    (set earlier, never restarted): that still counts as a change needing a restart.
    """
    running = vm.status == RUNNING
    memory, cpus = config.memory_mib, config.vcpus or config.cores * config.sockets
    memory_pending = running and vm.maxmem_mib is not None and vm.maxmem_mib != memory
    cpus_pending = running and vm.cores is not None and vm.cores != cpus
    if memory_pending and vm.maxmem_mib is not None:
        memory = vm.maxmem_mib
    if cpus_pending and vm.cores is not None:
        cpus = vm.cores
    hot_cpu = running and not cpus_pending and hot_growth(config, "cpu")
    hot_memory = running and not memory_pending and hot_growth(config, "memory")
    wanted: list[tuple[str, int | bool | str, int | bool | str, bool]] = []
    if "cpu" in desired.hotplug or config.vcpus is not None:
        wanted.append(("cores", config.cores, desired.topology_cores, running))
        grow = hot_cpu and cpus < desired.cores <= config.cores
        wanted.append(("vcpus" + HOT * grow, cpus, desired.cores, running and not grow))
    else:
        wanted.append(("cores", cpus, desired.cores, running))
    wanted.append(("sockets", config.sockets, 1, running))
    grow = hot_memory and memory < desired.memory_mib
    wanted.append(("memory" + HOT * grow, memory, desired.memory_mib, running and not grow))
    wanted.append(("agent", config.agent, desired.agent, running))
    features = hotplug_features(config.hotplug, desired.hotplug)
    wanted.append(("hotplug", ",".join(config.hotplug), ",".join(features), running))
    if "memory" in desired.hotplug:
        wanted.append(("numa", config.numa, True, running))
    return tuple(Change(key, old, new, restart) for key, old, new, restart in wanted if old != new)


def hot_growth(config: VmConfig, feature: str) -> bool:
    """Whether PVE hotplugs a growth of ``feature`` ("cpu": vcpus, "memory") on the running VM.

    qemu-server's ``vmconfig_hotplug_pending`` hotplugs ``vcpus`` only with ``cpu`` in the
    VM's ``hotplug`` (up to sockets*cores: cores and sockets themselves stay pending) and
    ``memory`` only with ``memory`` (DIMMs, which need NUMA: the VM does not even start with
    memory hotplug and no NUMA). A change of ``hotplug`` naming cpu or memory stays pending
    until the VM restarts. The config as read shows pending values, so a VM whose change of
    ``hotplug`` is still pending (a restart that never came) looks ready here: apply checks
    /status/current after the hotplug and stops with an error then, the value stays pending,
    and the next plan sees it pending (a restart).

    Growth only: an unplug of DIMMs needs the guest to give the memory back and fails when it
    does not ("error unplug memory module"), and a node losing CPUs or memory under its pods
    is what a drain is for, so a shrink is a drained restart (apply holds the key back until
    the VM is stopped).
    """
    if feature not in config.hotplug:
        return False
    return feature == "cpu" or config.numa


def hotplug_features(current: tuple[str, ...], wanted: tuple[str, ...]) -> tuple[str, ...]:
    """The features the VM should have: the spec's cpu/memory, the others as they are."""
    kept = {feature for feature in current if feature not in ("cpu", "memory")}
    return tuple(sorted(kept | set(wanted)))


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
