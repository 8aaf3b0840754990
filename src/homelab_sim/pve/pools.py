"""Resource pools: GET/POST /pools, GET/PUT/DELETE /pools/{poolid}."""

from __future__ import annotations

from typing import Any

from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail
from homelab_sim.pve.qemu_config import split_list
from homelab_sim.pve.state import Pool


def _pool(ctx: Ctx, poolid: str) -> Pool:
    pool = ctx.state.pools.get(poolid)
    if pool is None:
        raise fail(f"pool '{poolid}' does not exist")
    return pool


def _members(ctx: Ctx, pool: Pool, kind: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if kind in {None, "qemu"}:
        for vmid in pool.vms:
            vm = ctx.state.vms.get(vmid)
            if vm is not None:
                out.append(
                    {
                        "id": f"qemu/{vmid}",
                        "type": "qemu",
                        "vmid": vmid,
                        "node": vm.node,
                        "name": vm.name(),
                        "status": vm.status,
                    }
                )
    if kind in {None, "storage"}:
        for storage in pool.storage:
            for node in ctx.state.nodes:
                out.append(
                    {
                        "id": f"storage/{node.node}/{storage}",
                        "type": "storage",
                        "storage": storage,
                        "node": node.node,
                    }
                )
    return out


def pool_index(ctx: Ctx, p: dict[str, Any]) -> Any:
    pools = sorted(ctx.state.pools.values(), key=lambda x: x.poolid)
    if "poolid" in p:
        pools = [_pool(ctx, str(p["poolid"]))]
    out = []
    for pool in pools:
        if not ctx.can(f"/pool/{pool.poolid}", "Pool.Audit"):
            continue
        item: dict[str, Any] = {"poolid": pool.poolid}
        if pool.comment is not None:
            item["comment"] = pool.comment
        if "poolid" in p:
            item["members"] = _members(ctx, pool, p.get("type"))
        out.append(item)
    return out


def pool_create(ctx: Ctx, p: dict[str, Any]) -> None:
    poolid = str(p["poolid"])
    if poolid in ctx.state.pools:
        raise fail(f"create pool failed: pool '{poolid}' already exists")
    ctx.state.pools[poolid] = Pool(poolid=poolid, comment=p.get("comment"))
    ctx.changed = True


def pool_update(ctx: Ctx, p: dict[str, Any]) -> None:
    pool = _pool(ctx, str(p["poolid"]))
    if "comment" in p:
        pool.comment = str(p["comment"])
    remove = bool(p.get("delete"))
    for vmid in (int(v) for v in split_list(p.get("vms"))):
        _update_vm(ctx, pool, vmid, remove=remove, allow_move=bool(p.get("allow-move")))
    for storage in split_list(p.get("storage")):
        if remove and storage in pool.storage:
            pool.storage.remove(storage)
        elif not remove and storage not in pool.storage:
            if ctx.state.storage(storage) is None:
                raise fail(f"storage '{storage}' does not exist")
            pool.storage.append(storage)
    ctx.changed = True


def _update_vm(ctx: Ctx, pool: Pool, vmid: int, *, remove: bool, allow_move: bool) -> None:
    vm = ctx.state.vms.get(vmid)
    if vm is None:
        raise fail(f"no such VMID '{vmid}'")
    if remove:
        if vmid in pool.vms:
            pool.vms.remove(vmid)
            vm.pool = None
        return
    if vm.pool and vm.pool != pool.poolid:
        if not allow_move:
            raise fail(f"VM {vmid} belongs already to pool '{vm.pool}'")
        ctx.state.pools[vm.pool].vms.remove(vmid)
    if vmid not in pool.vms:
        pool.vms.append(vmid)
    vm.pool = pool.poolid


def pool_delete(ctx: Ctx, p: dict[str, Any]) -> None:
    pool = _pool(ctx, str(p["poolid"]))
    if pool.vms or pool.storage:
        raise fail("pool is not empty (cannot delete)")
    del ctx.state.pools[pool.poolid]
    ctx.changed = True


def pool_read(ctx: Ctx, p: dict[str, Any]) -> Any:
    pool = _pool(ctx, str(p["poolid"]))
    out: dict[str, Any] = {"members": _members(ctx, pool, p.get("type"))}
    if pool.comment is not None:
        out["comment"] = pool.comment
    return out


ROUTES = {
    ("GET", "/pools/{poolid}"): pool_read,
    ("PUT", "/pools/{poolid}"): pool_update,
    ("DELETE", "/pools/{poolid}"): pool_delete,
    ("GET", "/pools"): pool_index,
    ("POST", "/pools"): pool_create,
}
