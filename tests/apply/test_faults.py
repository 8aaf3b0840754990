"""Fault profiles: transient 500s, lock timeouts, failed tasks, connection resets.

Each profile is run with several seeds. Apply is rerun (as a user would) until it reports
success; the lab must then be exactly the spec: no duplicate VMs, no orphaned VMs or seed ISOs,
no journal entries left, and a plan with nothing to do.
"""

from __future__ import annotations

from typing import Any

import pytest

from homelab.core.plan.actions import Plan
from homelab.errors import LabError
from homelab.verbs.provision import apply_lab
from homelab_sim.pve.faults import FaultProfile
from tests.apply.support import FAST, Lab, assert_converged, faults, inprocess, new_sim, yes

MAX_RUNS = 12

PROFILES: dict[str, list[dict[str, Any]]] = {
    "20% transient 500s": [
        {"path": "*", "probability": 0.2, "fault": "http_error", "message": "proxy error"},
    ],
    "lock timeouts on clone and config": [
        {"method": "POST", "path": "/nodes/*/qemu/*/clone", "probability": 0.4,
         "fault": "lock_timeout"},
        {"method": "PUT", "path": "/nodes/*/qemu/*/config", "probability": 0.4,
         "fault": "lock_timeout"},
        {"method": "POST", "path": "/nodes/*/qemu/*/clone", "probability": 0.3,
         "fault": "task_failure",
         "message": "clone failed: can't lock file '/var/lock/qemu-server/lock-9000.conf' - "
         "got timeout"},
    ],
    "failed tasks": [
        {"method": "POST", "path": "/nodes/*/qemu/*/status/start", "probability": 0.2,
         "fault": "task_failure", "message": "start failed: QEMU exited with code 1"},
        {"method": "POST", "path": "/nodes/*/qemu/*/clone", "probability": 0.2,
         "fault": "task_failure", "message": "clone failed: copy failed: input/output error"},
        {"method": "PUT", "path": "/nodes/*/qemu/*/resize", "probability": 0.2,
         "fault": "task_failure", "message": "resize failed: lvextend error"},
    ],
    "connection resets": [
        {"path": "*", "probability": 0.1, "fault": "reset"},
    ],
}  # fmt: skip


def converge(lab: Lab, profile: FaultProfile) -> int:
    """Apply until success under ``profile``; returns the number of runs it took."""
    sim = new_sim(faults=profile)
    conn = inprocess(sim)
    for run in range(1, MAX_RUNS + 1):
        try:
            outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
        except LabError:
            continue  # e.g. observation failed after its retries: the user reruns
        if outcome.report is None or outcome.report.ok:
            sim.set_faults(FaultProfile())
            assert_converged(sim, lab.ctx, conn)
            return run
    pytest.fail(f"apply did not converge in {MAX_RUNS} runs under faults")


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", list(PROFILES))
def test_apply_converges_under_faults(lab: Lab, name: str, seed: int) -> None:
    runs = converge(lab, faults(*PROFILES[name], seed=seed))
    assert 1 <= runs <= MAX_RUNS


def test_faults_were_actually_injected(lab: Lab) -> None:
    profile = faults(*PROFILES["20% transient 500s"], seed=5)
    sim = new_sim(faults=profile)
    conn = inprocess(sim)
    plan_seen: list[Plan] = []

    def confirm(plan: Plan) -> bool:
        plan_seen.append(plan)
        return True

    for _ in range(MAX_RUNS):
        try:
            apply_lab(conn, lab.ctx, confirm=confirm, limits=FAST)
            break
        except LabError:
            continue
    assert any(entry.fault == "http_error" for entry in sim.log.entries())
    assert plan_seen


@pytest.mark.parametrize("fault", ["reset", "http_error"])
def test_a_clone_with_an_unknown_outcome_is_looked_up_before_it_is_sent_again(
    lab: Lab, fault: str
) -> None:
    """A clone whose reply is lost may or may not have happened: apply checks the VMID before
    sending it again, so there is never a second clone of the same VM."""
    rule = {"method": "POST", "path": "/nodes/*/qemu/*/clone", "count": 2, "fault": fault}
    sim = new_sim(faults=faults(rule))
    conn = inprocess(sim)
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok
    clones = [e for e in sim.log.entries() if e.method == "POST" and e.path.endswith("/clone")]
    assert len(clones) == 3 + 2
    looked_up = [e for e in sim.log.entries() if e.path.endswith("/status/current")]
    assert looked_up
    sim.set_faults(FaultProfile())
    assert_converged(sim, lab.ctx, conn)
