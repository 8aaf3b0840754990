"""Snapshots, pools, task filters, node and storage status through the real proxmoxer client,
against the simulator served over pinned HTTPS (the clock frozen; tasks finish on advance)."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proxmoxer import ProxmoxAPI, ResourceException

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from homelab_sim.server import start_server


class Lab:
    def __init__(self, sim: PveSimulator, api: ProxmoxAPI) -> None:
        self.sim, self.api = sim, api

    def vm(self, vmid: int = 100) -> Any:
        return self.api.nodes("pve").qemu(vmid)

    def finish(self, upid: str) -> dict[str, Any]:
        """Let the task run out (virtual time) and return its status."""
        self.sim.advance(30)
        status: dict[str, Any] = self.api.nodes("pve").tasks(upid).status.get()
        assert status["status"] == "stopped"
        return status

    def ok(self, upid: str) -> None:
        status = self.finish(upid)
        assert status["exitstatus"] == "OK", status

    def failed(self, upid: str) -> str:
        status = self.finish(upid)
        assert status["exitstatus"] != "OK"
        return str(status["exitstatus"])


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    sim = PveSimulator(SimConfig(nodes=("pve",), time_scale=0, seed=1))
    server = start_server(sim)
    try:
        pem = ssl.get_server_certificate(("127.0.0.1", int(server.endpoint.rsplit(":", 1)[1])))
        der = ssl.PEM_cert_to_DER_cert(pem)
        assert ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()) == server.fingerprint
        (tmp_path / "ca.pem").write_text(pem)
        user_token, secret = sim.token.reveal().split("=", 1)
        user, name = user_token.split("!")
        api = ProxmoxAPI(
            "127.0.0.1", port=int(server.endpoint.rsplit(":", 1)[1]), user=user,
            token_name=name, token_value=secret, verify_ssl=str(tmp_path / "ca.pem"), timeout=10,
        )  # fmt: skip
        lab = Lab(sim, api)
        lab.ok(api.nodes("pve").qemu(9000).clone.post(newid=100, name="web", full=1))
        yield lab
    finally:
        server.stop()
        sim.close()


def test_create_list_and_read_a_snapshot(lab: Lab) -> None:
    upid = lab.vm().snapshot.post(snapname="before-upgrade", description="clean")
    assert ":qmsnapshot:100:" in upid
    assert lab.vm().config.get()["lock"] == "snapshot"
    (entry, _) = lab.vm().snapshot.get()
    assert entry["snapstate"] == "prepare"
    lab.ok(upid)
    config = lab.vm().config.get()
    assert "lock" not in config and config["parent"] == "before-upgrade"
    snap, current = lab.vm().snapshot.get()
    assert snap["name"] == "before-upgrade" and snap["vmstate"] == 0
    assert snap["description"] == "clean" and "snapstate" not in snap and "parent" not in snap
    assert current["name"] == "current" and current["description"] == "You are here!"
    assert current["parent"] == "before-upgrade" and current["running"] == 0
    assert current["digest"] == config["digest"]
    saved = lab.vm().snapshot("before-upgrade").config.get()
    assert saved["name"] == "web" and saved["snaptime"] == snap["snaptime"]
    lab.vm().snapshot("before-upgrade").config.put(description="kept")
    assert lab.vm().snapshot("before-upgrade").config.get()["description"] == "kept"


def test_refusals_have_pve_texts(lab: Lab) -> None:
    with pytest.raises(ResourceException) as reserved:
        lab.vm().snapshot.post(snapname="current")
    assert reserved.value.status_code == 500
    assert "unable to use snapshot name 'current' (reserved name)" in str(reserved.value)
    with pytest.raises(ResourceException) as bad:
        lab.vm().snapshot.post(snapname="9lives")
    assert bad.value.status_code == 400
    lab.ok(lab.vm().snapshot.post(snapname="one"))
    assert lab.failed(lab.vm().snapshot.post(snapname="one")) == "snapshot name 'one' already used"
    template = lab.api.nodes("pve").qemu(9000).snapshot.post(snapname="nope")
    assert lab.failed(template) == "you can't take a snapshot if it's a template"
    with pytest.raises(ResourceException) as missing:
        lab.vm().snapshot("ghost").config.get()
    assert "snapshot 'ghost' does not exist" in str(missing.value)
    lab.sim.state.vms[100].config["scsi1"] = "local:100/vm-100-disk-1.raw,size=1G"
    assert lab.failed(lab.vm().snapshot.post(snapname="two")) == "snapshot feature is not available"


def test_a_locked_vm_cannot_be_snapshotted(lab: Lab) -> None:
    first = lab.vm().snapshot.post(snapname="one")
    assert lab.failed(lab.vm().snapshot.post(snapname="two")) == "VM is locked (snapshot)"
    lab.ok(first)
    assert [s["name"] for s in lab.vm().snapshot.get()] == ["one", "current"]


def test_rollback_restores_the_config_and_a_ram_snapshot_runs_again(lab: Lab) -> None:
    lab.ok(lab.vm().status.start.post())
    lab.ok(lab.vm().snapshot.post(snapname="live", vmstate=1))
    snap = lab.vm().snapshot("live").config.get()
    assert snap["vmstate"] == "local-lvm:vm-100-state-live"
    volumes = [v["volid"] for v in lab.api.nodes("pve").storage("local-lvm").content.get()]
    assert "local-lvm:vm-100-state-live" in volumes
    genid = lab.vm().config.get()["vmgenid"]
    lab.vm().config.put(cores=4)
    upid = lab.vm().snapshot("live").rollback.post()
    assert ":qmrollback:100:" in upid and lab.vm().config.get()["lock"] == "rollback"
    lab.ok(upid)
    config = lab.vm().config.get()
    assert config["cores"] == 2 and config["vmgenid"] != genid and "lock" not in config
    assert lab.vm().status.current.get()["status"] == "running"


def test_rollback_of_a_disk_snapshot_stops_the_vm_unless_start(lab: Lab) -> None:
    lab.ok(lab.vm().snapshot.post(snapname="cold"))
    lab.ok(lab.vm().status.start.post())
    lab.ok(lab.vm().snapshot("cold").rollback.post())
    assert lab.vm().status.current.get()["status"] == "stopped"
    lab.ok(lab.vm().snapshot("cold").rollback.post(start=1))
    assert lab.vm().status.current.get()["status"] == "running"


def test_delete_relinks_the_children(lab: Lab) -> None:
    lab.ok(lab.vm().snapshot.post(snapname="aa"))
    lab.ok(lab.vm().snapshot.post(snapname="bb"))
    assert lab.vm().snapshot("bb").config.get()["parent"] == "aa"
    upid = lab.vm().snapshot("aa").delete()
    assert ":qmdelsnapshot:100:" in upid
    assert lab.vm().config.get()["lock"] == "snapshot-delete"
    lab.ok(upid)
    assert "parent" not in lab.vm().snapshot("bb").config.get()
    lab.ok(lab.vm().snapshot("bb").delete())
    assert "parent" not in lab.vm().config.get()
    assert lab.failed(lab.vm().snapshot("bb").delete()) == "snapshot 'bb' does not exist"


def test_task_list_filters(lab: Lab) -> None:
    lab.ok(lab.vm().snapshot.post(snapname="aa"))
    lab.failed(lab.vm().snapshot.post(snapname="aa"))
    tasks = lab.api.nodes("pve").tasks
    snaps = tasks.get(typefilter="qmsnapshot", vmid=100)
    assert [t["type"] for t in snaps] == ["qmsnapshot", "qmsnapshot"]
    errors = tasks.get(statusfilter="error")
    assert [t["status"] for t in errors] == ["snapshot name 'aa' already used"]
    assert [t["type"] for t in tasks.get(errors=1)] == ["qmsnapshot"]
    assert {t["status"] for t in tasks.get(statusfilter="ok")} == {"OK"}
    assert len(tasks.get(limit=1, start=1)) == 1
    assert tasks.get(userfilter="nobody") == []


def test_pools_nextid_node_and_storage_status(lab: Lab) -> None:
    api = lab.api
    assert int(api.cluster.nextid.get()) == 101
    api.pools.post(poolid="lab", comment="k8s")
    api.pools("lab").put(vms="100")
    (member,) = api.pools("lab").get()["members"]
    assert member["vmid"] == 100 and member["type"] == "qemu"
    with pytest.raises(ResourceException) as busy:
        api.pools("lab").delete()
    assert "pool is not empty" in str(busy.value)
    status = api.nodes("pve").status.get()
    assert status["cpuinfo"]["cpus"] == 16 and status["memory"]["total"] == 64 * 1024**3
    local = api.nodes("pve").storage("local").status.get()
    assert local["active"] == 1 and "iso" in local["content"]
    isos = api.nodes("pve").storage.get(content="iso")
    assert [s["storage"] for s in isos] == ["local"]
