"""Fault injection of every kind, the fault profile format, and the /_sim control API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from homelab.cli.sim import EXAMPLE_FAULTS
from homelab_sim.errors import SimError
from homelab_sim.pve.faults import parse_profile
from homelab_sim.pve.simulator import PveSimulator
from tests.sim.support import Api


def _faults(api: Api, *rules: dict[str, object], seed: int | None = None) -> None:
    body: dict[str, object] = {"rules": list(rules)}
    if seed is not None:
        body["seed"] = seed
    assert api.ok("PUT", "/_sim/faults", json=body) is None


def test_http_error_fires_count_times(api: Api, sim: PveSimulator) -> None:
    _faults(
        api,
        {"path": "/version", "fault": "http_error", "count": 2, "status": 503, "message": "busy"},
    )
    first = api.call("GET", "/version")
    assert (first.status_code, first.reason_phrase) == (503, "busy")
    assert api.call("GET", "/version").status_code == 503
    assert api.call("GET", "/version").status_code == 200
    assert [e.fault for e in sim.log.entries()[-3:]] == ["http_error", "http_error", None]
    assert api.ok("GET", "/_sim/faults")["rules"][0]["fired"] == 2


def test_lock_timeout_names_the_vm(api: Api) -> None:
    _faults(
        api,
        {"method": "POST", "path": "/nodes/*/qemu/*/clone", "fault": "lock_timeout", "count": 1},
    )
    response = api.call("POST", "/nodes/pve/qemu/9000/clone", data={"newid": 101})
    assert response.status_code == 500
    assert (
        response.reason_phrase
        == "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"
    )
    assert "lock" not in api.ok("GET", "/nodes/pve/qemu/9000/config")
    api.finish(api.clone(101))


def test_reset_drops_the_connection(api: Api) -> None:
    _faults(api, {"path": "/cluster/resources", "fault": "reset", "count": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        api.call("GET", "/cluster/resources")
    assert api.call("GET", "/cluster/resources").status_code == 200


def test_lost_response_still_carries_the_request_out(api: Api, sim: PveSimulator) -> None:
    _faults(
        api,
        {
            "method": "POST",
            "path": "/nodes/*/qemu/9000/clone",
            "fault": "lost_response",
            "count": 1,
        },
    )
    with pytest.raises(httpx.RemoteProtocolError):
        api.call("POST", "/nodes/pve/qemu/9000/clone", data={"newid": 101})
    sim.advance(60)
    assert api.ok("GET", "/nodes/pve/qemu/101/config")["name"].startswith("Copy-of-VM-")
    retry = api.call("POST", "/nodes/pve/qemu/9000/clone", data={"newid": 101})
    assert retry.reason_phrase == "unable to create VM 101: config file already exists"
    lost = sim.log.entries()[-3]
    assert (lost.method, lost.fault, lost.status) == ("POST", "lost_response", 0)


def test_slow_task_and_task_failure(api: Api, sim: PveSimulator) -> None:
    _faults(
        api,
        {
            "method": "POST",
            "path": "/nodes/*/qemu/101/status/start",
            "fault": "slow_task",
            "count": 1,
            "factor": 20,
        },
        {
            "method": "POST",
            "path": "/nodes/*/qemu/9000/clone",
            "fault": "task_failure",
            "count": 1,
            "message": "clone failed: out of space",
        },
    )
    failed = api.clone(101)
    assert api.finish(failed)["exitstatus"] == "clone failed: out of space"
    assert api.call("GET", "/nodes/pve/qemu/101/config").status_code == 500  # cleaned up
    api.finish(api.clone(101))
    start = api.ok("POST", "/nodes/pve/qemu/101/status/start")
    sim.advance(10)
    assert api.ok("GET", f"/nodes/pve/tasks/{start}/status")["status"] == "running"
    sim.advance(60)
    assert api.ok("GET", f"/nodes/pve/tasks/{start}/status")["exitstatus"] == "OK"


def test_probability_rules_are_reproducible(api: Api) -> None:
    def run() -> list[int]:
        _faults(api, {"path": "/version", "fault": "http_error", "probability": 0.5}, seed=3)
        return [api.call("GET", "/version").status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second
    assert 200 in first and 500 in first


def test_bad_profiles_are_refused(api: Api) -> None:
    response = api.call(
        "PUT", "/_sim/faults", json={"rules": [{"path": "/x", "fault": "nope", "count": 1}]}
    )
    assert response.status_code == 400
    assert "fault" in response.json()["errors"]["profile"]
    with pytest.raises(SimError, match="exactly one of 'count' or 'probability'"):
        parse_profile({"rules": [{"path": "/x", "fault": "reset"}]}, source="test")


def test_example_profile_is_valid(tmp_path: Path) -> None:
    profile = parse_profile(yaml.safe_load(EXAMPLE_FAULTS), source="example")
    assert {r.fault for r in profile.rules} == {
        "lock_timeout",
        "reset",
        "lost_response",
        "slow_task",
        "task_failure",
        "http_error",
    }


def test_clock_requests_and_state(api: Api, sim: PveSimulator) -> None:
    before = api.ok("GET", "/_sim/clock")["now"]
    after = api.ok("POST", "/_sim/clock", data={"advance": 120})["now"]
    assert after - before == pytest.approx(120)
    backwards = api.call("POST", "/_sim/clock", data={"advance": -1})
    assert backwards.status_code == 400
    log = api.ok("GET", "/_sim/requests")
    assert log[-1]["path"] == "/api2/json/_sim/clock" and log[-1]["status"] == 400
    assert {"method", "path", "status", "time"} <= set(log[0])
    api.ok("DELETE", "/_sim/requests")
    assert [e["path"] for e in api.ok("GET", "/_sim/requests")] == ["/api2/json/_sim/requests"]
    state = api.ok("GET", "/_sim/state")
    assert "9000" in state["vms"] and state["nodes"][0]["node"] == "pve"


def test_control_api_needs_privileges(sim: PveSimulator) -> None:
    observer = Api(sim, sim.add_token("ci@pve!ro", {"/": ["Sys.Audit"]}))
    assert observer.call("GET", "/_sim/requests").status_code == 200
    denied = observer.call("POST", "/_sim/clock", data={"advance": 1})
    assert denied.reason_phrase == "Permission check failed (/, Sys.Modify)"


@pytest.mark.parametrize(
    ("option", "content", "message"),
    [
        (
            "--faults",
            "rules:\n  - {path: /x, fault: reset}\n",
            "exactly one of 'count' or 'probability'",
        ),
        ("--state", None, "cannot create the state directory"),
    ],
)
def test_the_simulators_own_errors_reach_the_user_as_one_line(
    tmp_path: Path, option: str, content: str | None, message: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text(content or "not a directory\n")
    value = str(blocker) if content is not None else str(blocker / "state")
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    result = subprocess.run(
        [sys.executable, "-m", "homelab", "sim", "serve", option, value],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr
