"""Apply recovers from what a real Proxmox does under load: a config written meanwhile by
someone else ("detected modified configuration") and a lost reply to a VM start."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from homelab.core.desired import desired_vms
from homelab.engine.apply import steps
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import VmRef
from homelab.engine.proxmox.errors import ConfigModified, classify_response
from homelab.verbs.provision import apply_lab
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.transport import SimTransport
from tests.apply.support import FAST, Lab, assert_converged, faults, guests, inprocess, new_sim, yes

MODIFIED = "detected modified configuration - file changed by other user? Try again."


def test_detected_modified_configuration_is_a_conflict_to_retry_not_a_server_error() -> None:
    error = classify_response(500, MODIFIED, {"message": MODIFIED + "\n", "data": None})
    assert isinstance(error, ConfigModified)
    assert error.before_effect and not error.transient


def _runtime(lab: Lab, sim: PveSimulator) -> Runtime:
    conn = inprocess(sim)
    return lab.runtime(conn.client, conn.clock)


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


def test_a_lost_reply_to_start_does_not_roll_back_a_complete_vm(lab: Lab) -> None:
    rule = {"method": "POST", "path": "/nodes/*/qemu/*/status/start", "fault": "lost_response"}
    sim = new_sim(faults=faults({**rule, "count": 1}))
    conn = inprocess(sim)
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok, outcome.report
    assert not [e for e in sim.log.entries() if e.method == "DELETE" and "/qemu/" in e.path]
    starts = [e for e in sim.log.entries() if e.path.endswith("/status/start")]
    assert len(starts) == len(guests(sim))  # the lost one was not sent again: it had started
    assert_converged(sim, lab.ctx, conn)


def test_settle_waits_for_what_an_interrupted_run_left_in_flight(lab: Lab) -> None:
    """A killed run's start task goes on in Proxmox: settling waits until it is over and the
    config is still for a moment, so the plan that follows is not made over it."""
    slow = {"path": "/nodes/*/qemu/*/status/start", "fault": "slow_task", "factor": 10}
    sim = new_sim(faults=faults({**slow, "count": 1}))
    rt = _runtime(lab, sim)
    rt.client.wait_task(rt.client.clone("pve", 9000, 201, name="k8s-worker-2", full=False))
    rt.client.start("pve", 201)  # not waited for: the run that sent it was killed
    assert rt.client.active_tasks("pve", 201) == 1
    started = rt.clock.monotonic()
    steps.settle_vm(rt, VmRef("k8s-worker-2", "pve", 201))
    assert rt.client.active_tasks("pve", 201) == 0
    assert rt.client.vm_status("pve", 201).running
    assert rt.clock.monotonic() - started >= steps.SETTLE_PAUSE  # read twice, a pause apart


def test_a_start_that_lost_the_race_to_another_start_is_a_start(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = new_sim()
    rt = _runtime(lab, sim)
    rt.client.wait_task(rt.client.clone("pve", 9000, 201, name="k8s-worker-2", full=False))
    rt.client.wait_task(rt.client.start("pve", 201))  # an interrupted run's start got there
    real = rt.client.vm_status
    reads: list[int] = []

    def stale_first(node: str, vmid: int) -> Any:
        reads.append(vmid)
        status = real(node, vmid)
        return dataclasses.replace(status, status="stopped") if len(reads) == 1 else status

    monkeypatch.setattr(rt.client, "vm_status", stale_first)
    assert steps.start_vm(rt, VmRef("k8s-worker-2", "pve", 201))  # its task: "already running"
    assert real("pve", 201).running and len(reads) == 2
