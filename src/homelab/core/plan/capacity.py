"""Will the lab's VMs fit on the Proxmox nodes the spec puts them on? Checked at plan time.

Proxmox VE itself only finds out late: a VM with more vCPUs than its node has CPUs is created
and then refused at start ("MAX n vcpus allowed per VM on this node", qemu-server), a VM with
more memory than the node has fails to start or is killed by the OOM killer, and a disk larger
than its storage fails half-way through a resize. ``check_capacity`` tells before anything
changes:

- error: one VM has more cores than its node has CPUs, more memory than its node has, or a disk
  larger than the whole storage it is allocated on;
- warning: the lab's VMs on a node together ask for more memory than the node has (PVE
  overcommits memory, so this can work, but not with every VM busy), or the disks still to be
  allocated on a storage exceed what is free on it (thin storage allows it until it fills up).

A node or storage whose capacity is not known (offline node, storage not reported) is not
judged. Node capacity costs no extra request: ``/cluster/resources`` without the ``type=vm``
filter returns the node entries (``maxcpu``, ``maxmem``) and storage entries (``maxdisk``,
``disk``, ``shared``) beside the guests; ``homelab.core.pve_reply.capacities_from_resources``
reads them onto ``Observed.capacities``. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from homelab.core.desired import DesiredVm
from homelab.core.observed import NodeCapacity, StorageSpace
from homelab.core.plan.actions import Action, CreateVm, DestroyVm
from homelab.core.pve_reply import capacities_from_resources
from homelab.core.spec.models import LabSpec

__all__ = [
    "CapacityIssue",
    "NodeCapacity",
    "StorageSpace",
    "VmDemand",
    "capacities_from_resources",
    "check_capacity",
    "demands_from_plan",
    "demands_from_spec",
]

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class VmDemand:
    """What one VM of the lab asks of its node. ``new``: its disk is still to be allocated."""

    name: str
    node: str
    cores: int
    memory_mib: int
    disk_gib: int
    storage: str
    new: bool = True


@dataclass(frozen=True)
class CapacityIssue:
    """One VM (or a node's whole share of the lab) that does not fit."""

    severity: Literal["error", "warning"]
    node: str
    vm: str | None
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def demands_from_spec(spec: LabSpec, existing: Collection[str] = ()) -> list[VmDemand]:
    """Every VM of the spec on the node it is placed on; names in ``existing`` are not new."""
    return [
        VmDemand(
            name=name,
            node=spec.node_of(name),
            # with CPU hotplug PVE starts max_cores of them (the rest as vcpus to plug)
            cores=max(vm.cores, vm.max_cores or 0) if "cpu" in vm.hotplug else vm.cores,
            memory_mib=vm.memory,
            disk_gib=vm.disk,
            storage=spec.proxmox.storage,
            new=name not in existing,
        )
        for name, vm in spec.vms.items()
    ]


def demands_from_plan(
    actions: Iterable[Action], desired: Mapping[str, DesiredVm]
) -> list[VmDemand]:
    """Every spec VM the plan keeps or makes, on the node its action puts it (an existing VM
    stays where it is); only a VM the plan creates is new (a replaced one frees its disk)."""
    demands = []
    for action in actions:
        want = desired.get(action.vm)
        if want is None or isinstance(action, DestroyVm):
            continue
        demands.append(
            VmDemand(
                name=want.name,
                node=action.node,
                cores=want.topology_cores,
                memory_mib=want.memory_mib,
                disk_gib=want.disk_gib,
                storage=want.storage,
                new=isinstance(action, CreateVm),
            )
        )
    return demands


def _gib(size_bytes: int) -> str:
    value = size_bytes / GIB
    return f"{value:.0f}GiB" if value == int(value) else f"{value:.1f}GiB"


def _single_vm(vm: VmDemand, node: NodeCapacity) -> Iterable[CapacityIssue]:
    if node.cpus is not None and vm.cores > node.cpus:
        yield CapacityIssue(
            "error",
            node.node,
            vm.name,
            f"vm {vm.name}: {vm.cores} cores, but node {node.node} has {node.cpus} CPUs; "
            f"Proxmox VE would refuse to start it (MAX {node.cpus} vcpus allowed per VM on "
            "this node): lower cores or place it on a larger node",
        )
    if node.memory_bytes is not None and vm.memory_mib * MIB > node.memory_bytes:
        yield CapacityIssue(
            "error",
            node.node,
            vm.name,
            f"vm {vm.name}: {_gib(vm.memory_mib * MIB)} of memory, but node {node.node} has "
            f"{_gib(node.memory_bytes)}: lower memory or place it on a larger node",
        )
    space = node.storages.get(vm.storage)
    if space is not None and vm.disk_gib * GIB > space.total_bytes:
        yield CapacityIssue(
            "error",
            node.node,
            vm.name,
            f"vm {vm.name}: a {vm.disk_gib}GiB disk, but storage {vm.storage} on node "
            f"{node.node} holds {_gib(space.total_bytes)} in all",
        )


def _node_memory(node: NodeCapacity, vms: list[VmDemand]) -> Iterable[CapacityIssue]:
    wanted = sum(vm.memory_mib for vm in vms) * MIB
    if node.memory_bytes is not None and len(vms) > 1 and wanted > node.memory_bytes:
        names = ", ".join(vm.name for vm in vms)
        yield CapacityIssue(
            "warning",
            node.node,
            None,
            f"the lab's VMs on node {node.node} ({names}) ask for {_gib(wanted)} of memory, "
            f"more than its {_gib(node.memory_bytes)}: Proxmox VE overcommits, but they cannot "
            "all use their memory at once",
        )


def _storage_space(
    demands: list[VmDemand], nodes: Mapping[str, NodeCapacity]
) -> Iterable[CapacityIssue]:
    """New disks per storage (a shared storage once for the cluster) against its free space."""
    wanted: dict[tuple[str, str], list[VmDemand]] = {}
    spaces: dict[tuple[str, str], StorageSpace] = {}
    for vm in demands:
        node = nodes.get(vm.node)
        space = node.storages.get(vm.storage) if node is not None else None
        if not vm.new or space is None or space.avail_bytes is None:
            continue
        if vm.disk_gib * GIB > space.total_bytes:
            continue  # already an error of its own
        key = ("", vm.storage) if space.shared else (vm.node, vm.storage)
        wanted.setdefault(key, []).append(vm)
        spaces.setdefault(key, space)
    for (node_name, storage), vms in wanted.items():
        avail = spaces[(node_name, storage)].avail_bytes or 0
        total = sum(vm.disk_gib for vm in vms) * GIB
        if total > avail:
            where = f"storage {storage}" + (f" on node {node_name}" if node_name else "")
            yield CapacityIssue(
                "warning",
                node_name or vms[0].node,
                None,
                f"the new disks on {where} ({', '.join(vm.name for vm in vms)}) take "
                f"{_gib(total)}, but only {_gib(avail)} is free: thin storage allows it "
                "until it fills up",
            )


def check_capacity(
    demands: Iterable[VmDemand], nodes: Mapping[str, NodeCapacity]
) -> list[CapacityIssue]:
    """Every VM that cannot fit on its node (errors) and every overcommitment (warnings)."""
    wanted = list(demands)
    issues: list[CapacityIssue] = []
    by_node: dict[str, list[VmDemand]] = {}
    for vm in wanted:
        node = nodes.get(vm.node)
        if node is None:
            continue  # capacity unknown (offline, or not a cluster node): not judged here
        issues.extend(_single_vm(vm, node))
        by_node.setdefault(vm.node, []).append(vm)
    for name, vms in by_node.items():
        issues.extend(_node_memory(nodes[name], vms))
    issues.extend(_storage_space(wanted, nodes))
    return issues
