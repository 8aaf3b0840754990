"""Storage volumes: allocation with PVE's naming, lookup, freeing, and storage checks."""

from __future__ import annotations

from homelab_sim.pve import drives
from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail
from homelab_sim.pve.state import StorageDef, Vm, Volume, volume_key


def check_storage(ctx: Ctx, node: str, storage_id: str, content: str | None = None) -> StorageDef:
    """The storage, enabled on ``node`` and (optionally) allowing ``content``."""
    storage = ctx.state.storage(storage_id)
    if storage is None:
        raise fail(f"storage '{storage_id}' does not exist")
    if not storage.on_node(node):
        raise fail(f"storage '{storage_id}' is not available on node '{node}'")
    if content is not None and content not in storage.content:
        raise fail(f"storage '{storage_id}' does not support content-type '{content}'")
    return storage


def find_volume(ctx: Ctx, node: str, volid: str) -> Volume | None:
    storage = ctx.state.storage(volid.partition(":")[0])
    if storage is None:
        return None
    return ctx.state.volumes.get(volume_key(node, storage, volid))


def add_volume(ctx: Ctx, volume: Volume) -> Volume:
    storage = ctx.state.storage(volume.storage)
    assert storage is not None
    ctx.state.volumes[volume_key(volume.node, storage, volume.volid)] = volume
    ctx.changed = True
    return volume


def free_volume(ctx: Ctx, node: str, volid: str) -> bool:
    storage = ctx.state.storage(volid.partition(":")[0])
    if storage is None:
        return False
    removed = ctx.state.volumes.pop(volume_key(node, storage, volid), None)
    if removed is not None and removed.blob and not _blob_used(ctx, removed.blob):
        ctx.blobs.pop(removed.blob, None)
    ctx.changed = True
    return removed is not None


def _blob_used(ctx: Ctx, blob: str) -> bool:
    return any(v.blob == blob for v in ctx.state.volumes.values())


def alloc_disk(
    ctx: Ctx,
    node: str,
    storage_id: str,
    vmid: int,
    size: int,
    *,
    fmt: str | None = None,
    base: str | None = None,
    kind: str = "disk",
) -> Volume:
    """A new image volume named as the storage plugin would (``vm-<vmid>-disk-<n>``)."""
    storage = check_storage(ctx, node, storage_id, "images")
    taken = {v.volid for v in ctx.state.volumes.values() if v.storage == storage_id}
    for index in range(0, 10000):
        name = f"vm-{vmid}-cloudinit" if kind == "cloudinit" else f"vm-{vmid}-disk-{index}"
        if storage.type in {"dir", "nfs", "cifs"}:
            fmt = fmt or "qcow2"
            volid = f"{storage_id}:{vmid}/{name}.{fmt}"
        else:
            fmt = "raw"
            volid = f"{storage_id}:{name}"
        if volid not in taken:
            break
    else:  # pragma: no cover - ten thousand disks on one VM
        raise fail(f"unable to allocate an image name for VM {vmid} in storage '{storage_id}'")
    if kind == "cloudinit" and volid in taken:
        raise fail(f"volume '{volid}' already exists")
    volume = Volume(
        volid=volid,
        storage=storage_id,
        node=node,
        content="images",
        size=size,
        format=fmt,
        vmid=vmid,
        ctime=int(ctx.now()),
        base=base,
    )
    return add_volume(ctx, volume)


def boot_disk_size(ctx: Ctx, vm: Vm) -> int:
    for key, value in vm.config.items():
        if isinstance(value, str) and drives.is_disk(key, value):
            volume = find_volume(ctx, vm.node, drives.parse_drive(value)[0])
            return volume.size if volume else 0
    return 0
