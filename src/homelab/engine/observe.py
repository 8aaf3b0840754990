"""Observing a lab on Proxmox: what exists, at the cost ARCHITECTURE decision 5 allows.

``observe_lab`` sends one ``GET /cluster/resources?type=vm`` and one ISO listing of
``proxmox.iso_storage`` per Proxmox node that matters (the spec's nodes and any node holding a
VM of this lab), so a no-op plan of any size costs 1 + (Proxmox nodes) requests. ``refine``
reads the configs of only the VMs a plan could not decide from that (``plan.needs_configs``).
The parsing is the pure core's (``homelab.core.observed``); this module only does the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from homelab.core import observed as parse
from homelab.core.desired import lab_tag
from homelab.core.observed import Observed, ObservedVm
from homelab.core.spec.models import LabSpec
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import NotFoundError, ProxmoxError, RefusedError

__all__ = ["observe_lab", "read_configs", "refine"]


def observe_lab(client: PveClient, spec: LabSpec) -> Observed:
    """Every guest of the cluster and the ISO volumes of the lab's nodes."""
    vms = parse.parse_resources(client.get("/cluster/resources", type="vm"))
    tag = lab_tag(spec.name)
    nodes = list(dict.fromkeys([*spec.proxmox.nodes, *(vm.node for vm in vms if tag in vm.tags)]))
    volumes = {node: iso_volumes(client, node, spec.proxmox.iso_storage) for node in nodes}
    return Observed(vms=vms, seed_volumes=volumes, nodes=tuple(nodes))


def iso_volumes(client: PveClient, node: str, storage: str) -> tuple[str, ...]:
    """The ISO volume ids on ``storage`` of ``node`` (none if the node or storage is absent)."""
    try:
        payload = client.get(f"/nodes/{node}/storage/{storage}/content", content="iso")
    except (NotFoundError, RefusedError):
        return ()
    return parse.parse_storage_content(payload or [])


def read_configs(client: PveClient, vms: Iterable[ObservedVm]) -> dict[int, parse.VmConfig]:
    """The parsed config of each VM given (one request each)."""
    configs: dict[int, parse.VmConfig] = {}
    for vm in vms:
        try:
            configs[vm.vmid] = parse.parse_config(
                client.get(f"/nodes/{vm.node}/qemu/{vm.vmid}/config")
            )
        except NotFoundError:
            continue  # gone since /cluster/resources: the next observation will say so
    return configs


def refine(client: PveClient, observed: Observed, names: Iterable[str]) -> Observed:
    """``observed`` with the configs of the VMs called ``names`` read and attached."""
    wanted = set(names)
    targets = [vm for vm in observed.vms if vm.name in wanted and vm.config is None]
    if not targets:
        return observed
    return observed.with_configs(read_configs(client, targets))


def config_of(client: PveClient, node: str, vmid: int) -> parse.VmConfig:
    """One VM's parsed config (ProxmoxError if it cannot be read)."""
    payload = client.get(f"/nodes/{node}/qemu/{vmid}/config")
    if not isinstance(payload, dict):
        raise ProxmoxError(f"Proxmox sent no config for VM {vmid}")
    return parse.parse_config(payload)
