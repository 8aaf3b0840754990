"""What prometheus-pve-exporter's default collectors read, served with PVE's shapes and checks.

The exporter (3.10) reads /cluster/status, /cluster/resources, /version,
/cluster/backup-info/not-backed-up, /cluster/config/qdevice and, for the local node, its
qemu and lxc lists and configs, its replication jobs and its subscription. A token holding
only the built-in PVEAuditor role on ``/`` must be enough, as on a real PVE.
"""

from __future__ import annotations

import pytest

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.secret import Secret
from tests.sim.support import Api

AUDITOR = "monitor@pve"
SHOP = "https://www.proxmox.com/en/proxmox-virtual-environment/pricing"


def auditor(api: Api, role: str = "PVEAuditor", path: str = "/") -> Api:
    """A privilege-separated token of a new user, ``role`` on ``path`` for both (pveum's way)."""
    api.ok("POST", "/access/users", data={"userid": AUDITOR})
    made = api.ok("POST", f"/access/users/{AUDITOR}/token/exporter", data={"privsep": 1})
    api.ok(
        "PUT",
        "/access/acl",
        data={"path": path, "roles": role, "users": AUDITOR, "tokens": f"{AUDITOR}!exporter"},
    )
    return Api(api.sim, Secret(f"{made['full-tokenid']}={made['value']}"))


@pytest.fixture
def lab(api: Api, sim: PveSimulator) -> Api:
    api.finish(api.clone(101, name="web-1"))
    api.finish(api.clone(102, name="web-2"))
    api.ok("POST", "/_sim/lxc", data={"vmid": 200, "node": "pve", "name": "dns"})
    return api


def test_an_auditor_reads_everything_the_default_collectors_read(lab: Api) -> None:
    ro = auditor(lab)
    (node,) = [e for e in ro.ok("GET", "/cluster/status") if e["type"] == "node"]
    assert node["local"] == 1 and node["name"] == "pve" and node["online"] == 1
    assert {"nodeid", "level", "id"} <= set(node)
    ids = {r["id"] for r in ro.ok("GET", "/cluster/resources")}
    assert {"node/pve", "qemu/101", "qemu/9000", "lxc/200", "storage/pve/local"} <= ids
    assert set(ro.ok("GET", "/version")) >= {"release", "repoid", "version"}
    assert ro.ok("GET", "/cluster/config/qdevice") == {}
    assert [v["vmid"] for v in ro.ok("GET", "/nodes/pve/qemu")] == [101, 102, 9000]
    assert ro.ok("GET", "/nodes/pve/qemu/101/config")["name"] == "web-1"
    (ct,) = ro.ok("GET", "/nodes/pve/lxc")
    assert (ct["vmid"], ct["type"], ct["name"], ct["status"]) == (200, "lxc", "dns", "stopped")
    config = ro.ok("GET", "/nodes/pve/lxc/200/config")
    assert config["hostname"] == "dns" and len(config["digest"]) == 40
    assert ro.ok("GET", "/nodes/pve/replication") == []
    subscription = ro.ok("GET", "/nodes/pve/subscription")
    assert subscription["status"] == "notfound" and subscription["url"] == SHOP
    assert len(subscription["serverid"]) == 32  # Sys.Audit on /nodes/pve: the server id too
    assert ro.ok("GET", "/cluster/backup-info/not-backed-up") == [
        {"vmid": 101, "type": "qemu", "name": "web-1"},
        {"vmid": 102, "type": "qemu", "name": "web-2"},
        {"vmid": 200, "type": "lxc", "name": "dns"},
        {"vmid": 9000, "type": "qemu", "name": "ubuntu-2404-cloudinit"},
    ]


def test_pve_9_grants_the_same_reads_to_an_auditor() -> None:
    sim = PveSimulator(SimConfig(time_scale=0, seed=7, pve_major=9))
    root = Api(sim)
    root.ok("POST", "/_sim/lxc", data={"vmid": 200, "node": "pve", "name": "dns"})
    ro = auditor(root)
    for path in (
        "/cluster/status",
        "/cluster/resources",
        "/version",
        "/cluster/config/qdevice",
        "/cluster/backup-info/not-backed-up",
        "/nodes/pve/qemu",
        "/nodes/pve/qemu/9000/config",
        "/nodes/pve/lxc",
        "/nodes/pve/lxc/200/config",
        "/nodes/pve/replication",
        "/nodes/pve/subscription",
    ):
        assert ro.call("GET", path).status_code == 200, path
    assert ro.ok("GET", "/version")["release"] == "9.0"


