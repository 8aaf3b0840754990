"""Containers, read side: GET /nodes/{node}/lxc and /nodes/{node}/lxc/{vmid}/config
(pve-container ``API2/LXC.pm`` ``vmlist`` and ``API2/LXC/Config.pm``).

The simulator models a container only as far as other guests and monitoring need it
(``state.Container``: created by ``POST /_sim/lxc``): the list carries what
``PVE::LXC::vmstatus`` reports for a stopped or running container without a live cgroup to
read (usage 0, sizes from the config), filtered by ``VM.Audit`` on ``/vms/<vmid>`` as the
handler does; the config is the one such a container was made with. The sizes agree with
``/cluster/resources``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail
from homelab_sim.pve.state import Container

MEMORY_MB = 512
ROOTFS_GB = 8


def _config(ct: Container) -> dict[str, Any]:
    config: dict[str, Any] = {
        "arch": "amd64",
        "cores": 1,
        "hostname": ct.name,
        "memory": MEMORY_MB,
        "ostype": "debian",
        "rootfs": f"local-lvm:vm-{ct.vmid}-disk-0,size={ROOTFS_GB}G",
        "swap": MEMORY_MB,
    }
    if ct.tags:
        config["tags"] = ct.tags
    return config


def _digest(config: dict[str, Any]) -> str:
    text = "".join(f"{key}: {value}\n" for key, value in sorted(config.items()))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def ct_list(ctx: Ctx, p: dict[str, Any]) -> Any:
    ctx.node(p["node"])
    out = []
    for ct in sorted(ctx.state.containers.values(), key=lambda c: c.vmid):
        if ct.node != p["node"] or not ctx.can(f"/vms/{ct.vmid}", "VM.Audit"):
            continue
        entry: dict[str, Any] = {
            "vmid": ct.vmid,
            "type": "lxc",
            "name": ct.name,
            "status": ct.status,
            "cpus": 1,
            "cpu": 0,
            "mem": 0,
            "maxmem": MEMORY_MB * 1024**2,
            "swap": 0,
            "maxswap": MEMORY_MB * 1024**2,
            "disk": 0,
            "maxdisk": ROOTFS_GB * 1024**3,
            "uptime": 0,
            "netin": 0,
            "netout": 0,
            "diskread": 0,
            "diskwrite": 0,
        }
        if ct.tags:
            entry["tags"] = ct.tags
        out.append(entry)
    return out


def ct_config(ctx: Ctx, p: dict[str, Any]) -> Any:
    node, vmid = str(p["node"]), int(p["vmid"])
    ctx.node(node)
    ct = ctx.state.containers.get(vmid)
    if ct is None or ct.node != node:
        raise fail(f"Configuration file 'nodes/{node}/lxc/{vmid}.conf' does not exist")
    if p.get("snapshot"):
        raise fail(f"snapshot '{p['snapshot']}' does not exist")
    config = _config(ct)
    config["digest"] = _digest(config)
    return config


ROUTES = {
    ("GET", "/nodes/{node}/lxc"): ct_list,
    ("GET", "/nodes/{node}/lxc/{vmid}/config"): ct_config,
}
