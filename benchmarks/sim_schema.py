"""Cost of the simulator's schema layer per request: path matching plus parameter validation.

Run: .venv/bin/python benchmarks/sim_schema.py
Prints microseconds per call for a cheap GET, a clone and a full config update.
"""

from __future__ import annotations

import time
from typing import Any

from homelab_sim.pve import schema

CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("GET /cluster/resources", "GET", "/api2/json/cluster/resources", {"type": "vm"}),
    (
        "POST clone",
        "POST",
        "/api2/json/nodes/pve/qemu/9000/clone",
        {"newid": "101", "name": "k8s-master-1", "full": "0", "pool": "homelab"},
    ),
    (
        "PUT config (8 keys)",
        "PUT",
        "/api2/json/nodes/pve/qemu/101/config",
        {
            "net0": "virtio,bridge=vmbr0,tag=20",
            "scsi0": "local-lvm:vm-101-disk-0,size=32G",
            "ide2": "local:iso/seed.iso,media=cdrom",
            "ipconfig0": "ip=10.0.20.10/24,gw=10.0.20.1",
            "tags": "homelab;lab-home;role-control-plane",
            "description": "managed by homelab",
            "agent": "1",
            "cores": "2",
        },
    ),
]


def measure(method: str, path: str, params: dict[str, Any], rounds: int) -> float:
    """Microseconds per match + validate."""
    start = time.perf_counter()
    for _ in range(rounds):
        found = schema.match(method, path)
        assert found is not None
        endpoint, path_params = found
        _, errors = schema.validate(endpoint, {**path_params, **params})
        assert not errors
    return (time.perf_counter() - start) / rounds * 1e6


def main() -> None:
    start = time.perf_counter()
    schema.endpoints()
    print(f"table load and compile: {(time.perf_counter() - start) * 1e3:.1f} ms")
    for label, method, path, params in CASES:
        print(f"{label:<24} {measure(method, path, params, 5000):8.1f} us/request")


if __name__ == "__main__":
    main()
