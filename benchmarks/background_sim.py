"""The background simulator: memory, idle CPU, and the wall time of --sim commands against it.

Brings the reference lab (3 VMs) and a 20-worker lab up with `homelab up --sim` (which leaves
the simulator running), then measures in the same run: the simulator's peak RSS, its CPU time
over 60 s of idling (near zero: nothing polls), and the wall time of a no-op `up --sim` and of
`plan --sim` against it (goals: under 1 s and 0.5 s; they were 4.0 s and 1.9 s when every
command started its own simulator), beside `homelab version` (the interpreter's start-up).

    .venv/bin/python benchmarks/background_sim.py [--idle SECONDS]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
HOMELAB = [sys.executable, "-m", "homelab"]
TICK = 100  # clock ticks per second (USER_HZ) on Linux


def run(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([*HOMELAB, *args], check=True, capture_output=True, timeout=1800)
    return time.perf_counter() - started


def twenty_workers(folder: Path) -> Path:
    data = yaml.safe_load((REPO / "examples" / "home-lab.yaml").read_text())
    data["vms"] = {
        "k8s-master-1": {"role": "control-plane", "network": "apps", "ip": "10.0.20.10"},
        **{
            f"k8s-worker-{i:02d}": {"role": "worker", "network": "apps", "ip": f"10.0.20.{20 + i}"}
            for i in range(1, 21)
        },
    }
    for name, vm in data["vms"].items():
        if name != "k8s-master-1":  # kubeadm wants 2 cores on a control plane
            vm.update(cores=1, memory="2GiB", disk=16)
    path = folder / "big.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def pid_of(spec: Path) -> int:
    import json

    info = next(spec.parent.glob(".homelab/*/sim/server.json"))
    return int(json.loads(info.read_text())["pid"])


def cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(spec: Path, idle: float) -> None:
    up = run("up", str(spec), "--sim", "--yes", "--quiet")
    pid = pid_of(spec)
    before = cpu_ticks(pid)
    time.sleep(idle)
    busy = (cpu_ticks(pid) - before) / TICK
    noop_up = statistics.median(run("up", str(spec), "--sim", "--yes", "--quiet") for _ in range(3))
    plan = statistics.median(run("plan", str(spec), "--sim") for _ in range(3))
    version = statistics.median(run("version") for _ in range(3))
    print(
        f"{spec.name}: up {up:.1f} s; simulator peak RSS {peak_rss_mib(pid):.0f} MiB; "
        f"idle CPU {busy:.2f} s over {idle:.0f} s ({100 * busy / idle:.1f} %); "
        f"no-op up --sim {noop_up:.2f} s, plan --sim {plan:.2f} s "
        f"(homelab version alone {version:.2f} s)"
    )
    run("sim", "stop", str(spec))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=60.0)
    idle = parser.parse_args().idle
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(
            shutil.copy(REPO / "examples" / "home-lab.yaml", Path(tmp) / "home-lab.yaml")
        )
        measure(reference, idle)
        (Path(tmp) / "big").mkdir()
        measure(twenty_workers(Path(tmp) / "big"), idle)


if __name__ == "__main__":
    main()
