"""Scrape cost of the lab's two Proxmox VE exporters, for 3 VMs and for 200 VMs, in one run.

For each lab (the reference lab: 3 VMs on one node; 200 VMs over three nodes, built here), the
lab is applied to an in-process simulator served over HTTPS on loopback, then:

- ``homelab metrics``' collector (no reuse interval, as a scrape with ``--min-interval 0``)
  runs ROUNDS times; each collection's requests to Proxmox (the simulator's request log,
  without its /_sim/ control reads, which stand in for the lab's network) and wall time;
- prometheus-pve-exporter's collection with its default collectors (``cluster=1&node=1``,
  what one scrape of ``/pve`` runs), with the read-only token ``homelab monitoring token``
  makes and TLS verified against the simulator's certificate: its requests and wall time.

It prints the medians and the 200-VM / 3-VM ratio of each figure. The tool's exporter should
stay flat (its requests do not grow with the VMs); prometheus-pve-exporter's ``config``
collector reads one VM config per guest on the scraped node, so it grows with them.

    .venv/bin/python benchmarks/monitoring_scrape.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.apply.support import FAST, new_sim, settings_for, write_spec, yes  # noqa: E402

from homelab.engine.clock import Clock  # noqa: E402
from homelab.engine.proxmox.client import PveClient  # noqa: E402
from homelab.simulated.access import least_privileged  # noqa: E402
from homelab.simulated.site import SimulatedSite  # noqa: E402
from homelab.verbs.connection import connect_to  # noqa: E402
from homelab.verbs.lab import prepare_lab  # noqa: E402
from homelab.verbs.metrics import LabCollector, collect_facts  # noqa: E402
from homelab.verbs.monitoring_token import ensure_auditor_token  # noqa: E402
from homelab.verbs.provision import apply_lab  # noqa: E402
from homelab_sim.server import start_server  # noqa: E402

ROUNDS = 5
BIG = 200
BIG_NODES = ("pve", "pve2", "pve3")


def big_lab(count: int) -> dict[str, Any]:
    """A lab of ``count`` VMs (one control plane, the rest workers) over three nodes."""
    vms: dict[str, Any] = {
        "k8s-master-1": {"role": "control-plane", "network": "apps", "ip": "10.0.24.1", "disk": 4}
    }
    for i in range(1, count):
        ip = f"10.0.{25 + i // 250}.{1 + i % 250}"
        vms[f"worker-{i:03d}"] = {"role": "worker", "network": "apps", "ip": ip, "disk": 4}
    return {
        "vms": vms,
        "networks.apps.cidr": "10.0.16.0/20",
        "proxmox.nodes": list(BIG_NODES),
        "proxmox.vmid_range": "1000-1999",
    }


@dataclass(frozen=True)
class Cost:
    vms: int
    tool_requests: int
    tool_ms: float
    pve_requests: int
    pve_ms: float


def _proxmox_requests(sim: Any) -> int:
    return sum(1 for e in sim.log.entries() if not e.path.startswith("/api2/json/_sim/"))


def _timed(sim: Any, run: Any) -> tuple[int, float]:
    """(most requests, median milliseconds) over ROUNDS runs of ``run``."""
    requests, times = [], []
    for _ in range(ROUNDS):
        sim.log.clear()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
        requests.append(_proxmox_requests(sim))
    return max(requests), statistics.median(times) * 1000


def measure(folder: Path, changes: dict[str, Any] | None, nodes: tuple[str, ...]) -> Cost:
    from pve_exporter.collector import (  # type: ignore[import-untyped]  # no stubs
        CollectorsOptions,
        collect_pve,
    )

    ctx = prepare_lab(write_spec(folder, changes))
    sim = new_sim(nodes=nodes, scale=2000.0)
    for node in sim.state.nodes:
        node.maxmem = 1024 * 1024**3  # big hosts: 67 VMs of 4 GiB each per node
    server = start_server(sim)
    try:
        root = settings_for(sim, server.endpoint, server.fingerprint)
        clock = Clock.scaled(sim.clock.time_scale)
        site = SimulatedSite(root, folder / "manifests", clock)
        conn = connect_to(least_privileged(root, "local"), site, clock)
        outcome = apply_lab(conn, ctx, confirm=yes, limits=FAST)
        assert outcome.report is not None and outcome.report.ok
        collector = LabCollector(lambda: collect_facts(conn, ctx), min_interval=0.0)
        tool_requests, tool_ms = _timed(sim, lambda: list(collector.collect()))
        assert collector.latest().facts.drift_objects == 0

        with PveClient(root) as admin:
            token = ensure_auditor_token(admin, ctx.store.secrets(ctx.lab), root).token
        ca = folder / "pve-ca.pem"
        ca.write_bytes(server.cert_pem)
        config = {
            "user": token.user,
            "token_name": token.token_name,
            "token_value": token.value.reveal(),
            "verify_ssl": str(ca),
        }
        options = CollectorsOptions(*([True] * len(CollectorsOptions._fields)))
        host = server.endpoint.removeprefix("https://")
        pve_requests, pve_ms = _timed(
            sim, lambda: collect_pve(config, host, cluster=True, node=True, options=options)
        )
        conn.client.close()
        site.close()
        return Cost(len(ctx.spec.vms), tool_requests, tool_ms, pve_requests, pve_ms)
    finally:
        server.stop()
        ctx.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "small").mkdir()
        (Path(tmp) / "big").mkdir()
        small = measure(Path(tmp) / "small", None, ("pve",))
        big = measure(Path(tmp) / "big", big_lab(BIG), BIG_NODES)
    print("per scrape               requests to Proxmox        wall time (median of 5)")
    for name, cost in (("3-VM lab", small), (f"{BIG}-VM lab", big)):
        print(
            f"{name:<12} homelab metrics {cost.tool_requests:4d}   "
            f"pve-exporter {cost.pve_requests:4d}   "
            f"homelab metrics {cost.tool_ms:7.1f} ms   pve-exporter {cost.pve_ms:7.1f} ms"
        )
    print(
        f"ratio {BIG}/3:   homelab metrics {big.tool_requests / small.tool_requests:4.2f}   "
        f"pve-exporter {big.pve_requests / small.pve_requests:4.2f}   "
        f"homelab metrics {big.tool_ms / small.tool_ms:7.2f}x     "
        f"pve-exporter {big.pve_ms / small.pve_ms:7.2f}x"
    )


if __name__ == "__main__":
    main()