def test_an_auditor_may_not_write(lab: Api) -> None:
    ro = auditor(lab)
    denied = ro.call("POST", "/cluster/backup", data={"schedule": "daily", "all": 1})
    assert (denied.status_code, denied.reason_phrase) == (
        403,
        "Permission check failed (/, Sys.Modify)",
    )
    denied = ro.call("POST", "/nodes/pve/qemu/101/status/start")
    assert denied.status_code == 403


def test_the_cluster_reads_need_sys_audit_on_the_root(lab: Api) -> None:
    ro = auditor(lab, role="PVEVMUser", path="/vms")
    for path in (
        "/cluster/status",
        "/cluster/config/qdevice",
        "/cluster/backup-info/not-backed-up",
    ):
        denied = ro.call("GET", path)
        assert (denied.status_code, denied.reason_phrase) == (
            403,
            "Permission check failed (/, Sys.Audit)",
        ), path
    # open to all users, each filtered by VM.Audit; no server id without Sys.Audit on the node
    assert [c["vmid"] for c in ro.ok("GET", "/nodes/pve/lxc")] == [200]
    assert "serverid" not in ro.ok("GET", "/nodes/pve/subscription")
    assert ro.ok("GET", "/nodes/pve/replication") == []


def test_not_backed_up_lists_only_guests_the_caller_may_audit(lab: Api, sim: PveSimulator) -> None:
    token = sim.add_token("ci@pve!one", {"/": ["Sys.Audit"], "/vms/102": ["VM.Audit"]})
    one = Api(sim, token)
    assert one.ok("GET", "/cluster/backup-info/not-backed-up") == [
        {"vmid": 102, "type": "qemu", "name": "web-2"}
    ]
    assert one.ok("GET", "/cluster/backup-info/not-backed-up") == [
        g for g in lab.ok("GET", "/cluster/backup-info/not-backed-up") if g["vmid"] == 102
    ]


@pytest.mark.parametrize(
    ("job", "left"),
    [
        ({"vmid": "101,200"}, [102, 9000]),
        ({"all": 1, "exclude": "9000"}, [9000]),
        ({"all": 1, "enabled": 0}, []),  # disabled jobs still cover (jobs.cfg is read whole)
        ({"all": 1, "node": "pve"}, []),
        ({"pool": "web"}, [102, 200, 9000]),
    ],
)
def test_not_backed_up_follows_each_jobs_selection(
    lab: Api, job: dict[str, object], left: list[int]
) -> None:
    lab.ok("POST", "/pools", data={"poolid": "web"})
    lab.ok("PUT", "/pools/web", data={"vms": "101"})
    lab.ok("POST", "/cluster/backup", data={"schedule": "daily", "storage": "local", **job})
    uncovered = lab.ok("GET", "/cluster/backup-info/not-backed-up")
    assert [g["vmid"] for g in uncovered] == left


def test_missing_objects_are_refused_with_pves_texts(lab: Api) -> None:
    missing = lab.call("GET", "/nodes/pve/lxc/201/config")
    assert (missing.status_code, missing.reason_phrase) == (
        500,
        "Configuration file 'nodes/pve/lxc/201.conf' does not exist",
    )
    missing = lab.call("GET", "/nodes/pve/replication/101-0/status")
    assert (missing.status_code, missing.reason_phrase) == (500, "no such replication job '101-0'")
    assert [e["name"] for e in lab.ok("GET", "/nodes/pve/replication/101-0")] == [
        "schedule_now", "log", "status",
    ]  # fmt: skip
    # the index has no permissions in the schema: root@pam only, not even root's token
    index = lab.call("GET", "/cluster/backup-info")
    assert (index.status_code, index.reason_phrase) == (
        403,
        "Permission check failed (user != root@pam)",
    )
