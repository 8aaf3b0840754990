"""Test helpers: small lab specs, seed digests, observations, and applying a plan to a model of
PVE (``tests/plan/pvelab.py``) that the engine's config writer writes and the parsers read."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any

from homelab.core.desired import desired_vms
from homelab.core.observed import Observed, ObservedVm
from homelab.core.plan.actions import Plan
from homelab.core.render.network import vm_mac
from homelab.core.spec.models import LabSpec
from tests.plan.pvelab import PveLab

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
    """A cluster with nothing but the cloud-init template(s) the base lab names, on each node,
    as the parsers read PVE's replies."""
    return PveLab.with_templates(nodes).observe()


def applied(plan: Plan, nodes: tuple[str, ...] = ("pve",)) -> tuple[PveLab, Observed]:
    """A cluster of templates on ``nodes`` after a successful apply of ``plan``, and what
    observing it then reads (see pvelab: the engine's writer, PVE's strings, the parsers)."""
    lab = PveLab.with_templates(nodes)
    lab.apply(plan)
    return lab, lab.observe()


def apply_plan(plan: Plan, observed: Observed) -> Observed:
    """What observing reads after a successful apply of ``plan`` on ``observed``, which must be
    a cluster of templates only (``empty_observed``); to apply again, use ``PveLab`` itself."""
    assert observed == empty_observed(observed.nodes), "apply_plan starts from empty_observed()"
    return applied(plan, observed.nodes)[1]


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
    it, written and read back like any other (see pvelab); with its config unless ``config``
    is False."""
    want = desired_vms(spec, seeds_for(spec))[name]
    lab = PveLab.with_templates(tuple(spec.proxmox.nodes))
    template = next(v for v, raw in lab.vms.items() if raw.config.get("name") == want.template)
    lab.clone(template, vmid, want.node, want)
    lab.configure(vmid, want, mac=vm_mac(want.lab, want.name))
    vm = next(v for v in lab.observe().vms if v.vmid == vmid)
    assert vm.config is not None
    bare = vm.config.model_copy(update={"record": None, "description": None, "tags": tags})
    return vm.model_copy(update={"tags": tags, "config": bare if config else None})
