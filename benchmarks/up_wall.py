"""Wall-clock seconds of `homelab up --sim --yes` from a fresh state: the reference lab and a
20-worker lab, and how the time grows per VM. Goal for the reference lab: < 15 s.

Each run is a subprocess in a fresh temporary directory holding a copy of the spec (so nothing
is written into the repository), timed from start to exit; the second `up` on the same state is
timed too (the no-op). The 20-worker lab is the reference lab with workers k8s-worker-2..21 on
10.0.20.21-40, 2 GiB each (so that they fit in the one simulated Proxmox node's memory).

    .venv/bin/python benchmarks/up_wall.py [--workers 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "examples" / "home-lab.yaml"


def spec_with_workers(workers: int) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(REFERENCE.read_text())
    master = doc["vms"]["k8s-master-1"]
    template = dict(doc["vms"]["k8s-worker-2"])
    doc["vms"] = {"k8s-master-1": master}
    for i in range(workers):
        # 2 GiB each, so that 20 workers fit in the simulated node's memory (kubeadm's minimum)
        doc["vms"][f"k8s-worker-{i + 2}"] = {
            **template,
            "memory": "2GiB",
            "ip": f"10.0.20.{21 + i}",
        }
    return doc


def timed_up(spec: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "homelab", "up", str(spec), "--sim", "--yes", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"homelab up failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def measure(doc: dict[str, Any]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="homelab-bench-") as tmp:
        spec = Path(tmp) / "lab.yaml"
        spec.write_text(yaml.safe_dump(doc, sort_keys=False))
        return timed_up(spec), timed_up(spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=20)
    args = parser.parse_args()
    small = yaml.safe_load(REFERENCE.read_text())
    big = spec_with_workers(args.workers)
    first_small, again_small = measure(small)
    first_big, again_big = measure(big)
    n_small, n_big = len(small["vms"]), len(big["vms"])
    per_vm = (first_big - first_small) / (n_big - n_small)
    print(
        f"reference lab ({n_small} VMs): up {first_small:6.2f} s   second up {again_small:5.2f} s"
    )
    print(
        f"{args.workers}-worker lab ({n_big} VMs): "
        f"up {first_big:6.2f} s   second up {again_big:5.2f} s"
    )
    print(
        f"growth: {per_vm:.3f} s per extra VM "
        f"({first_big / first_small:.2f}x the time for {n_big / n_small:.1f}x the VMs)"
    )
    print(f"goal < 15 s for the reference lab: {'met' if first_small < 15 else 'NOT met'}")


if __name__ == "__main__":
    main()
