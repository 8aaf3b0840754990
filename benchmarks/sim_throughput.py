"""Requests per second of GET /cluster/resources with 200 VMs, over HTTPS on loopback.

Starts `homelab sim serve --port 0` in a subprocess (so client and server do not share a GIL),
pins its certificate by fingerprint, clones the template 200 times through the API, then times
a keep-alive client doing GET /cluster/resources. Goal: >= 1,000 req/s.

The headline client is the standard library's ``http.client`` with one kept-alive connection,
so that the figure measures the server rather than the client. For scale it also prints the
same loop with an httpx keep-alive client (about twice the client-side cost per request on
this machine) and through ``SimTransport`` (in-process, no sockets: the simulator's own cost).

    .venv/bin/python benchmarks/sim_throughput.py [--vms 200] [--requests 3000]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import ssl
import subprocess
import sys
import time
from typing import Any

import httpx

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.transport import SimTransport


def pinned_context(endpoint: str, fingerprint: str) -> ssl.SSLContext:
    host, port = endpoint.removeprefix("https://").split(":")
    pem = ssl.get_server_certificate((host, int(port)))
    der = ssl.PEM_cert_to_DER_cert(pem)
    got = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    if got != fingerprint:
        raise SystemExit(f"certificate fingerprint mismatch: {got} != {fingerprint}")
    return ssl.create_default_context(cadata=pem)


def start() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "homelab", "sim", "serve", "--port", "0", "--time-scale", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def populate(client: httpx.Client, count: int) -> None:
    for index in range(count):
        newid = 100 + index
        r = client.post("/nodes/pve/qemu/9000/clone", data={"newid": newid, "name": f"vm-{newid}"})
        r.raise_for_status()
    client.post("/_sim/clock", data={"advance": 60}).raise_for_status()


def timed(client: httpx.Client, count: int) -> float:
    for _ in range(100):  # warm-up
        client.get("/cluster/resources").raise_for_status()
    start_t = time.perf_counter()
    for _ in range(count):
        client.get("/cluster/resources").raise_for_status()
    return count / (time.perf_counter() - start_t)


def with_http_client(endpoint: str, context: ssl.SSLContext, token: str, count: int) -> float:
    host, port = endpoint.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=context)
    headers = {"Authorization": f"PVEAPIToken={token}"}

    def get() -> None:
        conn.request("GET", "/api2/json/cluster/resources", headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status

    try:
        for _ in range(100):
            get()
        start_t = time.perf_counter()
        for _ in range(count):
            get()
        return count / (time.perf_counter() - start_t)
    finally:
        conn.close()


def in_process(vms: int, count: int) -> float:
    sim = PveSimulator(SimConfig(time_scale=1))
    headers = {"Authorization": f"PVEAPIToken={sim.token.reveal()}"}
    with httpx.Client(
        transport=SimTransport(sim), base_url="https://127.0.0.1:8006/api2/json", headers=headers
    ) as client:
        populate(client, vms)
        return timed(client, count)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    proc, ready = start()
    try:
        context = pinned_context(ready["endpoint"], ready["fingerprint"])
        headers = {"Authorization": f"PVEAPIToken={ready['token']}"}
        with httpx.Client(
            base_url=ready["endpoint"] + "/api2/json", verify=context, headers=headers
        ) as client:
            populate(client, args.vms)
            listed = client.get("/cluster/resources", params={"type": "vm"}).json()["data"]
            assert len(listed) >= args.vms, len(listed)
            rate = timed(client, args.requests)
        light = with_http_client(ready["endpoint"], context, ready["token"], args.requests)
        verdict = "met" if light >= 1000 else "NOT met"
        print(
            f"GET /cluster/resources, {len(listed)} VMs, HTTPS keep-alive on loopback "
            f"(http.client): {light:,.0f} req/s over {args.requests} requests "
            f"(goal >= 1,000: {verdict})"
        )
        print(
            f"same loop with an httpx keep-alive client: {rate:,.0f} req/s "
            "(httpx's own per-request cost bounds this one; it shares the 2 cores)"
        )
        local = in_process(args.vms, args.requests)
        print(f"same loop in-process through SimTransport (no sockets): {local:,.0f} req/s")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
