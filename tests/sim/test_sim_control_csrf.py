"""The simulator's own control API (``/_sim/*``) asks what PVE asks of every write made with a
ticket: the CSRFPreventionToken. API tokens need none."""

from __future__ import annotations

import httpx

from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.transport import SimTransport
from tests.sim.support import PASSWORD, Api


def test_control_writes_with_a_ticket_need_the_csrf_token(sim: PveSimulator) -> None:
    with httpx.Client(transport=SimTransport(sim), base_url="https://h/api2/json") as client:
        login = client.post("/access/ticket", data={"username": "root@pam", "password": PASSWORD})
        data = login.json()["data"]
        client.cookies.set("PVEAuthCookie", data["ticket"])
        assert client.get("/_sim/clock").status_code == 200  # reads need no token
        before = sim.clock.now()
        for method, path, body in (
            ("POST", "/_sim/clock", {"advance": "60"}),
            ("DELETE", "/_sim/requests", None),
            ("PUT", "/_sim/faults", None),
        ):
            refused = client.request(method, path, data=body)
            assert (refused.status_code, refused.reason_phrase) == (
                401,
                "Permission denied - invalid csrf token",
            ), path
        assert sim.clock.now() == before and sim.log.entries()
        csrf = {"CSRFPreventionToken": data["CSRFPreventionToken"]}
        moved = client.post("/_sim/clock", data={"advance": "60"}, headers=csrf)
        assert moved.status_code == 200 and sim.clock.now() >= before + 60
        wrong = {"CSRFPreventionToken": data["CSRFPreventionToken"][:-4] + "AAAA"}
        assert client.delete("/_sim/requests", headers=wrong).status_code == 401


def test_control_writes_with_an_api_token_need_no_csrf_token(api: Api, sim: PveSimulator) -> None:
    before = sim.clock.now()
    api.ok("POST", "/_sim/clock", data={"advance": "30"})
    assert sim.clock.now() >= before + 30
