"""Observing a lab on Proxmox: what exists, at the cost ARCHITECTURE decision 5 allows.

``observe_lab`` sends one ``GET /cluster/resources?type=vm`` and one ISO listing of
``proxmox.iso_storage`` per Proxmox node that matters (the spec's nodes and any node holding a
VM of this lab), so a no-op plan of any size costs 1 + (Proxmox nodes) requests. ``refine``
reads the configs of only the VMs a plan could not decide without them (``plan.needs_configs``).
The parsing is the pure core's (``homelab.core.observed``); this module only does the I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from homelab.core import observed as parse
from homelab.core.observed import Observed, VmConfig
from homelab.core.ownership import lab_vms
from homelab.core.plan.actions import Plan
from homelab.core.plan.build import config_targets
from homelab.core.spec.models import LabSpec
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import NotFoundError, RefusedError
from homelab.engine.proxmox.wire import path_segment

__all__ = ["observe_lab", "observe_settled", "read_configs", "refine"]

#: pvestatd broadcasts every 10 s; a VM created since is listed without a name (BEHAVIOUR §11).
SETTLE_WAIT = 5.0
SETTLE_TRIES = 4


def observe_lab(client: PveClient, spec: LabSpec) -> Observed:
    """Every guest of the cluster and the ISO volumes of the lab's nodes."""
    resources = client.get("/cluster/resources", type="vm") or []
    ours = [vm.node for vm in lab_vms(spec.name, parse.parse_resources(resources))]
    nodes = list(dict.fromkeys([*spec.proxmox.nodes, *ours]))
    contents = {node: iso_content(client, node, spec.proxmox.iso_storage) for node in nodes}
    return parse.build_observed(resources, contents)


def observe_settled(client: PveClient, spec: LabSpec, sleep: Callable[[float], None]) -> Observed:
    """``observe_lab``, observed again (a few seconds apart) while some guest is listed without
    a name: it was just created, and planning without knowing it could make a duplicate."""
    observed = observe_lab(client, spec)
    for _ in range(SETTLE_TRIES):
        if not any(vm.name is None and not vm.template for vm in observed.vms):
            break
        sleep(SETTLE_WAIT)
        observed = observe_lab(client, spec)
    return observed


def iso_content(client: PveClient, node: str, storage: str) -> Any:
    """The ISO listing of ``storage`` on ``node`` (empty if the node or storage is absent)."""
    path = f"/nodes/{path_segment(node)}/storage/{path_segment(storage)}/content"
    try:
        return client.get(path, content="iso") or []
    except (NotFoundError, RefusedError):
        return []


def read_configs(client: PveClient, targets: Iterable[tuple[str, int]]) -> dict[int, VmConfig]:
    """The parsed config of each (node, vmid) given (one request each); gone VMs are skipped."""
    configs: dict[int, VmConfig] = {}
    for node, vmid in targets:
        try:
            payload = client.get(f"/nodes/{path_segment(node)}/qemu/{int(vmid)}/config")
        except NotFoundError:
            continue  # gone since /cluster/resources: the next observation will say so
        configs[vmid] = parse.parse_config(payload or {})
    return configs


def refine(client: PveClient, observed: Observed, plan: Plan) -> Observed:
    """``observed`` with the configs the plan asked for read and attached."""
    targets = config_targets(plan, observed)
    return observed.with_configs(read_configs(client, targets)) if targets else observed
