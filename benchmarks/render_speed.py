"""How long rendering takes: the two examples and a synthetic 3 + 250 VM lab, measured in one run.

Run: .venv/bin/python -m benchmarks.render_speed
Secrets are generated once (not part of the render timing), as in real use.
"""

from __future__ import annotations

import time
from ipaddress import IPv4Address
from pathlib import Path

import yaml

from homelab.core.render.lab import render_lab
from homelab.core.spec.models import LabSpec
from homelab.engine.pki import generate_cluster_secrets

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def big_lab(workers: int) -> LabSpec:
    data = yaml.safe_load((EXAMPLES / "ha-lab.yaml").read_text(encoding="utf-8"))
    data["networks"]["apps"]["cidr"] = "10.0.16.0/20"
    data["networks"]["apps"]["gateway"] = "10.0.16.1"
    data["proxmox"]["vmid_range"] = "1000-1999"
    vms = {k: v for k, v in data["vms"].items() if v["role"] == "control-plane"}
    for i in range(workers):
        ip = IPv4Address("10.0.17.0") + i
        vms[f"worker-{i:03d}"] = {"role": "worker", "network": "apps", "ip": str(ip)}
    data["vms"] = vms
    return LabSpec.model_validate(data)


def measure(spec: LabSpec) -> None:
    start = time.perf_counter()
    secrets = generate_cluster_secrets(spec.name)
    pki = time.perf_counter() - start
    start = time.perf_counter()
    artifacts = render_lab(spec, secrets)
    elapsed = time.perf_counter() - start
    size = sum(len(b) for s in artifacts.seeds.values() for b in s.files().values())
    print(
        f"{spec.name:>10}: {len(spec.vms):4d} VMs rendered in {elapsed * 1000:8.1f} ms "
        f"({elapsed / len(spec.vms) * 1000:.2f} ms/VM, {size / 1024:.0f} KiB of seeds); "
        f"PKI generation {pki * 1000:.0f} ms"
    )


def main() -> None:
    for name in ("home-lab", "ha-lab"):
        data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
        measure(LabSpec.model_validate(data))
    measure(big_lab(250))


if __name__ == "__main__":
    main()
