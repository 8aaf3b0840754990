"""Backup, drill and restore of the reference lab on the simulator: virtual time against the
critical path of the tasks involved (the simulator's own latency table).

- ``backup now``: one vzdump task per node, its guests one after another, so the critical path
  is the node with the most disk to dump: ``latency.vzdump`` of its VMs' disks together.
- ``backup drill`` (all VMs, one after another by design: one scratch VM at a time): per VM a
  restore (``vzdump(disk)`` again), a start, the guest agent after boot, a stop and a destroy.
- ``restore vm`` of a worker as a copy: the restore task and a config change;
- ``restore vm --force`` of a worker: drain, shutdown, restore, start, agent, wait for Ready
  (apply's drain: the wait for Ready ends at the agent and ready timeouts).

The ratios say how much time homelab's own polling adds to what Proxmox takes. Goal <= 1.3.

    .venv/bin/python benchmarks/backup_restore.py [--scale 25]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.apply.support import FAST, guests, inprocess, new_sim, write_spec, yes  # noqa: E402

from homelab.verbs.backup import backup_now  # noqa: E402
from homelab.verbs.lab import prepare_lab  # noqa: E402
from homelab.verbs.provision import apply_lab  # noqa: E402
from homelab.verbs.restore import drill, restore_vm  # noqa: E402
from homelab_sim.guest.model import BOOT_TO_AGENT  # noqa: E402
from homelab_sim.pve import latency  # noqa: E402

BACKUP = {"storage": {"existing": "local"}}
UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _disk_bytes(drive: str) -> int:
    """``local-lvm:vm-200-disk-0,size=32G`` -> bytes."""
    size = next(opt for opt in drive.split(",") if opt.startswith("size="))[5:]
    return int(float(size[:-1]) * UNITS[size[-1]]) if size[-1] in UNITS else int(size)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=25.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = prepare_lab(write_spec(Path(tmp), {"backup": BACKUP}))
        sim = new_sim(scale=args.scale)
        conn = inprocess(sim, backups=True)
        outcome = apply_lab(conn, ctx, confirm=yes, limits=FAST)
        assert outcome.report is not None and outcome.report.ok

        disks: dict[str, int] = {}
        per_node: dict[str, int] = defaultdict(int)
        for vm in guests(sim):
            size = _disk_bytes(str(vm.config["scsi0"]))
            disks[str(vm.config["name"])] = size
            per_node[vm.node] += size
        path = max(latency.vzdump(size) for size in per_node.values())
        start_v, start_r = sim.clock.now(), time.perf_counter()
        run = backup_now(conn, ctx)
        elapsed, real = sim.clock.now() - start_v, time.perf_counter() - start_r
        assert run.ok and sum(len(a) for a in run.archives.values()) == len(disks)
        print(
            f"backup now, {len(disks)} VMs: {elapsed:6.1f} s virtual ({real:.1f} s real at "
            f"x{args.scale:g}), critical path {path:6.1f} s, ratio {elapsed / path:.2f}"
        )

        one = {
            name: latency.vzdump(size)
            + latency.START
            + BOOT_TO_AGENT
            + latency.STOP
            + latency.DESTROY
            for name, size in disks.items()
        }
        path = sum(one.values())
        start_v, start_r = sim.clock.now(), time.perf_counter()
        results = drill(conn, ctx, limits=FAST)
        elapsed, real = sim.clock.now() - start_v, time.perf_counter() - start_r
        assert all(r.ok for r in results), results
        print(
            f"drill, {len(results)} VMs one by one: {elapsed:6.1f} s virtual ({real:.1f} s real), "
            f"critical path {path:6.1f} s, ratio {elapsed / path:.2f}"
        )

        worker = "k8s-worker-3"
        path = latency.vzdump(disks[worker]) + latency.CONFIG
        start_v, start_r = sim.clock.now(), time.perf_counter()
        restore_vm(conn, ctx, worker, limits=FAST)
        elapsed, real = sim.clock.now() - start_v, time.perf_counter() - start_r
        print(
            f"restore vm {worker} (a copy): {elapsed:6.1f} s virtual ({real:.1f} s real), "
            f"critical path {path:6.1f} s, ratio {elapsed / path:.2f}"
        )
        path = latency.SHUTDOWN + latency.vzdump(disks[worker]) + latency.START + BOOT_TO_AGENT
        start_v, start_r = sim.clock.now(), time.perf_counter()
        restore_vm(conn, ctx, worker, force=True, limits=FAST)
        elapsed, real = sim.clock.now() - start_v, time.perf_counter() - start_r
        print(
            f"restore vm --force {worker}: {elapsed:6.1f} s virtual ({real:.1f} s real), "
            f"critical path {path:6.1f} s without the drain and the wait for Ready, ratio "
            f"{elapsed / path:.2f} (this lab has no CNI: the node is never Ready again, and the "
            f"wait ends at its {FAST.agent_timeout + FAST.ready_timeout:g} s timeout)"
        )
        ctx.close()
        sim.close()


if __name__ == "__main__":
    main()
