"""Cluster-wide reads: /version, /cluster/status, /cluster/resources, /cluster/nextid, /storage.

``/cluster/resources`` reports guest status as pvestatd last broadcast it (every 10 virtual
seconds): a VM created since then is listed with ``status: unknown`` and no name, and a power
change shows up at the next broadcast (BEHAVIOUR §11). ``/status/current`` is the live truth.
"""

from __future__ import annotations

import json
from typing import Any

from homelab_sim.pve.context import Ctx, Result
from homelab_sim.pve.errors import fail, param_fail
from homelab_sim.pve.state import Container, Vm
from homelab_sim.pve.volumes import boot_disk_size

VERSION = {"version": "8.4.1", "release": "8.4", "repoid": "2a5fa54a"}
# pve-manager's version per simulated major (repoid: the short commit of its version bump)
VERSIONS = {8: VERSION, 9: {"version": "9.0.18", "release": "9.0", "repoid": "5cacb35d"}}
BROADCAST = 10.0
NEXTID_LOWER, NEXTID_UPPER = 100, 1_000_000


def version(ctx: Ctx, p: dict[str, Any]) -> Any:
    return dict(VERSIONS[ctx.state.pve_major])


def cluster_status(ctx: Ctx, p: dict[str, Any]) -> Any:
    nodes = ctx.state.nodes
    out: list[dict[str, Any]] = []
    if len(nodes) > 1:
        out.append(
            {
                "type": "cluster",
                "id": "cluster",
                "name": ctx.state.clustername,
                "nodes": len(nodes),
                "quorate": 1,
                "version": len(nodes) + 1,
            }
        )
    for index, node in enumerate(nodes):
        out.append(
            {
                "type": "node",
                "id": f"node/{node.node}",
                "name": node.node,
                "nodeid": node.nodeid,
                "online": 1,
                "local": 1 if index == 0 else 0,
                "ip": node.ip,
                "level": "",
            }
        )
    return out


def nextid(ctx: Ctx, p: dict[str, Any]) -> Any:
    taken = set(ctx.state.vms) | set(ctx.state.containers)
    if "vmid" in p:
        vmid = int(p["vmid"])
        if vmid in taken:
            raise param_fail({"vmid": f"VM {vmid} already exists"})
        return str(vmid)
    for vmid in range(NEXTID_LOWER, NEXTID_UPPER):
        if vmid not in taken:
            return str(vmid)
    raise param_fail({"vmid": "unable to get any free VMID in range [100, 1000000)"})


def resources(ctx: Ctx, p: dict[str, Any]) -> Result:
    """Cached per state generation and broadcast slot: observers poll this a lot."""
    seen = ctx.now() // BROADCAST * BROADCAST
    key = ("resources", ctx.generation, seen, ctx.ident, p.get("type"))
    cached = ctx.cache.get(key)
    if cached is None:
        if len(ctx.cache) > 64:  # one entry per broadcast slot while nothing changes
            ctx.cache.clear()
        data = _resources(ctx, p.get("type"), seen)
        cached = ctx.cache[key] = json.dumps(data, separators=(",", ":")).encode()
    return Result(None, raw=cached)


