"""Seed ISO steps: build and upload a VM's NoCloud ISO, attach it, delete superseded ones.

The upload is journaled (``seed/<node>/<volid>``) before it starts and the entry removed once the
ISO is attached, so an ISO whose VM never got it is found and deleted by the next run. Uploads and
deletes are the client's (``upload_iso``, ``delete_volume``, which waits until the volume is really
gone), with apply's task waits.
"""

from __future__ import annotations

import hashlib
from typing import Any

from homelab.core.desired import SEED_DRIVE, DesiredVm, is_clean_volume, is_seed_volume_of
from homelab.core.observed import volume_filename
from homelab.core.render.artifacts import NodeSeed
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import CONFIG_WRITE_ATTEMPTS, VmRef, verify_identity
from homelab.engine.apply.vmconfig import seed_attached, seed_drive_value
from homelab.engine.proxmox.errors import ConfigModified
from homelab.engine.seediso import build_seed_iso
from homelab.errors import LabError

__all__ = [
    "attach_seed",
    "delete_volume",
    "holds_twin",
    "remove_seeds",
    "seed_files",
    "seed_key",
    "target",
    "upload_seed",
]


def upload_seed(rt: Runtime, ref: VmRef, desired: DesiredVm, *, clean: bool = False) -> None:
    """Build the NoCloud ISO and upload it to ``iso_storage`` unless this very ISO is there;
    ``clean``: the seed's secret-free twin (``desired.clean_volume``) instead.

    Whether it is there is decided by its SHA-256, not its size (a seed of the same size may
    hold other bytes, e.g. another token): only an upload this journal recorded as done, with
    the same digest, and still listed at that size is kept; anything else is uploaded again
    (PVE replaces the file), with the digest for PVE to verify.
    """
    seed = seed_files(rt, desired, clean=clean)
    volume, volid = target(desired, clean=clean)
    data = build_seed_iso(seed.user_data, seed.meta_data, seed.network_config)
    digest = hashlib.sha256(data).hexdigest()
    key = seed_key(ref.node, volid)
    if rt.journal.all().get(key, {}).get("uploaded") == digest:
        sizes = {
            item.volid: item.size
            for item in rt.client.storage_content(ref.node, desired.iso_storage, "iso")
        }
        if sizes.get(volid) == len(data):
            return
    intent = _seed_intent(ref, desired, volid)
    rt.journal.put(key, intent)
    with rt.node_slot(ref.node):
        rt.client.upload_iso(ref.node, desired.iso_storage, volume, data, rt.limits.task_waits)
    rt.journal.put(key, {**intent, "uploaded": digest})


def seed_files(rt: Runtime, desired: DesiredVm, *, clean: bool = False) -> NodeSeed:
    """The rendered seed of ``desired``, or its secret-free twin."""
    seed = rt.seeds[desired.name]
    if not clean:
        return seed
    if seed.clean is None:
        raise LabError(f"vm {desired.name}: its seed was rendered without a secret-free twin")
    return seed.clean


def target(desired: DesiredVm, *, clean: bool = False) -> tuple[str, str]:
    """(volume name, volume id) of the seed, or of its twin."""
    if clean:
        return desired.clean_volume, desired.clean_volid
    return desired.seed_volume, desired.seed_volid


def seed_key(node: str, volid: str) -> str:
    return f"seed/{node}/{volid}"


def _seed_intent(ref: VmRef, desired: DesiredVm, volid: str) -> dict[str, Any]:
    return {
        "op": "seed",
        "vm": ref.name,
        "node": ref.node,
        "storage": desired.iso_storage,
        "volid": volid,
    }


def attach_seed(rt: Runtime, ref: VmRef, desired: DesiredVm, *, clean: bool = False) -> None:
    """Put the seed ISO (``clean``: its twin) in the VM's CD-ROM drive, then delete this VM's
    other seed ISOs (superseded ones, and with ``clean`` the secret seed itself).

    The drive is changed under the config digest just read: a CD-ROM media change takes
    effect at once on a running VM (qemu-server changes the medium live)."""
    _, volid = target(desired, clean=clean)
    for attempt in range(CONFIG_WRITE_ATTEMPTS):
        raw, config = verify_identity(rt, ref)
        if seed_attached(raw, volid):
            break
        try:
            with rt.node_slot(ref.node):
                rt.client.update_config(
                    ref.node, ref.vmid, digest=config.digest, ide2=seed_drive_value(volid)
                )
            break
        except ConfigModified:
            # written meanwhile (or a retried PUT's first try went through): read again
            if attempt + 1 == CONFIG_WRITE_ATTEMPTS:
                raise
    rt.journal.remove(seed_key(ref.node, volid))
    remove_seeds(rt, ref.node, desired.iso_storage, desired.lab, ref.name, keep=volid)


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


def holds_twin(rt: Runtime, ref: VmRef) -> bool:
    """Whether the VM's CD-ROM holds a secret-free twin of one of its seeds: the VM ran its
    seed and joined, so a reseed of it puts the twin of the new seed there, never secrets."""
    raw, _ = verify_identity(rt, ref)
    volid = raw.get(SEED_DRIVE, "").split(",", 1)[0]
    name = volume_filename(volid)
    return is_seed_volume_of(rt.lab, ref.name, name) and is_clean_volume(name)
