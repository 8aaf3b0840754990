"""Helpers for the guest tests: rendered seeds booted in an in-process PveSimulator."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

from homelab.core.cluster import ClusterSecrets
from homelab.core.render.artifacts import Artifacts, NodeSeed
from homelab.core.render.lab import render_lab
from homelab.core.spec.models import LabSpec
from homelab.engine.pki import generate_cluster_secrets
from homelab.engine.seediso import build_seed_iso
from homelab_sim.pve.simulator import PveSimulator
from tests.render.support import load_example
from tests.sim.support import Api, upload


@functools.cache
def lab_pki(lab: str) -> ClusterSecrets:
    """A real PKI for ``lab`` from homelab.engine.pki (generated once per test session)."""
    return generate_cluster_secrets(lab)


@dataclass
class Lab:
    spec: LabSpec
    secrets: ClusterSecrets
    artifacts: Artifacts

    def vmid(self, name: str) -> int:
        return 100 + sorted(self.spec.vms).index(name)


def rendered(lab: str) -> Lab:
    spec = load_example(lab)
    secrets = lab_pki(lab)
    return Lab(spec, secrets, render_lab(spec, secrets))


def edit_user_data(seed: NodeSeed, old: str, new: str) -> NodeSeed:
    text = seed.user_data.decode()
    assert old in text, f"{old!r} is not in the user-data"
    return replace(seed, user_data=text.replace(old, new).encode())


def create(api: Api, lab: Lab, name: str, seed: NodeSeed | None = None) -> int:
    """Clone the template into ``name``'s VM and attach its seed ISO (not started)."""
    vm = lab.spec.vms[name]
    vmid = lab.vmid(name)
    seed = seed or lab.artifacts.seeds[name]
    iso = build_seed_iso(seed.user_data, seed.meta_data, seed.network_config)
    api.finish(upload(api, f"seed-{name}.iso", iso), seconds=5)
    api.finish(api.clone(vmid, name=name, full=1), seconds=30)
    config: dict[str, Any] = {
        "cores": vm.cores,
        "memory": vm.memory,
        "net0": f"virtio={lab.artifacts.macs[name]},bridge=vmbr0",
        "ide2": f"local:iso/seed-{name}.iso,media=cdrom",
        "agent": 1,
    }
    api.ok("POST", f"/nodes/pve/qemu/{vmid}/config", data=config)
    return vmid


def start(api: Api, lab: Lab, *names: str) -> None:
    """Start the VMs together (their guests boot at the same virtual time)."""
    upids = [api.ok("POST", f"/nodes/pve/qemu/{lab.vmid(n)}/status/start") for n in names]
    for upid in upids:
        api.finish(upid, seconds=5)


def boot(api: Api, lab: Lab, name: str, seed: NodeSeed | None = None) -> int:
    """Create ``name``'s VM with its seed and start it."""
    vmid = create(api, lab, name, seed)
    start(api, lab, name)
    return vmid


def run_for(sim: PveSimulator, api: Api, seconds: float, step: float = 30.0) -> None:
    """Advance the virtual clock in steps, letting the guests progress at every request."""
    left = seconds
    while left > 0:
        sim.advance(min(step, left))
        api.ok("GET", "/version")
        left -= step


def guests(api: Api, lines: int = 400) -> dict[str, Any]:
    data: dict[str, Any] = api.ok("GET", "/_sim/guests", params={"lines": lines})
    return data
