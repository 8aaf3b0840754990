"""Scrape cost of `homelab metrics`: 3 VMs on one Proxmox node, 200 VMs over three nodes.

Applies each lab to an in-process simulator, then runs collections as a scrape does (the
collector with no reuse interval) and counts the requests each one sends to Proxmox (the
simulator's request log, without its own /_sim/ control reads, which stand in for the lab's
network) and its wall time, beside a no-op plan's in the same run. Goal: independent of the
number of VMs: a no-op plan's requests (1 + Proxmox nodes), plus the storage list and the backup
jobs, plus one content read per backup storage (per node unless shared); a few milliseconds more
than the plan (the state store's history, the certificates, the backups).

    .venv/bin/python benchmarks/exporter_scrape.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.apply.support import FAST, inprocess, new_sim, write_spec, yes  # noqa: E402

from benchmarks.noop_plan_requests import each_lab  # noqa: E402
from homelab.verbs.lab import make_plan, prepare_lab  # noqa: E402
from homelab.verbs.metrics import LabCollector, collect_facts  # noqa: E402
from homelab.verbs.provision import apply_lab  # noqa: E402

ROUNDS = 5


def _proxmox_requests(sim: Any) -> int:
    return sum(1 for e in sim.log.entries() if not e.path.startswith("/api2/json/_sim/"))


def measure(folder: Path, changes: dict[str, Any] | None, nodes: tuple[str, ...]) -> None:
    ctx = prepare_lab(write_spec(folder, changes))
    sim = new_sim(nodes=nodes, scale=2000.0)
    for node in sim.state.nodes:
        node.maxmem = 1024 * 1024**3
    conn = inprocess(sim)
    outcome = apply_lab(conn, ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok
    collector = LabCollector(lambda: collect_facts(conn, ctx), min_interval=0.0)
    scrape_times, plan_times, scrape_requests, plan_requests = [], [], [], []
    for _ in range(ROUNDS):
        sim.log.clear()
        started = time.perf_counter()
        families = list(collector.collect())
        scrape_times.append(time.perf_counter() - started)
        scrape_requests.append(_proxmox_requests(sim))
        assert families and collector.latest().facts.drift_objects == 0
        sim.log.clear()
        started = time.perf_counter()
        make_plan(conn, ctx)
        plan_times.append(time.perf_counter() - started)
        plan_requests.append(_proxmox_requests(sim))
    scrape, plan = statistics.median(scrape_times), statistics.median(plan_times)
    print(
        f"{len(ctx.spec.vms):4d} VMs on {len(nodes)} node(s): a scrape = "
        f"{max(scrape_requests)} requests to Proxmox (no-op plan: {max(plan_requests)}), "
        f"{scrape * 1000:.0f} ms (no-op plan {plan * 1000:.0f} ms, ratio {scrape / plan:.2f})"
    )
    ctx.close()


def main() -> None:
    each_lab(measure)


if __name__ == "__main__":
    main()
