"""Apply recovers from what a real Proxmox does under load: a config written meanwhile by
someone else ("detected modified configuration") and a lost reply to a VM start."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from homelab.core.desired import desired_vms
from homelab.engine.apply import steps
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import VmRef
from homelab.engine.apply.vmids import VmidAllocator
from homelab.engine.proxmox.errors import ConfigModified, classify_response
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.transport import SimTransport
from tests.apply.support import FAST, Lab, inprocess, new_sim

MODIFIED = "detected modified configuration - file changed by other user? Try again."


def test_detected_modified_configuration_is_a_conflict_to_retry_not_a_server_error() -> None:
    error = classify_response(500, MODIFIED, {"message": MODIFIED + "\n", "data": None})
    assert isinstance(error, ConfigModified)
    assert error.before_effect and not error.transient


def _runtime(lab: Lab, sim: PveSimulator) -> Runtime:
    conn = inprocess(sim)
    return Runtime(
        client=conn.client,
        journal=lab.ctx.store.intents(lab.ctx.lab),
        lab=lab.ctx.lab,
        iso_storage="local",
        seeds=lab.ctx.artifacts.seeds,
        allocator=VmidAllocator(range(200, 300), taken=[]),
        limits=FAST,
        clock=conn.clock,
    )


def test_configure_reads_again_when_someone_else_wrote_the_config(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = new_sim()
    rt = _runtime(lab, sim)
    want = desired_vms(lab.ctx.spec, lab.ctx.seed_digests)["k8s-worker-2"]
    upid = rt.client.clone(
        "pve", 9000, 201, name=want.name, full=False, description=want.description
    )
    rt.client.wait_task(upid)
    other = httpx.Client(
        transport=SimTransport(sim),
        base_url="https://127.0.0.1:8006/api2/json",
        headers={"Authorization": f"PVEAPIToken={sim.token.reveal()}"},
    )
    writes: list[dict[str, Any]] = []
    update_config = rt.client.update_config

    def racing_update(node: str, vmid: int, **params: Any) -> None:
        writes.append(params)
        if len(writes) == 1:  # another user writes between our read and our write
            answer = other.put(f"/nodes/{node}/qemu/{vmid}/config", data={"tablet": "0"})
            assert answer.status_code == 200
        update_config(node, vmid, **params)

    monkeypatch.setattr(rt.client, "update_config", racing_update)
    steps.configure_vm(rt, VmRef(want.name, "pve", 201), want, new=True)
    config = sim.state.vms[201].config
    assert set(want.tags) <= set(str(config["tags"]).split(";"))
    assert str(config["memory"]) == str(want.memory_mib) and str(config["tablet"]) == "0"
    assert len(writes) == 2 and writes[0]["digest"] != writes[1]["digest"]
    other.close()
