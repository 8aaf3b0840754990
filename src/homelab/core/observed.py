"""What exists on Proxmox, as typed values: the guests, their configs and the seed ISO volumes.

Observation is cheap by design (ARCHITECTURE decision 5): one ``GET /cluster/resources`` (its
guest, node and storage entries) plus one ``GET /nodes/{node}/storage/{iso_storage}/content``
(``content=iso``) per Proxmox node. A VM's config (``GET /nodes/{node}/qemu/{vmid}/config``)
is read only when the plan cannot decide without it (a clone's template included), then merged
in with ``Observed.with_configs``. The replies are read into these values by
``homelab.core.pve_reply``; sizes are whole GiB rounded *up*, so a disk that is bigger than the
spec never looks equal to it. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from homelab.core.backup.jobs import ObservedJob
from homelab.core.desired import DescriptionRecord, seed_owner_of
from homelab.core.storage_facts import StorageFacts


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NetDevice(_Frozen):
    """``net0``: the NIC model, its MAC, bridge and VLAN tag."""

    model: str
    mac: str | None
    bridge: str | None
    tag: int | None
    firewall: bool


class Disk(_Frozen):
    """The boot disk: its config key (``scsi0``), volume id and size in whole GiB (rounded up)."""

    key: str
    volid: str
    size_gib: int | None


class VmConfig(_Frozen):
    """The managed part of ``GET /nodes/{node}/qemu/{vmid}/config``, normalised."""

    name: str | None
    cores: int
    sockets: int
    memory_mib: int
    net0: NetDevice | None
    boot_disk: Disk | None
    cdroms: tuple[tuple[str, str], ...]
    agent: bool
    description: str | None
    record: DescriptionRecord | None
    tags: tuple[str, ...]
    onboot: bool
    digest: str
    template: bool = False
    disks: tuple[tuple[str, str], ...] = ()  # every other drive: (key, volume id)
    #: ``hotplug`` as features (PVE's default network,disk,usb when unset), ``numa``, ``vcpus``
    hotplug: tuple[str, ...] = ("disk", "network", "usb")
    numa: bool = False
    vcpus: int | None = None

    def cdrom(self, key: str) -> str | None:
        """The volume id in CD-ROM drive ``key`` (``ide2``), or None."""
        return dict(self.cdroms).get(key)


@dataclass(frozen=True)
class StorageSpace:
    """A storage as one node sees it: its size, what is free when known (bytes), and whether
    it is shared (one namespace for the cluster) or node-local."""

    total_bytes: int
    avail_bytes: int | None = None
    shared: bool = False


@dataclass(frozen=True)
class NodeCapacity:
    """What one Proxmox node offers: logical CPUs, memory (bytes), its storages by id.

    ``cpus`` and ``memory_bytes`` are None when PVE did not show them (it lists a node's stats
    only to a token with ``Sys.Audit`` on it)."""

    node: str
    cpus: int | None
    memory_bytes: int | None
    storages: Mapping[str, StorageSpace] = field(default_factory=dict)


class ObservedVm(_Frozen):
    """One QEMU guest as ``/cluster/resources`` lists it, plus its config once read."""

    vmid: int
    name: str | None
    node: str
    status: str
    template: bool
    lock: str | None
    tags: tuple[str, ...]
    maxmem_mib: int | None
    cores: int | None
    disk_gib: int | None
    config: VmConfig | None = None


class Observed(_Frozen):
    """Everything observed: the guests, the ISO volumes per node, the node names, and what each
    online node offers (CPUs, memory, storages with their ``shared`` flag) when known."""

    vms: tuple[ObservedVm, ...]
    seed_volumes: dict[str, tuple[str, ...]]
    nodes: tuple[str, ...]
    capacities: dict[str, NodeCapacity] = {}
    #: the ``/cluster/backup`` jobs, when they were read (the lab has or had backup jobs)
    backup_jobs: tuple[ObservedJob, ...] | None = None
    #: ``GET /storage`` by id, when read (the lab has a ``backup:`` section)
    storages: dict[str, StorageFacts] | None = None

    def with_configs(self, configs: Mapping[int, VmConfig]) -> Observed:
        """A copy with the given configs (by vmid) attached to their VMs."""
        vms = tuple(
            vm.model_copy(update={"config": configs[vm.vmid]}) if vm.vmid in configs else vm
            for vm in self.vms
        )
        return self.model_copy(update={"vms": vms})

    def seed_index(self) -> SeedIndex:
        return SeedIndex(self.seed_volumes)


class SeedIndex:
    """The ISO volumes per node, indexed for the planner (built once per plan, O(1) lookups)."""

    def __init__(self, seed_volumes: Mapping[str, tuple[str, ...]]) -> None:
        self._sets = {node: frozenset(volids) for node, volids in seed_volumes.items()}
        self._by_owner: dict[str, dict[str, tuple[str, ...]]] = {}
        for node, volids in seed_volumes.items():
            per_owner = self._by_owner.setdefault(node, {})
            for volid in volids:
                owner = seed_owner_of(volume_filename(volid))
                if owner is not None:
                    per_owner[owner] = (*per_owner.get(owner, ()), volid)

    def has(self, node: str, volid: str) -> bool:
        return volid in self._sets.get(node, frozenset())

    def of(self, node: str, owner: str) -> tuple[str, ...]:
        """The seed ISO volume ids on ``node`` named for ``owner`` (one VM's, any digest)."""
        return self._by_owner.get(node, {}).get(owner, ())


def volume_filename(volid: str) -> str:
    """``local:iso/homelab-x.iso`` -> ``homelab-x.iso``."""
    return volid.partition(":")[2].rpartition("/")[2]
