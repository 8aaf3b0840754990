"""Issue 2's measure: validate + render of a generated 1,000-VM spec, in one run.

Run: .venv/bin/python -m benchmarks.core_scale   (goal: under 2 s for validate + render)
The spec is generated as YAML text (3 control planes behind a VIP, 997 workers on a /20), then
validated from text exactly as `homelab validate` does and rendered as `homelab render` does.
PKI generation happens once per lab in real use and is reported apart.
"""

from __future__ import annotations

import time

import yaml

from benchmarks.render_speed import EXAMPLES
from homelab.core.render.lab import render_lab
from homelab.core.spec.validate import validate_text
from homelab.engine.pki import generate_cluster_secrets


def spec_text(total_vms: int) -> str:
    data = yaml.safe_load((EXAMPLES / "ha-lab.yaml").read_text(encoding="utf-8"))
    data["networks"]["apps"].update(cidr="10.0.16.0/20", gateway="10.0.16.1")
    data["kubernetes"]["control_plane_endpoint"] = "10.0.16.9"
    data["kubernetes"]["pod_cidr"] = "172.16.0.0/14"
    data["kubernetes"]["load_balancer"]["addresses"] = "10.0.31.200-10.0.31.250"
    data["proxmox"]["vmid_range"] = "1000-2999"
    vms: dict[str, object] = {}
    for i in range(total_vms):
        role = "control-plane" if i < 3 else "worker"
        vms[f"vm-{i:04d}"] = {
            "role": role,
            "network": "apps",
            "ip": f"10.0.{17 + i // 240}.{10 + i % 240}",
            "node": ("pve", "pve2")[i % 2],
        }
    data["vms"] = vms
    return yaml.safe_dump(data, sort_keys=False)


def main() -> None:
    text = spec_text(1000)
    secrets = generate_cluster_secrets("ha-lab")
    start = time.perf_counter()
    result = validate_text(text, "generated.yaml")
    validated = time.perf_counter()
    assert result.spec is not None, result.lines()[:5]
    artifacts = render_lab(result.spec, secrets)
    rendered = time.perf_counter()
    seeds = sum(len(b) for s in artifacts.seeds.values() for b in s.files().values())
    total = rendered - start
    print(f"VMs:       {len(result.spec.vms)}")
    print(f"validate:  {validated - start:.3f} s")
    print(f"render:    {rendered - validated:.3f} s ({seeds / 2**20:.1f} MiB of seed files)")
    print(f"total:     {total:.3f} s (goal < 2 s: {'met' if total < 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
