"""A Proxmox snapshot of each control-plane VM before the rollout: the way back for its disks.

``POST /nodes/{node}/qemu/{vmid}/snapshot`` (``snapname``: a letter, then letters, digits,
``-`` and ``_``, at most 40 characters; without ``vmstate``, the disks only), waited for as a
task. A snapshot of that name already there (a rerun) counts as taken. Going back is ``qm
rollback VMID NAME`` or the web UI's Snapshots > Rollback, with the VM's etcd snapshot.
"""

from __future__ import annotations

from homelab.core.plan.upgrade import UpgradeStep, snapshot_name
from homelab.engine.proxmox.client import PveClient

__all__ = ["snapshot_name", "take_snapshots"]


def take_snapshots(client: PveClient, steps: list[UpgradeStep], name: str) -> list[str]:
    """Snapshot every control plane of ``steps``; returns ``vm@name`` for each."""
    taken = []
    for step in steps:
        base = f"/nodes/{step.node}/qemu/{step.vmid}/snapshot"
        existing = {str(s.get("name")) for s in client.session.get(base) or []}
        if name not in existing:
            upid = client.session.post(
                base, snapname=name, description=f"homelab: before the upgrade to {step.to_version}"
            )
            client.wait_task(str(upid))
        taken.append(f"{step.vm}@{name}")
    return taken
