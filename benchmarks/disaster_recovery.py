"""Disaster recovery of the reference lab on the simulator, two ways, in one run:

1. every VM destroyed, then each restored from its backup (``homelab restore vm``, one after
   another) until every node is Ready again; virtual seconds against the critical path of the
   tasks (per VM: the restore, its start and the boot to its guest agent, one VM after another);
2. every VM destroyed, then ``homelab restore cluster --etcd`` (fresh VMs from the spec, the
   snapshot restored into etcd, every node Ready); virtual seconds against those of ``homelab
   up`` building the same lab from nothing in the same run (the rebuild's floor: the restore
   adds the etcd steps to it).

    .venv/bin/python benchmarks/disaster_recovery.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.up.simlab import Upped, copy_example, destroy_everything, upped  # noqa: E402

from homelab.simulated.site import SimulatedSite  # noqa: E402
from homelab.verbs.backup import backup_now  # noqa: E402
from homelab.verbs.etcd import backup_etcd, open_snapshot  # noqa: E402
from homelab.verbs.etcd_restore import restore_cluster  # noqa: E402
from homelab.verbs.restore import restore_vm  # noqa: E402
from homelab.verbs.up import up_lab  # noqa: E402
from homelab_sim.guest.model import BOOT_TO_AGENT  # noqa: E402
from homelab_sim.pve import latency  # noqa: E402

BACKUP = "\nbackup:\n  storage: {existing: local}\n"
DISK = 32 * 1024**3


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = copy_example("home-lab.yaml", Path(tmp))
        spec.write_text(spec.read_text() + BACKUP)
        with upped(spec) as lab:
            site = lab.conn.site
            assert isinstance(site, SimulatedSite)
            assert backup_now(lab.conn, lab.ctx).ok
            client = lab.conn.client
            for guest in client.cluster_vms():
                if guest.name in lab.ctx.spec.vms:
                    client.wait_task(client.stop(guest.node, guest.vmid))
                    client.wait_task(client.destroy(guest.node, guest.vmid))
            start_v, start_r = site.advance_clock(0), time.perf_counter()
            for name in lab.ctx.spec.vms:
                restore_vm(lab.conn, lab.ctx, name)
            restored_v = site.advance_clock(0)
            while True:
                with lab.api() as api:
                    ready = [
                        n
                        for n in api.nodes()
                        if any(
                            c["type"] == "Ready" and c["status"] == "True"
                            for c in n["status"]["conditions"]
                        )
                    ]
                if len(ready) == len(lab.ctx.spec.vms):
                    break
                site.advance_clock(1)
            done_v, real = site.advance_clock(0), time.perf_counter() - start_r
            path = len(lab.ctx.spec.vms) * (latency.vzdump(DISK) + latency.START + BOOT_TO_AGENT)
            print(
                f"restore of {len(lab.ctx.spec.vms)} VMs: {restored_v - start_v:6.1f} s virtual, "
                f"every node Ready after {done_v - start_v:6.1f} s ({real:.1f} s real); critical "
                f"path {path:6.1f} s, ratio {(restored_v - start_v) / path:.2f}"
            )

            _rebuild_from_etcd(lab, site)


def _rebuild_from_etcd(lab: Upped, site: SimulatedSite) -> None:
    snapshot = open_snapshot(lab.ctx, backup_etcd(lab.conn, lab.ctx).path)
    destroy_everything(lab)
    start_v = site.advance_clock(0)
    up_lab(lab.conn, lab.ctx, confirm=lambda _plan: True)
    up_v = site.advance_clock(0) - start_v
    destroy_everything(lab)
    start_v, start_r = site.advance_clock(0), time.perf_counter()
    outcome = restore_cluster(lab.conn, lab.ctx, snapshot, confirm=lambda _plan: True)
    restore_v, real = site.advance_clock(0) - start_v, time.perf_counter() - start_r
    print(
        f"restore cluster --etcd of {len(outcome.nodes_ready)} fresh VMs: {restore_v:6.1f} s "
        f"virtual ({real:.1f} s real); up from nothing {up_v:6.1f} s; ratio "
        f"{restore_v / up_v:.2f}"
    )


if __name__ == "__main__":
    main()
