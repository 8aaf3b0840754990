"""Plan speed at scale: a 1,000-VM lab planned fresh, as a no-op (resources only and with every
config read), and rendered as text and JSON. Prints the seconds measured in this run and the
number of Proxmox requests a no-op observation costs (1 + Proxmox nodes).

    .venv/bin/python benchmarks/plan_scale.py [--vms 1000] [--nodes 3]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from homelab.core.desired import SEED_DRIVE, DesiredVm, desired_vms
from homelab.core.observed import Disk, NetDevice, Observed, ObservedVm, VmConfig
from homelab.core.plan import json as plan_json
from homelab.core.plan import text
from homelab.core.plan.build import plan_lab
from homelab.core.spec.models import LabSpec

T = TypeVar("T")


def big_spec(vms: int, nodes: int) -> LabSpec:
    data: dict[str, Any] = {
        "name": "scale",
        "proxmox": {
            "endpoint": "https://10.0.10.2:8006",
            "token_id": "homelab@pve!apply",
            "nodes": [f"pve{i}" for i in range(1, nodes + 1)],
            "template": "ubuntu-2404-cloudinit",
            "vmid_range": "1000-9999",
        },
        "networks": {"apps": {"cidr": "10.0.16.0/20", "gateway": "10.0.16.1", "vlan": 20}},
        "kubernetes": {"version": "1.29.15", "control_plane_endpoint": "10.0.16.5"},
        "vms": {
            f"node-{i:04d}": {
                "role": "control-plane" if i < 3 else "worker",
                "network": "apps",
                "ip": f"10.0.{17 + i // 200}.{10 + i % 200}",
            }
            for i in range(vms)
        },
    }
    return LabSpec.model_validate(data)


def as_applied(want: DesiredVm, vmid: int, with_config: bool) -> ObservedVm:
    config = VmConfig(
        name=want.name, cores=want.cores, sockets=1, memory_mib=want.memory_mib,
        net0=NetDevice(model="virtio", mac=None, bridge=want.bridge, tag=want.vlan, firewall=True),
        boot_disk=Disk(key="scsi0", volid=f"local-lvm:vm-{vmid}-disk-0", size_gib=want.disk_gib),
        cdroms=((SEED_DRIVE, want.seed_volid),), agent=True, description=want.description,
        record=want.record, tags=want.tags, onboot=True, digest=f"{vmid:040x}",
    )  # fmt: skip
    return ObservedVm(
        vmid=vmid, name=want.name, node=want.node, status="running", template=False, lock=None,
        tags=want.tags, maxmem_mib=want.memory_mib, cores=want.cores, disk_gib=want.disk_gib,
        config=config if with_config else None,
    )  # fmt: skip


def applied(spec: LabSpec, seeds: dict[str, str], with_config: bool) -> Observed:
    wants = list(desired_vms(spec, seeds).values())
    vms = tuple(as_applied(w, 1000 + i, with_config) for i, w in enumerate(wants))
    volumes = {
        node: tuple(sorted(w.seed_volid for w in wants if w.node == node))
        for node in spec.proxmox.nodes
    }
    return Observed(vms=vms, seed_volumes=volumes, nodes=tuple(spec.proxmox.nodes))


def timed(label: str, run: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = run()
    print(f"{label:<44} {time.perf_counter() - start:8.3f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    spec = big_spec(args.vms, args.nodes)
    seeds = {name: hashlib.sha256(name.encode()).hexdigest() for name in spec.vms}
    templates = tuple(
        ObservedVm(
            vmid=9000 + i,
            name="ubuntu-2404-cloudinit",
            node=node,
            status="stopped",
            template=True,
            lock=None,
            tags=(),
            maxmem_mib=2048,
            cores=2,
            disk_gib=3,
        )
        for i, node in enumerate(spec.proxmox.nodes)
    )
    empty = Observed(vms=templates, seed_volumes={}, nodes=tuple(spec.proxmox.nodes))
    print(f"lab of {args.vms} VMs on {args.nodes} Proxmox nodes")
    fresh = timed("plan, fresh lab (all creates)", lambda: plan_lab(spec, seeds, empty))
    timed(
        "format text + JSON of the fresh plan",
        lambda: (text.format_plan(fresh), plan_json.plan_to_json(fresh)),
    )
    quiet = applied(spec, seeds, with_config=False)
    noop = timed("plan, no-op from /cluster/resources only", lambda: plan_lab(spec, seeds, quiet))
    full = applied(spec, seeds, with_config=True)
    timed("plan, no-op with every config read", lambda: plan_lab(spec, seeds, full))
    assert not fresh.errors and len(fresh.actions) == args.vms
    assert not noop.has_changes and not noop.needs_configs
    print(f"no-op observation cost: 1 + {args.nodes} = {1 + args.nodes} requests "
          f"(configs to read: {len(noop.needs_configs)})")  # fmt: skip


if __name__ == "__main__":
    main()
