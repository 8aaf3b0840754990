"""Seed ISO steps: build and upload a VM's NoCloud ISO, attach it, delete superseded ones.

The upload is journaled (``seed/<node>/<volid>``) before it starts and the entry removed once the
ISO is attached, so an ISO whose VM never got it is found and deleted by the next run. Uploads and
deletes are the client's (``upload_iso``, ``delete_volume``, which waits until the volume is really
gone), with apply's task waits.
"""

from __future__ import annotations

import hashlib
from typing import Any

from homelab.core.desired import DesiredVm, is_seed_volume_of
from homelab.core.observed import volume_filename
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import VmRef, verify_identity
from homelab.engine.apply.vmconfig import seed_attached, seed_drive_value
from homelab.engine.seediso import build_seed_iso

__all__ = ["attach_seed", "delete_volume", "remove_seeds", "seed_key", "upload_seed"]


def upload_seed(rt: Runtime, ref: VmRef, desired: DesiredVm) -> None:
    """Build the NoCloud ISO and upload it to ``iso_storage`` unless this very ISO is there.

    Whether it is there is decided by its SHA-256, not its size (a seed of the same size may
    hold other bytes, e.g. another token): only an upload this journal recorded as done, with
    the same digest, and still listed at that size is kept; anything else is uploaded again
    (PVE replaces the file), with the digest for PVE to verify.
    """
    seed = rt.seeds[desired.name]
    data = build_seed_iso(seed.user_data, seed.meta_data, seed.network_config)
    digest = hashlib.sha256(data).hexdigest()
    key = seed_key(ref.node, desired.seed_volid)
    if rt.journal.all().get(key, {}).get("uploaded") == digest:
        sizes = {
            item.volid: item.size
            for item in rt.client.storage_content(ref.node, desired.iso_storage, "iso")
        }
        if sizes.get(desired.seed_volid) == len(data):
            return
    intent = _seed_intent(ref, desired)
    rt.journal.put(key, intent)
    with rt.node_slot(ref.node):
        rt.client.upload_iso(
            ref.node, desired.iso_storage, desired.seed_volume, data, rt.limits.task_waits
        )
    rt.journal.put(key, {**intent, "uploaded": digest})


def seed_key(node: str, volid: str) -> str:
    return f"seed/{node}/{volid}"


def _seed_intent(ref: VmRef, desired: DesiredVm) -> dict[str, Any]:
    return {
        "op": "seed",
        "vm": ref.name,
        "node": ref.node,
        "storage": desired.iso_storage,
        "volid": desired.seed_volid,
    }


def attach_seed(rt: Runtime, ref: VmRef, desired: DesiredVm) -> None:
    """Put the seed ISO in the VM's CD-ROM drive, then delete this VM's superseded seeds."""
    raw, _ = verify_identity(rt, ref)
    if not seed_attached(raw, desired.seed_volid):
        with rt.node_slot(ref.node):
            rt.client.update_config(ref.node, ref.vmid, ide2=seed_drive_value(desired.seed_volid))
    rt.journal.remove(seed_key(ref.node, desired.seed_volid))
    remove_seeds(rt, ref.node, desired.iso_storage, desired.lab, ref.name, keep=desired.seed_volid)


def remove_seeds(
    rt: Runtime, node: str, storage: str, lab: str, vm: str, *, keep: str | None = None
) -> list[str]:
    """Delete the seed ISOs of ``vm`` on ``node`` except ``keep``; returns what was deleted."""
    deleted: list[str] = []
    for item in rt.client.storage_content(node, storage, "iso"):
        if item.volid == keep or not is_seed_volume_of(lab, vm, volume_filename(item.volid)):
            continue
        if delete_volume(rt, node, storage, item.volid):
            deleted.append(item.volid)
    return deleted


def delete_volume(rt: Runtime, node: str, storage: str, volid: str) -> bool:
    """Delete a volume with apply's task waits and wait until it is gone; False if it was not
    there (``PveClient.delete_volume``)."""
    return rt.client.delete_volume(node, storage, volid, rt.limits.task_waits)