def _resources(ctx: Ctx, kind: str | None, seen: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if kind in {None, "node"}:
        out += [node_entry(ctx, n.node) for n in ctx.state.nodes]
    if kind in {None, "storage"}:
        out += _storage_entries(ctx)
    if kind in {None, "vm"}:
        out += [
            _vm_entry(ctx, vm, seen)
            for vm in sorted(ctx.state.vms.values(), key=lambda v: v.vmid)
            if ctx.can(f"/vms/{vm.vmid}", "VM.Audit")
        ]
        out += [
            _ct_entry(ct)
            for ct in sorted(ctx.state.containers.values(), key=lambda c: c.vmid)
            if ctx.can(f"/vms/{ct.vmid}", "VM.Audit")
        ]
    if kind is None:
        out += [
            {"id": f"/pool/{pool.poolid}", "type": "pool", "pool": pool.poolid}
            for pool in ctx.state.pools.values()
        ]
    return out


def node_entry(ctx: Ctx, name: str) -> dict[str, Any]:
    """A node as /cluster/resources lists it (GET /nodes adds the certificate fingerprint)."""
    node = ctx.node(name)
    running = [v for v in ctx.state.vms.values() if v.node == name and v.status == "running"]
    entry: dict[str, Any] = {
        "id": f"node/{name}",
        "type": "node",
        "node": name,
        "status": "online",
        "level": "",
        "maxcpu": node.maxcpu,
        "cpu": 0.01 + 0.02 * len(running),
        "maxmem": node.maxmem,
        "mem": 2 * 1024**3 + sum(v.memory_bytes() for v in running),
        "maxdisk": 100 * 1024**3,
        "disk": 8 * 1024**3,
        "uptime": int(ctx.now() - node.boot_time),
        "cgroup-mode": 2,
    }
    if not ctx.can(f"/nodes/{name}", "Sys.Audit"):
        # pve-manager extract_node_stats(..., !$can_audit): no stats without Sys.Audit.
        for key in ("maxcpu", "cpu", "maxmem", "mem", "maxdisk", "disk", "uptime"):
            del entry[key]
    return entry


def _storage_entries(ctx: Ctx) -> list[dict[str, Any]]:
    out = []
    for node in ctx.state.nodes:
        for storage in ctx.state.storages:
            if not storage.on_node(node.node) or not ctx.can(
                f"/storage/{storage.storage}", "Datastore.Audit"
            ):
                continue
            used = sum(v.size for v in ctx.state.volumes_on(node.node, storage.storage))
            out.append(
                {
                    "id": f"storage/{node.node}/{storage.storage}",
                    "type": "storage",
                    "storage": storage.storage,
                    "node": node.node,
                    "status": "available",
                    "plugintype": storage.type,
                    "content": ",".join(storage.content),
                    "shared": int(storage.shared),
                    "maxdisk": storage.total,
                    "disk": used,
                }
            )
    return out


def _ct_entry(ct: Container) -> dict[str, Any]:
    """An LXC guest as /cluster/resources?type=vm lists it, beside the QEMU ones."""
    entry: dict[str, Any] = {
        "id": f"lxc/{ct.vmid}",
        "type": "lxc",
        "vmid": ct.vmid,
        "node": ct.node,
        "name": ct.name,
        "status": ct.status,
        "template": 0,
        "maxcpu": 1,
        "maxmem": 512 * 1024**2,
        "maxdisk": 8 * 1024**3,
    }
    if ct.tags:
        entry["tags"] = ct.tags
    return entry


def _vm_entry(ctx: Ctx, vm: Vm, seen: float) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": f"qemu/{vm.vmid}",
        "type": "qemu",
        "vmid": vm.vmid,
        "node": vm.node,
    }
    if vm.created_at > seen:
        entry["status"] = "unknown"
        return entry
    status = vm.status if vm.status_since <= seen else vm.prev_status
    running = status == "running"
    entry.update(
        {
            "name": vm.name(),
            "status": status,
            "template": int(vm.is_template()),
            "maxcpu": vm.vcpus(),
            "cpu": 0.02 if running else 0,
            "maxmem": vm.memory_bytes(),
            "mem": vm.memory_bytes() // 3 if running else 0,
            "maxdisk": boot_disk_size(ctx, vm),
            "disk": 0,
            "uptime": int(seen - (vm.started_at or seen)) if running else 0,
            "netin": 0,
            "netout": 0,
            "diskread": 0,
            "diskwrite": 0,
        }
    )
    for key in ("tags", "lock"):
        if key in vm.config:
            entry[key] = vm.config[key]
    if vm.pool:
        entry["pool"] = vm.pool
    return entry


def storage_index(ctx: Ctx, p: dict[str, Any]) -> Any:
    out = []
    for storage in ctx.state.storages:
        if "type" in p and storage.type != p["type"]:
            continue
        path = f"/storage/{storage.storage}"  # pve-storage: Audit or AllocateSpace lists it
        if not (ctx.can(path, "Datastore.Audit") or ctx.can(path, "Datastore.AllocateSpace")):
            continue
        item: dict[str, Any] = {
            "storage": storage.storage,
            "type": storage.type,
            "content": ",".join(storage.content),
            "digest": "0" * 40,
        }
        if storage.shared:
            item["shared"] = 1
        if storage.path:
            item["path"] = storage.path
        if storage.type == "lvmthin":
            item.update({"thinpool": "data", "vgname": "pve"})
        if storage.nodes:
            item["nodes"] = ",".join(storage.nodes)
        item.update(storage.pbs or {})  # never the password
        out.append(item)
    return out


def storage_read(ctx: Ctx, p: dict[str, Any]) -> Any:
    wanted = str(p["storage"])
    for item in storage_index(ctx, {}):
        if item["storage"] == wanted:
            return item
    raise fail(f"storage '{wanted}' does not exist")


ROUTES = {
    ("GET", "/storage/{storage}"): storage_read,
    ("GET", "/version"): version,
    ("GET", "/cluster/status"): cluster_status,
    ("GET", "/cluster/nextid"): nextid,
    ("GET", "/cluster/resources"): resources,
    ("GET", "/storage"): storage_index,
}
