"""Seed ISO uploads: sent with PVE's checksum, and re-sent unless the same bytes are known there."""

from __future__ import annotations

import hashlib

from homelab.core.desired import desired_vms
from homelab.engine.apply import seeds
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import VmRef
from homelab.engine.seediso import build_seed_iso
from homelab_sim.pve.simulator import PveSimulator
from tests.apply.support import Lab, inprocess, new_sim


def _runtime(lab: Lab, sim: PveSimulator) -> Runtime:
    conn = inprocess(sim)
    return lab.runtime(conn.client, conn.clock)


def _stored(sim: PveSimulator, volid: str) -> bytes:
    volume = next(v for v in sim.state.volumes.values() if v.volid == volid)
    assert volume.blob is not None
    return sim.blobs[volume.blob]


def test_a_seed_of_the_same_size_but_other_bytes_is_uploaded_again(lab: Lab) -> None:
    sim = new_sim()
    rt = _runtime(lab, sim)
    want = desired_vms(lab.ctx.spec, lab.ctx.seed_digests)["k8s-worker-2"]
    seed = lab.ctx.artifacts.seeds[want.name]
    data = build_seed_iso(seed.user_data, seed.meta_data, seed.network_config)
    stale = bytes(len(data))  # same size, other bytes (a seed that holds another token)
    rt.client.upload_iso("pve", "local", want.seed_volume, stale)
    ref = VmRef(want.name, "pve", 201)

    seeds.upload_seed(rt, ref, want)

    assert _stored(sim, want.seed_volid) == data
    task_logs = [t.log for t in sim.state.tasks if t.type == "imgcopy"]
    assert all("calculating checksum...OK, checksum verified" in log for log in task_logs)
    entry = rt.journal.all()[seeds.seed_key("pve", want.seed_volid)]
    assert entry["uploaded"] == hashlib.sha256(data).hexdigest()
    uploads = len(task_logs)
    seeds.upload_seed(rt, ref, want)  # recorded with this digest and listed: not sent again
    assert len([t for t in sim.state.tasks if t.type == "imgcopy"]) == uploads
