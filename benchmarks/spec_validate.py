"""Time `validate_text` (load with positions + models + every check) on generated specs.

Run: .venv/bin/python benchmarks/spec_validate.py
Prints, for labs of 3, 100 and 1,000 VMs, the spec's size and the best of five runs.
"""

from __future__ import annotations

import time
from ipaddress import IPv4Address

from homelab.core.spec.validate import validate_text

HEADER = """name: bench-lab
proxmox:
  endpoint: https://10.0.10.2:8006
  token_id: homelab@pve!apply
  nodes: [pve1, pve2, pve3]
  template: ubuntu-2404-cloudinit
  vmid_range: 1000-9999
networks:
  apps: {vlan: 20, cidr: 10.20.0.0/16, gateway: 10.20.0.1, dns: [10.20.0.1]}
kubernetes:
  version: 1.29.15
  pod_cidr: 172.16.0.0/12
  service_cidr: 10.96.0.0/12
  load_balancer: {addresses: 10.20.250.1-10.20.250.250}
  control_plane_endpoint: 10.20.0.9
access:
  ssh_authorized_keys: ["ssh-ed25519 {key} me@host"]
vms:
""".replace("{key}", "AAAAC3NzaC1lZDI1NTE5AAAAIHomeLabExampleKeyReplaceMeWithYours000")


def generate(count: int) -> str:
    lines = [HEADER]
    for number in range(count):
        role = "control-plane" if number < 3 else "worker"
        ip = IPv4Address("10.20.1.0") + number
        lines.append(
            f"  node-{number}: {{role: {role}, cores: 2, memory: 4GiB, disk: 32GiB, "
            f"network: apps, ip: {ip}}}\n"
        )
    return "".join(lines)


def best_of(text: str, runs: int = 5) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        result = validate_text(text, "bench.yaml")
        timings.append(time.perf_counter() - start)
        assert result.findings == [], result.lines()[:3]
    return min(timings)


def main() -> None:
    for count in (3, 100, 1000):
        text = generate(count)
        seconds = best_of(text)
        print(f"{count:>5} VMs  {len(text):>8} bytes  validate_text {seconds * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
