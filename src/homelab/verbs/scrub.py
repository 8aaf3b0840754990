"""Taking the secrets off Proxmox storage once the nodes joined: each seed swapped for its twin.

A VM's first boot needs its seed's secrets (a control plane: the cluster's CA keys and the
service-account key; every node: the bootstrap token), and the seed ISO lies on
``proxmox.iso_storage``, where anyone with ``Datastore.Audit`` can read it. Once the cluster
is healthy (every node Ready: every node ran its seed), ``up`` (and ``restore cluster``) calls
``scrub_seeds``, which for each VM of the lab whose CD-ROM still holds its secret seed:

1. uploads the seed's secret-free twin (``homelab-<lab>-<vm>-<digest12>-clean.iso``: the same
   meta-data, so the same instance-id and cloud-init never runs again on the VM; the same
   network-config; user-data without keys or tokens) through apply's journaled upload, skipped
   when that very ISO is there;
2. puts the twin in the CD-ROM drive (``ide2``), under the config digest just read: a media
   change on a running VM takes effect at once;
3. deletes the secret ISO (and any superseded seed of the VM).

Each step looks at what is there first, so a run cut short between any two of them is
finished by the next ``up``; meanwhile the plan counts the seed and its twin alike as "the seed
in place" (``homelab.core.plan.diff``), so it is never a replace. Adopted VMs (never seeded by
homelab) are left alone. No printing here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homelab.core.desired import SEED_DRIVE, DesiredVm, desired_vms, is_seed_volume_of
from homelab.core.observed import volume_filename
from homelab.core.ownership import lab_vms
from homelab.engine.apply import seeds
from homelab.engine.apply.progress import Silent
from homelab.engine.apply.runtime import Limits, Runtime
from homelab.engine.apply.steps import VmRef, verify_identity
from homelab.verbs.connection import Connection
from homelab.verbs.lab import LabContext
from homelab.verbs.provision import new_runtime

__all__ = ["SCRUBBED", "SeedScrub", "scrub_seeds"]

SCRUBBED = "scrubbed"
ALREADY = "already"
ADOPTED = "adopted"
NOT_CURRENT = "not its current seed"

Step = Callable[[str], None]


@dataclass(frozen=True)
class SeedScrub:
    """Per VM of the lab: ``scrubbed`` (its secret seed was replaced or deleted now),
    ``already`` (only its twin is there), ``adopted`` (never seeded by homelab: left alone),
    or ``not its current seed`` (its CD-ROM holds something else: left alone)."""

    vms: dict[str, str]

    @property
    def changed(self) -> bool:
        return SCRUBBED in self.vms.values()

    def to_dict(self) -> dict[str, str]:
        return dict(self.vms)


def scrub_seeds(
    conn: Connection, ctx: LabContext, step: Step, *, limits: Limits | None = None
) -> SeedScrub:
    """Swap every joined VM's secret seed ISO for its secret-free twin (module docstring)."""
    with ctx.store.lock(ctx.lab, purpose="scrub seeds"):
        rt = new_runtime(conn, ctx, Silent(), limits or Limits())
        wanted = desired_vms(ctx.spec, ctx.seed_digests)
        present = {
            vm.name: vm
            for vm in lab_vms(ctx.lab, conn.client.cluster_vms())
            if vm.name in wanted and vm.status == "running"
        }
        listings = _IsoListings(rt)
        states: dict[str, str] = {}
        for name, vm in present.items():
            ref = VmRef(name, vm.node, vm.vmid)
            states[name] = _scrub_one(rt, ref, wanted[name], step, listings)
        return SeedScrub(states)


class _IsoListings:
    """Each (node, ISO storage) listed once per scrub, however many VMs share it: a VM's
    leftovers are told apart by name, and a delete only removes that VM's own volumes."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.volids: dict[tuple[str, str], list[str]] = {}

    def __call__(self, node: str, storage: str) -> list[str]:
        key = (node, storage)
        if key not in self.volids:
            items = self.rt.client.storage_content(node, storage, "iso")
            self.volids[key] = [item.volid for item in items]
        return self.volids[key]


def _scrub_one(
    rt: Runtime, ref: VmRef, desired: DesiredVm, step: Step, listings: _IsoListings
) -> str:
    raw, config = verify_identity(rt, ref)
    if config.record is not None and config.record.adopted:
        return ADOPTED
    volid = raw.get(SEED_DRIVE, "").split(",", 1)[0]
    if volid == desired.seed_volid:
        step(f"{ref.name}: replacing its seed ISO with the secret-free {desired.clean_volume}")
        seeds.upload_seed(rt, ref, desired, clean=True)
        seeds.attach_seed(rt, ref, desired, clean=True)  # deletes the secret ISO after
        return SCRUBBED
    if volid != desired.clean_volid:
        return NOT_CURRENT
    left = [
        other
        for other in listings(ref.node, desired.iso_storage)
        if other != volid and is_seed_volume_of(desired.lab, ref.name, volume_filename(other))
    ]
    if not left:
        return ALREADY
    step(f"{ref.name}: deleting {', '.join(left)} (its twin is attached)")
    seeds.remove_seeds(rt, ref.node, desired.iso_storage, desired.lab, ref.name, keep=volid)
    return SCRUBBED
