"""Requests of a no-op plan: 3 VMs on one Proxmox node, and 200 VMs over three nodes.

Applies each lab to an in-process simulator, then counts the requests a second plan sends
(the simulator's request log). Goal: at most 1 + (Proxmox nodes), whatever the number of VMs.

    .venv/bin/python benchmarks/noop_plan_requests.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.apply.support import FAST, inprocess, new_sim, write_spec, yes  # noqa: E402

from homelab.verbs.lab import make_plan, prepare_lab  # noqa: E402
from homelab.verbs.provision import apply_lab  # noqa: E402


def big_lab(count: int) -> dict[str, Any]:
    vms: dict[str, Any] = {
        "k8s-master-1": {
            "role": "control-plane",
            "network": "apps",
            "ip": "10.0.24.1",
            "disk": 4,
        }
    }
    for i in range(1, count):
        ip = f"10.0.{25 + i // 250}.{1 + i % 250}"
        vms[f"worker-{i:03d}"] = {
            "role": "worker",
            "network": "apps",
            "ip": ip,
            "disk": 4,
        }
    return {
        "vms": vms,
        "networks.apps.cidr": "10.0.16.0/20",
        "proxmox.nodes": ["pve", "pve2", "pve3"],
        "proxmox.vmid_range": "1000-1999",
    }


def measure(folder: Path, changes: dict[str, Any] | None, nodes: tuple[str, ...]) -> None:
    ctx = prepare_lab(write_spec(folder, changes))
    sim = new_sim(nodes=nodes, scale=2000.0)
    for node in sim.state.nodes:
        node.maxmem = 1024 * 1024**3  # big hosts: 67 VMs of 4 GiB each per node
    conn = inprocess(sim)
    started = time.perf_counter()
    outcome = apply_lab(conn, ctx, confirm=yes, limits=FAST)
    applied = time.perf_counter() - started
    assert outcome.report is not None and outcome.report.ok, (
        [o for o in outcome.report.failed][:3] if outcome.report else None
    )
    sim.log.clear()
    started = time.perf_counter()
    plan, _ = make_plan(conn, ctx)
    planned = time.perf_counter() - started
    requests = len(sim.log.entries())
    budget = 1 + len(nodes)
    verdict = "ok" if requests <= budget and not plan.has_changes else "OVER BUDGET"
    print(
        f"{len(ctx.spec.vms):4d} VMs on {len(nodes)} node(s): no-op plan = {requests} requests "
        f"(budget {budget}) in {planned * 1000:.0f} ms [{verdict}]; apply took {applied:.1f} s"
    )
    ctx.close()


Measure = Callable[[Path, dict[str, Any] | None, tuple[str, ...]], None]


def each_lab(measure: Measure) -> None:
    """Run ``measure`` on the reference-sized lab (one node) and on 200 VMs over three nodes."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        measure(Path(tmp) / "a", None, ("pve",))
        measure(Path(tmp) / "b", big_lab(200), ("pve", "pve2", "pve3"))


def main() -> None:
    each_lab(measure)


if __name__ == "__main__":
    main()
