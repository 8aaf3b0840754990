"""The ``agent_timeout`` fault: qemu-server's QMP timeout text, after PVE's own agent checks."""

from __future__ import annotations

from homelab_sim.pve.simulator import PveSimulator
from tests.sim.support import Api

PING = "/nodes/pve/qemu/101/agent/ping"


def _profile(api: Api, path: str, count: int) -> None:
    rule = {"method": "*", "path": path, "fault": "agent_timeout", "count": count}
    assert api.ok("PUT", "/_sim/faults", json={"rules": [rule]}) is None


def test_agent_timeout_answers_the_qmp_timeout_of_a_running_vm(api: Api, sim: PveSimulator) -> None:
    api.finish(api.clone(101, full=1))
    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"agent": "1"})
    _profile(api, "/nodes/*/qemu/*/agent/*", 2)
    # a stopped VM: PVE's own check answers first, the fault is used up all the same
    stopped = api.call("POST", PING)
    assert (stopped.status_code, stopped.reason_phrase) == (500, "VM 101 is not running")
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/start"))
    ping = api.call("POST", PING)
    assert (ping.status_code, ping.reason_phrase) == (
        500,
        "VM 101 qmp command 'guest-ping' failed - got timeout",
    )
    assert [e.fault for e in sim.log.entries()[-1:]] == ["agent_timeout"]
    # the rule is used up: the agent's own state answers again
    after = api.call("POST", PING)
    assert after.reason_phrase == "QEMU guest agent is not running"


def test_agent_timeout_names_the_command(api: Api) -> None:
    api.finish(api.clone(101, full=1))
    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"agent": "1"})
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/start"))
    _profile(api, "/nodes/*/qemu/*/agent/*", 1)
    reply = api.call("GET", "/nodes/pve/qemu/101/agent/network-get-interfaces")
    assert reply.reason_phrase == (
        "VM 101 qmp command 'guest-network-get-interfaces' failed - got timeout"
    )
