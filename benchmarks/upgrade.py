"""The rolling Kubernetes upgrade (1.29.15 -> 1.30.14) on the simulator, in virtual time.

For the reference lab and a lab of one control plane and 20 workers: the virtual seconds the
upgrade part of ``apply`` takes against the critical path of the kubeadm procedure (the
simulated guests' own durations: apt-get update, the packages installed, kubeadm upgrade plan
and apply or upgrade node, daemon-reload and the kubelet's restart, node after node, or
``--max-unavailable`` workers at once); goal: ratio <= 1.2. The tool prepares the next nodes
(kubeadm, ``upgrade node``) while others are drained, so it can beat that serial path; the part
it cannot overlap is each worker's drained window (cordon to uncordon), printed beside what the
kubelet steps inside it take (kubelet and kubectl installed, daemon-reload, restart). And the
smallest number of Ready, schedulable workers seen during the rollout (polled through the API),
which must stay at or above workers - max-unavailable.

    .venv/bin/python benchmarks/upgrade.py   (HOMELAB_SIM_TIME_SCALE, default 25 here)
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.apply.support import write_spec  # noqa: E402
from tests.up.simlab import upped  # noqa: E402

from homelab.engine.apply.progress import ProgressEvent  # noqa: E402
from homelab.engine.apply.runtime import Limits  # noqa: E402
from homelab.simulated.lab import SIM_SCALE_ENV  # noqa: E402
from homelab.simulated.site import SimulatedSite  # noqa: E402
from homelab.verbs.lab import prepare_lab  # noqa: E402
from homelab.verbs.provision import apply_lab  # noqa: E402
from homelab_sim.guest import apt, kubeadm_upgrade  # noqa: E402

OLD, NEW = "1.29.15", "1.30.14"
RESTART = 1.0  # systemctl daemon-reload, restart (the simulated systemd's step)


def node_path(first: bool) -> float:
    """One node's chain in the simulated guest: repo + update, kubeadm, kubeadm upgrade,
    kubelet + kubectl, daemon-reload, restart."""
    upgrade = 5.0 + 5.0 + kubeadm_upgrade.APPLY_SECONDS if first else kubeadm_upgrade.NODE_SECONDS
    packages = apt.SECONDS_PER_PACKAGE * 3  # kubeadm, then kubelet and kubectl
    return apt.UPDATE_SECONDS + packages + upgrade + 2 * RESTART


def drained_steps() -> float:
    """What a worker's drained window holds of the kubeadm procedure: kubelet and kubectl
    installed, daemon-reload, restart."""
    return apt.SECONDS_PER_PACKAGE * 2 + 2 * RESTART


def critical_path(workers: int, width: int) -> float:
    return node_path(True) + math.ceil(workers / width) * node_path(False)


def big_spec(folder: Path, workers: int) -> Path:
    vms: dict[str, Any] = {
        "k8s-master-1": {"role": "control-plane", "network": "apps", "ip": "10.0.20.10"}
    }
    for i in range(1, workers + 1):
        vms[f"worker-{i:02d}"] = {
            "role": "worker",
            "network": "apps",
            "ip": f"10.0.20.{20 + i}",
            "memory": "2GiB",
        }
    return write_spec(folder, {"vms": vms})


def measure(spec: Path, width: int) -> None:
    with upped(spec) as lab, lab.api() as api:
        site = lab.conn.site
        assert isinstance(site, SimulatedSite)
        text = spec.read_text()
        spec.write_text(text.replace(f"version: {OLD}", f"version: {NEW}"))
        ctx = prepare_lab(spec)
        workers = [n for n in ctx.spec.vms if ctx.spec.vms[n].role == "worker"]
        seen: list[int] = []
        cordoned: dict[str, list[float]] = {}  # virtual times each worker was seen cordoned
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                ready = 0
                for node in api.nodes():
                    conditions = node["status"].get("conditions") or []
                    up = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
                    name = node["metadata"]["name"]
                    if name in workers and node["spec"].get("unschedulable"):
                        cordoned.setdefault(name, []).append(site.advance_clock(0))
                    if name in workers and up:
                        ready += not node["spec"].get("unschedulable")
                seen.append(ready)
                stop.wait(0.05)

        marks: dict[str, float] = {}

        def progress(event: ProgressEvent) -> None:
            if event.phase.startswith("upgrade") and "start" not in marks:
                marks["start"] = site.advance_clock(0)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            outcome = apply_lab(
                lab.conn,
                ctx,
                confirm=lambda _plan: True,
                progress=progress,
                limits=Limits(max_unavailable=width),
            )
            end = site.advance_clock(0)
        finally:
            stop.set()
            thread.join()
            ctx.close()
        assert outcome.report is not None and outcome.report.ok
        elapsed = end - marks["start"]
        path = critical_path(len(workers), width)
        windows = [times[-1] - times[0] for times in cordoned.values()]
        assert len(windows) == len(workers), "a worker was never seen cordoned"
        window = sum(windows) / len(windows)
        print(
            f"{len(workers):2d} workers, --max-unavailable {width}: upgrade {elapsed:7.1f} s "
            f"virtual, critical path {path:7.1f} s, ratio {elapsed / path:.2f}; fewest Ready "
            f"workers {min(seen)} (floor {len(workers) - width}); drained window per worker "
            f"{window:5.1f} s (max {max(windows):5.1f}) vs {drained_steps():4.1f} s of kubelet "
            f"steps, ratio {window / drained_steps():.2f}"
        )


def main() -> None:
    # homelab's own CPU time counts x scale in virtual time: at the default x100 on two shared
    # cores it dominates (see apply_critical_path.py); x25 keeps it to what a real lab sees
    os.environ.setdefault(SIM_SCALE_ENV, "25")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for sub in ("ref", "one", "three"):
            (folder / sub).mkdir()
        measure(write_spec(folder / "ref"), 1)
        measure(big_spec(folder / "one", 20), 1)
        measure(big_spec(folder / "three", 20), 3)


if __name__ == "__main__":
    main()
