"""Observing a lab on Proxmox: what exists, at the cost ARCHITECTURE decision 5 allows.

``observe_lab`` sends one ``GET /cluster/resources`` (unfiltered: the same reply lists the
guests, the nodes' CPUs and memory and the storages with their ``shared`` flag, which the
planner's capacity and placement checks need) and one ISO listing of
``proxmox.iso_storage`` per Proxmox node that matters (the spec's nodes and any node holding a
VM of this lab), so a no-op plan of any size costs 1 + (Proxmox nodes) requests. ``refine``
reads the configs of only the VMs a plan could not decide without them (``plan.needs_configs``).
The requests are the client's typed calls and the parsing the pure core's
(``homelab.core.pve_reply``); this module only decides what to ask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homelab.core.backup.jobs import ObservedJob
from homelab.core.observed import Observed, VmConfig
from homelab.core.ownership import lab_vms
from homelab.core.plan.actions import Plan
from homelab.core.plan.build import config_targets
from homelab.core.plan.sources import find_templates
from homelab.core.pve_reply import iso_volids
from homelab.core.spec.models import LabSpec
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import NotFoundError, RefusedError

__all__ = ["observe_lab", "observe_settled", "read_configs", "refine", "with_templates"]

#: pvestatd broadcasts every 10 s; a VM created since is listed without a name (BEHAVIOUR §11).
SETTLE_WAIT = 5.0
SETTLE_TRIES = 4


def observe_lab(client: PveClient, spec: LabSpec, *, jobs: bool = False) -> Observed:
    """Every guest of the cluster, the nodes' capacities and the ISO volumes of the lab's
    nodes; with ``jobs``, the datacenter's backup jobs too (one more request), and for a lab
    with a ``backup:`` section the storage configuration (one more)."""
    resources = client.cluster_resources()
    ours = [vm.node for vm in lab_vms(spec.name, resources.vms)]
    nodes = tuple(dict.fromkeys([*spec.proxmox.nodes, *ours]))
    volumes = {node: iso_volumes(client, node, spec.proxmox.iso_storage) for node in nodes}
    backup_jobs = (
        tuple(ObservedJob(j.id, j.settings, j.vmids, j.next_run) for j in client.backup_jobs())
        if jobs
        else None
    )
    return Observed(
        vms=resources.vms,
        seed_volumes=volumes,
        nodes=nodes,
        capacities=resources.capacities,
        backup_jobs=backup_jobs,
        storages=client.storage_configs() if spec.backup is not None else None,
    )


def observe_settled(
    client: PveClient, spec: LabSpec, sleep: Callable[[float], None], *, jobs: bool = False
) -> Observed:
    """``observe_lab``, observed again (a few seconds apart) while some guest is listed without
    a name: it was just created, and planning without knowing it could make a duplicate."""
    observed = observe_lab(client, spec, jobs=jobs)
    for _ in range(SETTLE_TRIES):
        if not any(vm.name is None and not vm.template for vm in observed.vms):
            break
        sleep(SETTLE_WAIT)
        observed = observe_lab(client, spec, jobs=jobs)
    return observed


def iso_volumes(client: PveClient, node: str, storage: str) -> tuple[str, ...]:
    """The ISO volume ids of ``storage`` on ``node`` (none if the node or storage is absent)."""
    try:
        return iso_volids(client.storage_content(node, storage, "iso"))
    except (NotFoundError, RefusedError):
        return ()


def read_configs(client: PveClient, targets: Iterable[tuple[str, int]]) -> dict[int, VmConfig]:
    """The parsed config of each (node, vmid) given (one request each); gone VMs are skipped."""
    configs: dict[int, VmConfig] = {}
    for node, vmid in targets:
        try:
            _, configs[vmid] = client.vm_config(node, vmid)
        except NotFoundError:
            continue  # gone since /cluster/resources: the next observation will say so
    return configs


def refine(client: PveClient, observed: Observed, plan: Plan) -> Observed:
    """``observed`` with the configs the plan asked for read and attached."""
    targets = config_targets(plan, observed)
    return observed.with_configs(read_configs(client, targets)) if targets else observed


def with_templates(client: PveClient, spec: LabSpec, observed: Observed) -> Observed:
    """``observed`` with the config of every template named by ``proxmox.template`` read (one
    request each), so ``homelab.core.plan.placement.placement_problems`` can judge them all."""
    templates = find_templates(str(spec.proxmox.template), observed.vms)
    targets = [(vm.node, vm.vmid) for vm in templates if vm.config is None]
    return observed.with_configs(read_configs(client, targets)) if targets else observed
