"""Proxmox Backup Server storages in the simulator: creation contacts the PBS, as PVE does."""

from __future__ import annotations

import pytest

from homelab_sim.pve.simulator import PveSimulator
from tests.sim.support import Api

FINGERPRINT = ":".join(["AB"] * 32)
TOKEN = "pve@pbs!homelab"
SECRET = "0123-pbs-secret"


def add_pbs(api: Api, datastore_bytes: int = 4 * 1024**4) -> None:
    """Put the PBS the tests talk to into the simulated world."""
    api.ok(
        "PUT",
        "/_sim/pbs",
        json={
            "server": "10.0.10.5",
            "fingerprint": FINGERPRINT,
            "datastores": {"homelab": datastore_bytes},
            "token_id": TOKEN,
            "token_secret": SECRET,
        },
    )


@pytest.fixture
def pbs(api: Api) -> Api:
    add_pbs(api)
    return api


GOOD = {
    "storage": "pbs-lab",
    "type": "pbs",
    "server": "10.0.10.5",
    "datastore": "homelab",
    "username": TOKEN,
    "password": SECRET,
    "fingerprint": FINGERPRINT,
    "content": "backup",
    "namespace": "home-lab",
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"server": "10.0.10.6"},
            "error fetching datastores - 500 Can't connect to 10.0.10.6:8007",
        ),
        ({"port": 8008}, "error fetching datastores - 500 Can't connect to 10.0.10.5:8008"),
        ({"fingerprint": ":".join(["CD"] * 32)}, "(certificate verify failed)"),
        ({"password": "wrong"}, "error fetching datastores - 401 Unauthorized"),
        ({"datastore": "other"}, "Cannot find datastore 'other', check permissions and existence!"),
    ],
)
def test_a_wrong_server_fingerprint_token_or_datastore_makes_nothing(
    pbs: Api, sim: PveSimulator, change: dict[str, object], reason: str
) -> None:
    response = pbs.call("POST", "/storage", data={**GOOD, **change})
    assert response.status_code == 500
    assert response.reason_phrase.startswith("create storage failed: pbs-lab: ")
    assert reason in response.reason_phrase
    assert sim.state.storage("pbs-lab") is None


def test_a_pbs_storage_is_listed_without_its_secret_and_takes_backups(
    pbs: Api, sim: PveSimulator
) -> None:
    assert pbs.ok("POST", "/storage", data=GOOD) == {"storage": "pbs-lab", "type": "pbs"}
    again = pbs.call("POST", "/storage", data=GOOD)
    assert again.reason_phrase == "create storage failed: storage ID 'pbs-lab' already defined"
    listed = pbs.ok("GET", "/storage/pbs-lab")
    assert listed["type"] == "pbs" and listed["shared"] == 1 and listed["content"] == "backup"
    assert listed["datastore"] == "homelab" and listed["namespace"] == "home-lab"
    assert "password" not in listed and SECRET not in str(pbs.ok("GET", "/storage"))

    pbs.finish(pbs.clone(101, name="web-1"))
    upid = pbs.ok("POST", "/nodes/pve/vzdump", data={"vmid": "101", "storage": "pbs-lab"})
    assert pbs.finish(upid)["exitstatus"] == "OK"
    (backup,) = pbs.ok("GET", "/nodes/pve/storage/pbs-lab/content", params={"content": "backup"})
    assert backup["format"] == "pbs-vm"
    assert backup["volid"].startswith("pbs-lab:backup/vm/101/") and backup["volid"].endswith("Z")

    # the PBS goes away: the next backup fails, and says why
    sim.state.pbs_servers["10.0.10.5:8007"].reachable = False
    upid = pbs.ok("POST", "/nodes/pve/vzdump", data={"vmid": "101", "storage": "pbs-lab"})
    status = pbs.finish(upid)
    assert status["exitstatus"] == "job errors"
    assert any("Can't connect to 10.0.10.5:8007" in line for line in pbs.log(upid))


def test_creating_a_storage_needs_datastore_allocate_on_storage(sim: PveSimulator) -> None:
    from homelab_sim.secret import Secret

    root = Api(sim)
    root.ok("POST", "/access/users", data={"userid": "auditor@pve"})
    made = root.ok("POST", "/access/users/auditor@pve/token/tk", data={"privsep": 0})
    root.ok("PUT", "/access/acl", data={"path": "/", "roles": "PVEAuditor", "users": "auditor@pve"})
    weak = Api(sim, Secret(f"auditor@pve!tk={made['value']}"))
    response = weak.call("POST", "/storage", data=GOOD)
    assert response.status_code == 403
    assert "Datastore.Allocate" in response.reason_phrase


def test_a_full_datastore_fails_the_backup(api: Api, sim: PveSimulator) -> None:
    add_pbs(api, datastore_bytes=64 * 1024**2)  # 64 MiB: less than one archive
    api.ok("POST", "/storage", data=GOOD)
    api.finish(api.clone(101, name="web-1"))
    upid = api.ok("POST", "/nodes/pve/vzdump", data={"vmid": "101", "storage": "pbs-lab"})
    assert api.finish(upid)["exitstatus"] == "job errors"
    assert any("No space left on device" in line for line in api.log(upid))
    assert api.ok("GET", "/nodes/pve/storage/pbs-lab/content") == []
