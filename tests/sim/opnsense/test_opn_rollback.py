"""Lockout and recovery: the 26.1 savepoint cycle, the 26.7 backup restore, the drop fault."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from homelab_sim.opnsense import OpnRequest, OpnsenseSimulator, Source
from tests.sim.opnsense.support import Factory

CONSOLE = Source("lan", "10.0.10.2")
LOCKOUT = {
    "interface": "lan",
    "action": "block",
    "protocol": "TCP",
    "destination_port": "443",
    "description": "oops",
}


def post(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(path, json=body or {}).json()


def locked_out(sim: OpnsenseSimulator, client: httpx.Client) -> bool:
    try:
        client.get("/api/core/firmware/status")
    except httpx.RemoteProtocolError:
        return True
    return False


def console(sim: OpnsenseSimulator, path: str, method: str = "POST") -> Any:
    headers = {**sim.auth_header(), "content-type": "application/json"}
    return sim.handle(OpnRequest(method, path, headers=headers, body=b"{}"), source=CONSOLE).json()


def test_savepoint_apply_and_cancel_rollback(make: Factory) -> None:
    sim, client = make(version="26.1.2")
    uuid = post(client, "/api/firewall/filter/addRule", {"rule": {"interface": "opt1"}})["uuid"]
    savepoint = post(client, "/api/firewall/filter/savepoint")
    assert savepoint["status"] == "ok"
    assert savepoint["retention"] == "60"
    revision = savepoint["revision"]
    assert post(client, f"/api/firewall/filter/apply/{revision}") == {"status": "OK\n\n"}
    assert [r.revision for r in sim.rollbacks] == [revision]
    assert post(client, f"/api/firewall/filter/cancelRollback/{revision}") == {"status": ""}
    assert post(client, f"/api/firewall/filter/cancelRollback/{revision}") == {
        "status": "Execute error"
    }
    sim.advance(120)
    assert uuid in sim.running("rule")


def test_without_confirmation_26_1_rolls_back_after_60_seconds(make: Factory) -> None:
    sim, client = make(version="26.1.2", anti_lockout=False)
    foreign = sim.seed("rule", {"interface": "lan", "description": "made by hand"})
    revision = post(client, "/api/firewall/filter/savepoint")["revision"]
    mine = post(client, "/api/firewall/filter/addRule", {"rule": {**LOCKOUT, "sequence": "1"}})[
        "uuid"
    ]
    sim.state.configured["rule"].rows[foreign]["sequence"] = "5"
    post(client, f"/api/firewall/filter/apply/{revision}")
    assert sim.evaluate("lan", "10.0.10.100", "10.0.10.1", "tcp", 443).rule == mine
    assert locked_out(sim, client)
    sim.advance(59)
    assert locked_out(sim, client)
    sim.advance(1)
    assert not locked_out(sim, client)
    assert set(sim.running("rule")) == {foreign}
    assert set(sim.configured("rule")) == {foreign}
    assert sim.configured("rule")[foreign]["sequence"] == "101"  # the whole Filter section is back
    assert sim.rollbacks == []


def test_a_second_timer_does_not_start_while_one_waits(make: Factory) -> None:
    sim, client = make(version="26.1.2")
    first = post(client, "/api/firewall/filter/savepoint")["revision"]
    sim.advance(1)
    second = post(client, "/api/firewall/filter/savepoint")["revision"]
    post(client, f"/api/firewall/filter/apply/{first}")
    post(client, f"/api/firewall/filter/apply/{second}")
    assert [r.revision for r in sim.rollbacks] == [first]


def test_revert_to_a_savepoint(make: Factory) -> None:
    sim, client = make(version="26.1.2")
    revision = post(client, "/api/firewall/filter/savepoint")["revision"]
    post(client, "/api/firewall/filter/addRule", {"rule": {"interface": "opt1"}})
    post(client, "/api/firewall/filter/apply")
    assert post(client, f"/api/firewall/filter/revert/{revision}") == {"status": "ok"}
    assert sim.running("rule") == {}
    assert sim.configured("rule") == {}
    assert post(client, "/api/firewall/filter/revert/123.45") == {
        "status": "unknown (or removed) savepoint"
    }
    for action in ("savepoint", f"revert/{revision}", f"cancelRollback/{revision}", "apply"):
        assert client.get(f"/api/firewall/filter/{action}").json() == {"status": "error"}


@pytest.mark.parametrize("action", ["savepoint", "cancelRollback/1.0", "revert/1.0"])
def test_26_7_has_no_savepoint_api(make: Factory, action: str) -> None:
    _, client = make(version="26.7.1")
    reply = client.post(f"/api/firewall/filter/{action}", json={})
    assert reply.status_code == 404
    assert reply.json() == {"errorMessage": "Endpoint not found"}


def test_26_7_apply_ignores_a_revision(make: Factory) -> None:
    sim, client = make(version="26.7.1")
    post(client, "/api/firewall/filter/addRule", {"rule": {"interface": "opt1"}})
    assert post(client, "/api/firewall/filter/apply/1780000000.00") == {"status": "OK\n\n"}
    assert sim.rollbacks == []
    assert len(sim.running("rule")) == 1


def test_a_lockout_lasts_until_a_revert_from_elsewhere(make: Factory) -> None:
    sim, client = make(version="26.7.1", anti_lockout=False)
    backups = client.get("/api/core/backup/backups/this").json()["items"]
    before = backups[0]["id"]
    post(client, "/api/firewall/filter/addRule", {"rule": LOCKOUT})
    post(client, "/api/firewall/filter/apply")
    assert locked_out(sim, client)
    sim.advance(3600)
    assert locked_out(sim, client)  # 26.7 has no timer
    assert console(sim, f"/api/core/backup/revertBackup/{before}") == {"status": "reverted"}
    assert locked_out(sim, client)  # the configuration is back, the running rules are not
    console(sim, "/api/firewall/filter/apply")
    assert not locked_out(sim, client)
    assert sim.configured("rule") == {}


@pytest.mark.parametrize("version", ["26.1.2", "26.7.1"])
def test_the_drop_fault_counts_requests(make: Factory, version: str) -> None:
    sim, client = make(version=version)
    sim.drop_after_apply(requests=2)
    post(client, "/api/firewall/filter/apply")
    assert [locked_out(sim, client) for _ in range(3)] == [True, True, False]
    post(client, "/api/firewall/alias/reconfigure")
    assert not locked_out(sim, client)  # only a filter apply arms it
    sim.drop_after_apply()
    post(client, "/api/firewall/filter/apply")
    assert not locked_out(sim, client)


def test_the_drop_fault_lasts_virtual_seconds(make: Factory) -> None:
    sim, client = make(version="26.7.1")
    sim.drop_after_apply(seconds=30)
    post(client, "/api/firewall/filter/apply")
    assert locked_out(sim, client)
    sim.advance(29)
    assert locked_out(sim, client)
    sim.advance(1)
    assert not locked_out(sim, client)
    assert console(sim, "/api/core/firmware/status", "GET")["status"] == "none"


def test_26_1_recovers_by_itself_when_the_client_is_dropped(make: Factory) -> None:
    sim, client = make(version="26.1.2")
    sim.drop_after_apply(seconds=90)
    revision = post(client, "/api/firewall/filter/savepoint")["revision"]
    uuid = post(client, "/api/firewall/filter/addRule", {"rule": {"interface": "opt1"}})["uuid"]
    post(client, f"/api/firewall/filter/apply/{revision}")
    assert uuid in sim.running("rule")
    sim.advance(60)
    assert uuid not in sim.running("rule")
    assert uuid not in sim.configured("rule")


def test_26_7_restores_the_downloaded_configuration(make: Factory) -> None:
    sim, client = make(version="26.7.1")
    keep = sim.seed("rule", {"interface": "opt1", "description": "foreign"})
    download = client.get("/api/core/backup/download/this")
    assert download.headers["content-type"] == "application/octet-stream"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=config-OPNsense.localdomain-")
    document = ET.fromstring(download.content)
    assert [r.get("uuid") for r in document.iterfind("OPNsense/Firewall/Filter/rules/rule")] == [
        keep
    ]
    saved = disposition.split("localdomain-", 1)[1]
    sim.drop_after_apply(requests=1)
    post(client, "/api/firewall/filter/addRule", {"rule": {"interface": "opt1", "action": "block"}})
    post(client, "/api/firewall/filter/apply")
    assert locked_out(sim, client)
    assert post(client, f"/api/core/backup/revertBackup/config-{saved}") == {"status": "reverted"}
    post(client, "/api/firewall/filter/apply")
    assert set(sim.running("rule")) == {keep}


def test_backups_list_newest_first_and_refuse_unknown_files(make: Factory) -> None:
    _, client = make()
    post(
        client,
        "/api/firewall/alias/addItem",
        {"alias": {"name": "a", "type": "host", "content": "10.0.0.1"}},
    )
    items = client.get("/api/core/backup/backups/this").json()["items"]
    assert len(items) == 3  # the initial configuration, the seeded VLAN, the alias
    assert float(items[0]["time"]) > float(items[1]["time"])
    assert items[0]["id"] == f"config-{items[0]['time']}.xml"
    assert client.get("/api/core/backup/backups/elsewhere").json() == {"items": []}
    assert (
        client.get("/api/core/backup/providers").json()["items"]["this"]["dirname"]
        == "/conf/backup"
    )
    assert post(client, "/api/core/backup/revertBackup/config-1.0.xml") == {"status": "not_found"}
    assert client.get(f"/api/core/backup/revertBackup/{items[1]['id']}").json() == {
        "status": "failed"
    }
    old = client.get(f"/api/core/backup/download/this/{items[1]['id']}")
    assert ET.fromstring(old.content).find("vlans/vlan/vlanif").text == "vlan01"  # type: ignore[union-attr]
    assert ET.fromstring(old.content).find("OPNsense/Firewall/Alias/aliases/alias") is None
    assert client.get("/api/core/backup/download/other").content == b""
    assert client.get("/api/core/backup/download/this/config-1.0.xml").content == b""
    assert client.get("/api/core/backup/download").status_code == 404


def test_a_due_rollback_fires_when_the_state_is_read(make: Factory) -> None:
    sim, client = make(version="26.1.2")
    revision = post(client, "/api/firewall/filter/savepoint")["revision"]
    post(client, "/api/firewall/filter/addRule", {"rule": {"interface": "opt1"}})
    post(client, f"/api/firewall/filter/apply/{revision}")
    sim.clock.advance(60)  # the clock alone: no request, no evaluate
    assert sim.running("rule") == {}
