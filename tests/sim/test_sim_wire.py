"""The wire format: envelope, 0/1 booleans, error statuses, reason phrases, auth failures."""

from __future__ import annotations

import re

import httpx

from homelab_sim.pve import schema
from homelab_sim.pve.requestlog import LoggedRequest
from homelab_sim.pve.simulator import ROUTES, PveSimulator, SimConfig
from homelab_sim.transport import SimTransport
from tests.sim.support import Api


def test_envelope_headers_and_booleans(api: Api) -> None:
    response = api.call("GET", "/nodes/pve/qemu")
    assert response.headers["content-type"] == "application/json;charset=UTF-8"
    assert response.headers["server"] == "pve-api-daemon/3.0"
    body = response.json()
    assert set(body) == {"data"}
    template = next(vm for vm in body["data"] if vm["vmid"] == 9000)
    assert template["template"] == 1
    assert template["name"] == "ubuntu-2404-cloudinit"
    assert api.ok("GET", "/version")["release"] == "8.4"


def test_nextid_is_a_string_and_checks_a_given_vmid(api: Api) -> None:
    assert api.ok("GET", "/cluster/nextid") == "100"
    assert api.ok("GET", "/cluster/nextid", params={"vmid": 150}) == "150"
    taken = api.call("GET", "/cluster/nextid", params={"vmid": 9000})
    assert taken.status_code == 400
    assert taken.reason_phrase == "Parameter verification failed."
    assert taken.json()["errors"] == {"vmid": "VM 9000 already exists"}


def test_unknown_parameter_is_rejected_and_logged(api: Api, sim: PveSimulator) -> None:
    response = api.call("GET", "/nodes/pve/qemu/9000/config", params={"bogus": "1"})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "bogus": "property is not defined in schema and the schema does not allow "
        "additional properties"
    }
    rejected = sim.log.rejections()
    assert [r.path for r in rejected] == ["/api2/json/nodes/pve/qemu/9000/config"]
    assert rejected[0].errors is not None and "bogus" in rejected[0].errors


def test_runtime_errors_are_500_with_the_message_as_reason(api: Api) -> None:
    response = api.call("GET", "/nodes/pve/qemu/4242/config")
    assert response.status_code == 500
    text = "Configuration file 'nodes/pve/qemu-server/4242.conf' does not exist"
    assert response.reason_phrase == text
    assert response.json() == {"data": None, "message": text + "\n"}


def test_unknown_paths_and_formats_are_501(api: Api) -> None:
    response = api.call("GET", "/nodes/pve/nothing")
    assert response.status_code == 501
    assert response.reason_phrase == "Method 'GET /nodes/pve/nothing' not implemented"
    assert api.call("PATCH", "/version").status_code == 501
    other = api.http.get("https://127.0.0.1:8006/api2/extjs/version")
    assert other.status_code == 501


def test_unknown_node_is_a_hostname_lookup_failure(api: Api) -> None:
    response = api.call("GET", "/nodes/nope/qemu")
    assert response.status_code == 500
    assert response.reason_phrase.startswith("hostname lookup 'nope' failed")


def test_401_has_an_empty_body(sim: PveSimulator) -> None:
    with httpx.Client(transport=SimTransport(sim), base_url="https://h/api2/json") as client:
        missing = client.get("/nodes")
        bad = client.get("/nodes", headers={"Authorization": "PVEAPIToken=root@pam!sim=wrong"})
    assert (missing.status_code, missing.reason_phrase, missing.content) == (401, "No ticket", b"")
    assert (bad.status_code, bad.reason_phrase, bad.content) == (401, "Authentication failed!", b"")
    assert bad.headers["connection"] == "close"


def test_body_on_get_and_path_conflicts_are_refused(api: Api) -> None:
    with_body = api.call("GET", "/version", content=b"a=1", headers={"content-type": "text/plain"})
    assert with_body.status_code == 501
    assert with_body.reason_phrase == "Unexpected content for method 'GET'"
    conflict = api.call("PUT", "/nodes/pve/qemu/9000/config", data={"vmid": "9001"})
    assert conflict.status_code == 400
    assert "duplicate parameter" in conflict.json()["errors"]["vmid"]


def test_json_bodies_are_accepted(api: Api) -> None:
    upid = api.ok("POST", "/nodes/pve/qemu/9000/clone", json={"newid": 130, "full": False})
    assert re.match(r"^UPID:pve:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmclone:9000:", upid)


def test_every_served_endpoint_has_a_handler() -> None:
    served = {(e.method, e.template) for e in schema.endpoints()}
    assert served == set(ROUTES)


def test_schema_rejections_reach_the_hook() -> None:
    seen: list[LoggedRequest] = []
    api = Api(PveSimulator(SimConfig(time_scale=0, on_rejection=seen.append)))
    api.call("GET", "/cluster/nextid", params={"vmid": 5})
    api.call("GET", "/cluster/nextid", params={"vmid": 9000})  # a handler 400, not the schema
    assert [r.path for r in seen] == ["/api2/json/cluster/nextid"]
    assert seen[0].errors is not None and seen[0].errors["vmid"].startswith("invalid format")
