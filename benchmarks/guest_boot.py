"""Cost of the simulated guests: a whole lab's cloud-init + kubeadm, in-process.

Renders the reference lab and a lab with N workers (default 20) with a fresh PKI, creates and
starts every VM through the PVE API (SimTransport, no sockets, frozen clock), then advances the
virtual clock in 5 s steps, one request per step (what a polling client does), until every
guest has finished cloud-init with its node joined. All VMs are created first and started
together. Prints, per lab: the virtual seconds from the start to the last join, the real
seconds the simulation of that took, and the guest log lines.

    .venv/bin/python benchmarks/guest_boot.py [--workers 20]
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from homelab.core.render.lab import render_lab
from homelab.core.spec.models import LabSpec
from homelab.engine.pki import generate_cluster_secrets
from homelab.engine.seediso import build_seed_iso
from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.transport import SimTransport

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "home-lab.yaml"


def lab_spec(workers: int | None) -> LabSpec:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    if workers is not None:
        template = data["vms"]["k8s-worker-2"]
        data["vms"] = {"k8s-master-1": data["vms"]["k8s-master-1"]}
        for index in range(workers):
            vm = copy.deepcopy(template)
            vm["ip"] = f"10.0.20.{30 + index}"
            data["vms"][f"k8s-worker-{index + 1:02d}"] = vm
        data["name"] = f"lab-{workers}w"
    return LabSpec.model_validate(data)


def wait(http: httpx.Client, sim: PveSimulator, upid: str) -> None:
    node = upid.split(":")[1]
    while True:
        sim.advance(1)
        status = http.get(f"/nodes/{node}/tasks/{upid}/status").json()["data"]
        if status["status"] == "stopped":
            assert status["exitstatus"] == "OK", status
            return


def run(spec: LabSpec) -> dict[str, float]:
    artifacts = render_lab(spec, generate_cluster_secrets(spec.name))
    sim = PveSimulator(SimConfig(time_scale=0, seed=1))
    sim.state.nodes[0].maxmem = 512 * 1024**3
    token = sim.token.reveal()
    http = httpx.Client(
        transport=SimTransport(sim),
        base_url="https://127.0.0.1:8006/api2/json",
        headers={"Authorization": f"PVEAPIToken={token}"},
    )
    vmids = []
    for index, (name, vm) in enumerate(sorted(spec.vms.items())):
        seed = artifacts.seeds[name]
        iso = build_seed_iso(seed.user_data, seed.meta_data, seed.network_config)
        files = {"filename": (f"seed-{name}.iso", iso, "application/octet-stream")}
        wait(
            http,
            sim,
            http.post(
                "/nodes/pve/storage/local/upload", data={"content": "iso"}, files=files
            ).json()["data"],
        )
        vmid = 200 + index
        wait(
            http,
            sim,
            http.post("/nodes/pve/qemu/9000/clone", data={"newid": vmid, "name": name}).json()[
                "data"
            ],
        )
        config = {
            "cores": vm.cores,
            "memory": vm.memory,
            "net0": f"virtio={artifacts.macs[name]},bridge=vmbr0",
            "ide2": f"local:iso/seed-{name}.iso,media=cdrom",
            "agent": 1,
        }
        http.post(f"/nodes/pve/qemu/{vmid}/config", data=config)
        vmids.append(vmid)
    started = time.perf_counter()
    first_start = sim.clock.now()
    upids = [http.post(f"/nodes/pve/qemu/{v}/status/start").json()["data"] for v in vmids]
    for upid in upids:
        wait(http, sim, upid)
    while True:
        sim.advance(5)
        report = http.get("/_sim/guests", params={"lines": 0}).json()["data"]
        if all(entry["cloud_init"]["status"] != "running" for entry in report.values()):
            break
    elapsed = time.perf_counter() - started
    ok = all(e["kubeadm"]["phase"] == "done" for e in report.values())
    (cluster,) = sim.kube.clusters()
    machines = sim.guest.machines.values()  # type: ignore[attr-defined]
    lines = sum(len(machine.lines) for machine in machines)
    sim.close()
    return {
        "vms": len(spec.vms),
        "all_joined": float(ok and len(cluster.node_names()) == len(spec.vms)),
        "virtual_s": sim.clock.now() - first_start,
        "real_s": elapsed,
        "requests": len(sim.log.entries()),
        "log_lines": lines,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=20)
    args = parser.parse_args()
    for label, spec in (
        ("home-lab", lab_spec(None)),
        (f"{args.workers} workers", lab_spec(args.workers)),
    ):
        figures = run(spec)
        print(
            f"{label:>12}: {figures['vms']:.0f} VMs, all joined: {bool(figures['all_joined'])}, "
            f"{figures['virtual_s']:.0f} virtual s to the last join, "
            f"{figures['real_s']:.2f} real s (start + run), "
            f"{figures['log_lines']:.0f} guest log lines"
        )


if __name__ == "__main__":
    main()
