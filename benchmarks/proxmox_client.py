"""Measure the Proxmox client's own costs, in one run, with no network.

* seed ISO: time to build one NoCloud ISO in memory with pycdlib, and its size;
* client overhead: time per API call through the whole stack (retry policy, request hooks,
  form encoding, envelope decoding, typed parsing) on httpx.MockTransport, i.e. what the client
  adds on top of the network round trip;
* requests per call: how many HTTP requests a clone + task wait costs when the task is
  finished at the first poll (counted with the request hook).

Run: .venv/bin/python benchmarks/proxmox_client.py
"""

from __future__ import annotations

import statistics
import time

import httpx

from homelab.core.secret import Secret
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ConnectionSettings
from homelab.engine.seediso import build_seed_iso

UPID = "UPID:pve1:0003A1F2:01B2C3D4:66A1B2C3:qmclone:9000:root@pam!bench:"
RESOURCES = [
    {
        "id": f"qemu/{vmid}",
        "type": "qemu",
        "node": "pve1",
        "vmid": vmid,
        "name": f"vm-{vmid}",
        "status": "running",
        "tags": "homelab;lab-home",
        "maxmem": 4294967296,
    }
    for vmid in range(200, 203)
]


def handle(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/cluster/resources"):
        return httpx.Response(200, json={"data": RESOURCES})
    if path.endswith("/clone"):
        return httpx.Response(200, json={"data": UPID})
    if path.endswith("/status"):
        return httpx.Response(200, json={"data": {"status": "stopped", "exitstatus": "OK"}})
    return httpx.Response(501, extensions={"reason_phrase": b"not implemented"})


def bench_seed_iso(runs: int = 50) -> None:
    user = b"#cloud-config\n" + b"write_files: []\n" * 200
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        image = build_seed_iso(user, b"instance-id: bench\n", b"version: 2\n")
        times.append(time.perf_counter() - start)
    print(
        f"seed ISO: median {statistics.median(times) * 1e3:.2f} ms per build "
        f"({runs} builds), {len(image)} bytes for {len(user)} bytes of user-data"
    )


def bench_client(calls: int = 2000) -> None:
    settings = ConnectionSettings("https://pve.bench:8006", "root@pam!bench", Secret("s3cr3t"))
    count = 0

    def counted(method: str, path: str) -> None:
        nonlocal count
        count += 1

    with PveClient(settings, transport=httpx.MockTransport(handle), on_request=counted) as pve:
        start = time.perf_counter()
        for _ in range(calls):
            pve.cluster_vms()
        elapsed = time.perf_counter() - start
        print(
            f"client overhead: {elapsed / calls * 1e6:.0f} us per cluster_vms() "
            f"({calls} calls, {count} requests)"
        )
        count = 0
        pve.wait_task(pve.clone("pve1", 9000, 201, name="vm-201", full=True))
        print(f"clone + wait_task (task done at first poll): {count} HTTP requests")


if __name__ == "__main__":
    bench_seed_iso()
    bench_client()
