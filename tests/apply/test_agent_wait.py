"""The guest-agent wait: PVE's answers while an agent is starting are "not yet", never a failure.

While qemu-guest-agent starts, PVE answers ``agent/ping`` with a 500: ``QEMU guest agent is not
running`` (no reply to guest-ping within 3 s), ``VM <vmid> qmp command 'guest-ping' failed - got
timeout`` (the QMP call itself timed out), or ``VM <vmid> is not running``
(qemu-server ``Agent.pm``). The ``agent_timeout`` fault produces the second.
"""

from __future__ import annotations

import dataclasses

from homelab.engine.apply.progress import Recorder
from homelab.engine.proxmox.errors import AgentUnavailable, ServerError, classify_response
from homelab.verbs.provision import apply_lab
from homelab.verbs.up import vm_states
from tests.apply.support import FAST, Lab, faults, guests, inprocess, new_sim, yes

PING = "/nodes/*/qemu/*/agent/ping"


def test_the_starting_agent_texts_are_agent_unavailable() -> None:
    for text in (
        "QEMU guest agent is not running",
        "VM 201 qmp command 'guest-ping' failed - got timeout",
        "VM 201 qmp command 'guest-network-get-interfaces' failed - got timeout",
    ):
        error = classify_response(500, text, {"data": None})
        assert isinstance(error, AgentUnavailable), text
        assert not error.transient
    # a lock timeout (also "- got timeout") stays what it is
    lock = "can't lock file '/var/lock/qemu-server/lock-201.conf' - got timeout"
    assert not isinstance(classify_response(500, lock, {"data": None}), AgentUnavailable)
    assert isinstance(classify_response(500, "proxy error", {"data": None}), ServerError)


def test_apply_waits_through_agent_timeouts(lab: Lab) -> None:
    sim = new_sim(faults=faults({"method": "POST", "path": PING, "count": 9,
                                 "fault": "agent_timeout"}))  # fmt: skip
    events = Recorder()
    # a generous agent timeout: on a loaded machine the scaled clock runs past 120 s while the
    # simulated agents boot; what is tested is that the 9 timeouts are waited through
    patient = dataclasses.replace(FAST, agent_timeout=900.0)
    outcome = apply_lab(inprocess(sim), lab.ctx, confirm=yes, progress=events, limits=patient)
    assert outcome.report is not None and outcome.report.ok
    assert sim.faults.profile.rules[0].fired == 9  # the faults did fire
    agent_done = {e.vm for e in events.events if e.phase == "agent" and e.status == "done"}
    assert agent_done == {str(vm.config["name"]) for vm in guests(sim)}
    assert all(not o.warnings for o in outcome.report.outcomes)


def test_an_agent_that_never_answers_is_a_warning_not_a_crash(lab: Lab) -> None:
    sim = new_sim(faults=faults({"method": "POST", "path": PING, "probability": 1.0,
                                 "fault": "agent_timeout"}))  # fmt: skip
    events = Recorder()
    outcome = apply_lab(inprocess(sim), lab.ctx, confirm=yes, progress=events, limits=FAST)
    assert outcome.report is not None and outcome.report.ok  # the VMs are built
    warned = {e.vm for e in events.events if e.phase == "agent" and e.status == "warning"}
    assert warned == {str(vm.config["name"]) for vm in guests(sim)}
    for vm_outcome in outcome.report.outcomes:
        assert vm_outcome.warnings == ["guest agent not answering after 120 s"]
    assert all(vm.status == "running" for vm in guests(sim))  # nothing rolled back


def test_up_reports_a_timing_out_agent_as_not_answering_yet(lab: Lab) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    assert apply_lab(conn, lab.ctx, confirm=yes, limits=FAST).report is not None
    sim.set_faults(faults({"method": "POST", "path": PING, "probability": 1.0,
                           "fault": "agent_timeout"}))  # fmt: skip
    names = sorted(lab.ctx.spec.vms)
    states = vm_states(conn.client, lab.ctx.lab, names)
    assert states == dict.fromkeys(
        names, "VM running, guest agent does not answer: still booting, or no agent"
    )
