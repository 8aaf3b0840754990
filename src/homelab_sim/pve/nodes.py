"""Nodes: GET /nodes and /nodes/{node}/status."""

from __future__ import annotations

from typing import Any

from homelab_sim.pve.cluster import VERSION, node_entry
from homelab_sim.pve.context import Ctx


def node_index(ctx: Ctx, p: dict[str, Any]) -> Any:
    out = []
    for node in ctx.state.nodes:
        entry = node_entry(ctx, node.node)
        entry.pop("cgroup-mode", None)
        entry["ssl_fingerprint"] = ctx.state.fingerprint or ""
        out.append(entry)
    return out


def node_status(ctx: Ctx, p: dict[str, Any]) -> Any:
    node = ctx.node(p["node"])
    running = [v for v in ctx.state.vms.values() if v.node == node.node and v.status == "running"]
    used = 2 * 1024**3 + sum(v.memory_bytes() for v in running)
    return {
        "cpu": 0.01 + 0.02 * len(running),
        "cpuinfo": {
            "cpus": node.maxcpu,
            "cores": node.maxcpu,
            "sockets": 1,
            "mhz": "3000.000",
            "model": "QEMU Virtual CPU (homelab simulator)",
            "hvm": "1",
            "flags": "",
        },
        "memory": {"total": node.maxmem, "used": used, "free": node.maxmem - used},
        "swap": {"total": 0, "used": 0, "free": 0},
        "rootfs": {
            "total": 100 * 1024**3,
            "used": 8 * 1024**3,
            "avail": 92 * 1024**3,
            "free": 92 * 1024**3,
        },
        "uptime": int(ctx.now() - node.boot_time),
        "loadavg": ["0.05", "0.10", "0.08"],
        "idle": 0,
        "wait": 0,
        "kversion": "Linux 6.8.12-4-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-4",
        "pveversion": f"pve-manager/{VERSION['version']}/{VERSION['repoid']}",
        "current-kernel": {
            "sysname": "Linux",
            "release": "6.8.12-4-pve",
            "machine": "x86_64",
            "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.8.12-4",
        },
        "boot-info": {"mode": "efi", "secureboot": 0},
        "ksm": {"shared": 0},
    }


def node_time(ctx: Ctx, p: dict[str, Any]) -> Any:
    """API2/Nodes.pm ``time``: the node's clock (the simulated nodes run in UTC)."""
    ctx.node(p["node"])
    now = int(ctx.now())
    return {"time": now, "localtime": now, "timezone": "UTC"}


ROUTES = {
    ("GET", "/nodes"): node_index,
    ("GET", "/nodes/{node}/status"): node_status,
    ("GET", "/nodes/{node}/time"): node_time,
}
