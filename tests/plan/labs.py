"""Test helpers: small lab specs, seed digests, and a tiny pure model of what apply does."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any

from homelab.core.desired import (
    SEED_DRIVE,
    DesiredVm,
    desired_vms,
    is_managed_tag,
    is_seed_volume_of,
)
from homelab.core.observed import Disk, NetDevice, Observed, ObservedVm, VmConfig, volume_filename
from homelab.core.plan.actions import CreateVm, DestroyVm, NoOp, Plan, ReplaceVm
from homelab.core.spec.models import LabSpec

BASE: dict[str, Any] = {
    "name": "home-lab",
    "proxmox": {
        "endpoint": "https://10.0.10.2:8006",
        "token_id": "homelab@pve!apply",
        "nodes": ["pve"],
        "template": "ubuntu-2404-cloudinit",
        "vmid_range": "200-299",
    },
    "networks": {
        "apps": {"vlan": 20, "cidr": "10.0.20.0/24", "gateway": "10.0.20.1", "bridge": "vmbr0"}
    },
    "kubernetes": {"version": "1.29.15"},
    "vms": {
        "k8s-master-1": {"role": "control-plane", "network": "apps", "ip": "10.0.20.10"},
        "k8s-worker-2": {"role": "worker", "network": "apps", "ip": "10.0.20.21"},
        "k8s-worker-3": {"role": "worker", "network": "apps", "ip": "10.0.20.22"},
    },
}


def spec_data() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def make_spec(data: Mapping[str, Any] | None = None) -> LabSpec:
    return LabSpec.model_validate(data if data is not None else BASE)


def seeds_for(spec: LabSpec, salt: str = "") -> dict[str, str]:
    return {name: hashlib.sha256(f"{name}{salt}".encode()).hexdigest() for name in spec.vms}


def template_vm(
    vmid: int = 9000, node: str = "pve", name: str = "ubuntu-2404-cloudinit"
) -> ObservedVm:
    return ObservedVm(
        vmid=vmid, name=name, node=node, status="stopped", template=True, lock=None, tags=(),
        maxmem_mib=2048, cores=2, disk_gib=3,
    )  # fmt: skip


def empty_observed(nodes: tuple[str, ...] = ("pve",)) -> Observed:
    """A cluster with nothing but the cloud-init template(s) the base lab names, on each node."""
    names = ("ubuntu-2404-cloudinit", "ubuntu-2604-cloudinit", "ubuntu-2404", "ubuntu-2204")
    templates = tuple(
        template_vm(9000 + 100 * n + i, node, name)
        for n, name in enumerate(names)
        for i, node in enumerate(nodes)
    )
    return Observed(vms=templates, seed_volumes={node: () for node in nodes}, nodes=nodes)


def realize(want: DesiredVm, vmid: int, node: str, user_tags: tuple[str, ...] = ()) -> ObservedVm:
    """The VM exactly as apply leaves it (running, configured, seed attached)."""
    tags = tuple(sorted(set(user_tags) | set(want.tags)))
    config = VmConfig(
        name=want.name,
        cores=want.cores,
        sockets=1,
        memory_mib=want.memory_mib,
        net0=NetDevice(
            model="virtio",
            mac="BC:24:11:00:00:01",
            bridge=want.bridge,
            tag=want.vlan,
            firewall=True,
        ),
        boot_disk=Disk(
            key="scsi0", volid=f"{want.storage}:vm-{vmid}-disk-0", size_gib=want.disk_gib
        ),
        cdroms=((SEED_DRIVE, want.seed_volid),),
        agent=True,
        description=want.description,
        record=want.record,
        tags=tags,
        onboot=True,
        digest=hashlib.sha1(f"{vmid}{want.digest}".encode()).hexdigest(),
    )
    return ObservedVm(
        vmid=vmid,
        name=want.name,
        node=node,
        status="running",
        template=False,
        lock=None,
        tags=tags,
        maxmem_mib=want.memory_mib,
        cores=want.cores,
        disk_gib=want.disk_gib,
        config=config,
    )


def apply_plan(plan: Plan, observed: Observed, first_vmid: int = 200) -> Observed:
    """What a successful apply of ``plan`` leaves behind (a pure model of the engine)."""
    assert plan.is_applicable, (plan.errors, plan.needs_configs)
    vms = {vm.vmid: vm for vm in observed.vms}
    seeds = {node: set(volids) for node, volids in observed.seed_volumes.items()}
    for action in plan.actions:
        if isinstance(action, DestroyVm | ReplaceVm):
            del vms[action.vmid]
        if isinstance(action, NoOp | DestroyVm):
            continue
        want = action.desired
        if isinstance(action, CreateVm):
            vmid = want.vmid or next(i for i in range(first_vmid, 10**6) if i not in vms)
            user: tuple[str, ...] = ()
        else:
            vmid, user = action.vmid, observed_tags(observed, action.vmid)
        vms[vmid] = realize(
            want, vmid, action.node, tuple(t for t in user if not is_managed_tag(t))
        )
        node_seeds = seeds.setdefault(action.node, set())
        stale = {
            v for v in node_seeds if is_seed_volume_of(want.lab, want.name, volume_filename(v))
        }
        node_seeds.difference_update(stale)
        node_seeds.add(want.seed_volid)
    return Observed(
        vms=tuple(vms[vmid] for vmid in sorted(vms)),
        seed_volumes={node: tuple(sorted(v)) for node, v in seeds.items()},
        nodes=observed.nodes,
    )


def observed_tags(observed: Observed, vmid: int) -> tuple[str, ...]:
    return next(vm.tags for vm in observed.vms if vm.vmid == vmid)


def without_configs(observed: Observed) -> Observed:
    """The observation as /cluster/resources and the ISO lists give it (no config read)."""
    vms = tuple(vm.model_copy(update={"config": None}) for vm in observed.vms)
    return observed.model_copy(update={"vms": vms})


def replace_vm(observed: Observed, vm: ObservedVm) -> Observed:
    vms = tuple(vm if old.vmid == vm.vmid else old for old in observed.vms)
    return observed.model_copy(update={"vms": vms})


def add_vm(observed: Observed, vm: ObservedVm) -> Observed:
    return observed.model_copy(update={"vms": (*observed.vms, vm)})


def find(observed: Observed, name: str) -> ObservedVm:
    return next(vm for vm in observed.vms if vm.name == name)


def stranger(
    spec: LabSpec, name: str, vmid: int, tags: tuple[str, ...] = (), *, config: bool = True
) -> ObservedVm:
    """A VM not made by homelab (no record) under ``name``, as Terraform or a user would make
    it; with its config read unless ``config`` is False."""
    seeds = {vm: "0" * 64 for vm in spec.vms}
    vm = realize(desired_vms(spec, seeds)[name], vmid, "pve")
    assert vm.config is not None
    bare = vm.config.model_copy(update={"record": None, "description": None, "tags": tags})
    return vm.model_copy(update={"tags": tags, "config": bare if config else None})
