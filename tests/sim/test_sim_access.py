"""Authentication and authorisation: tokens with privileges, tickets + CSRF, permissions."""

from __future__ import annotations

import httpx

from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.transport import SimTransport
from tests.sim.support import PASSWORD, Api


def _anonymous(sim: PveSimulator) -> httpx.Client:
    return httpx.Client(transport=SimTransport(sim), base_url="https://127.0.0.1:8006/api2/json")


def test_restricted_token_gets_403_and_filtered_lists(sim: PveSimulator) -> None:
    token = sim.add_token("ci@pve!observer", {"/vms/9000": ["VM.Audit"], "/nodes": ["Sys.Audit"]})
    observer = Api(sim, token)
    assert observer.ok("GET", "/nodes/pve/qemu/9000/config")["name"] == "ubuntu-2404-cloudinit"
    denied = observer.call("POST", "/nodes/pve/qemu/9000/clone", data={"newid": 101})
    assert denied.status_code == 403
    assert denied.reason_phrase == "Permission check failed (/vms/9000, VM.Clone)"
    config = observer.call("PUT", "/nodes/pve/qemu/9000/config", data={"cores": 4})
    assert config.reason_phrase.startswith("Permission check failed (/vms/9000, VM.Config.Disk|")
    Api(sim).finish(Api(sim).clone(101))
    listed = [r["vmid"] for r in observer.ok("GET", "/cluster/resources", params={"type": "vm"})]
    assert listed == [9000]
    perms = observer.ok("GET", "/access/permissions")
    assert perms["/vms/9000"] == {"VM.Audit": 1}
    assert "/" not in perms


def test_root_token_permissions(api: Api) -> None:
    perms = api.ok("GET", "/access/permissions", params={"path": "/vms/100"})
    assert perms["/vms/100"]["VM.Allocate"] == 1


def test_ticket_login_and_csrf(sim: PveSimulator) -> None:
    with _anonymous(sim) as client:
        assert client.get("/access/domains").status_code == 200
        bad = client.post("/access/ticket", data={"username": "root@pam", "password": "nope"})
        assert (bad.status_code, bad.reason_phrase, bad.content) == (
            401,
            "authentication failure",
            b"",
        )
        login = client.post(
            "/access/ticket", data={"username": "root", "realm": "pam", "password": PASSWORD}
        )
        data = login.json()["data"]
        assert data["username"] == "root@pam" and data["ticket"].startswith("PVE:root@pam:")
        client.cookies.set("PVEAuthCookie", data["ticket"])
        assert client.get("/nodes").status_code == 200
        no_csrf = client.post("/nodes/pve/qemu/9000/clone", data={"newid": 101})
        assert (no_csrf.status_code, no_csrf.reason_phrase) == (
            401,
            "Permission denied - invalid csrf token",
        )
        headers = {"CSRFPreventionToken": data["CSRFPreventionToken"]}
        clone = client.post("/nodes/pve/qemu/9000/clone", data={"newid": 101}, headers=headers)
        assert clone.status_code == 200 and clone.json()["data"].endswith(":root@pam:")
        renew = client.post(
            "/access/ticket", data={"username": "root@pam", "password": data["ticket"]}
        )
        assert renew.status_code == 200
        forged = data["ticket"][:-4] + "AAAA"
        client.cookies.set("PVEAuthCookie", forged)
        assert client.get("/nodes").reason_phrase == "Authentication failed!"


def test_ticket_endpoint_refuses_tokens(api: Api) -> None:
    response = api.call("POST", "/access/ticket", data={"username": "root@pam", "password": "x"})
    # /access/ticket needs no authentication at all: a token header is simply ignored
    assert response.status_code == 401
