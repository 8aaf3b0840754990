"""VM lifecycle semantics: clones, locks, config + digest, pending, resize, power, destroy."""

from __future__ import annotations

from typing import Any

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from tests.sim.support import Api

LOCK_TIMEOUT = "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"


def _config(api: Api, vmid: int, **params: Any) -> dict[str, Any]:
    data: dict[str, Any] = api.ok("GET", f"/nodes/pve/qemu/{vmid}/config", params=params)
    return data


def test_linked_clone_from_template(api: Api) -> None:
    upid = api.clone(101, name="k8s-master-1")
    assert upid.split(":")[5:7] == ["qmclone", "9000"]
    during = _config(api, 101)
    assert during["lock"] == "clone"
    locked = api.call("PUT", "/nodes/pve/qemu/101/config", data={"cores": 4})
    assert (locked.status_code, locked.reason_phrase) == (500, "VM is locked (clone)")
    assert api.finish(upid)["exitstatus"] == "OK"
    config = _config(api, 101)
    assert "lock" not in config and "template" not in config
    assert config["name"] == "k8s-master-1"
    assert config["scsi0"].startswith("local-lvm:vm-101-disk-0,")
    assert config["ide2"] == "local-lvm:vm-101-cloudinit,media=cdrom"
    assert config["net0"].startswith("virtio=BC:24:11:")
    assert config["net0"] != _config(api, 9000)["net0"]
    assert config["smbios1"] != _config(api, 9000)["smbios1"]
    content = api.ok("GET", "/nodes/pve/storage/local-lvm/content", params={"vmid": 101})
    disk = next(v for v in content if v["volid"] == "local-lvm:vm-101-disk-0")
    assert disk["parent"] == "base-9000-disk-0"
    assert any(line.startswith("create linked clone of drive scsi0") for line in api.log(upid))


def test_clone_defaults_and_refusals(api: Api) -> None:
    api.finish(api.clone(102))
    assert _config(api, 102)["name"] == "Copy-of-VM-ubuntu-2404-cloudinit"
    linked_storage = api.call(
        "POST", "/nodes/pve/qemu/9000/clone", data={"newid": 103, "storage": "local-lvm"}
    )
    assert linked_storage.reason_phrase == "parameter 'storage' not allowed for linked clones"
    collision = api.call("POST", "/nodes/pve/qemu/9000/clone", data={"newid": 102})
    assert collision.status_code == 500
    assert collision.reason_phrase == "unable to create VM 102: config file already exists"
    no_pool = api.call("POST", "/nodes/pve/qemu/9000/clone", data={"newid": 104, "pool": "x"})
    assert no_pool.reason_phrase == "pool 'x' does not exist"


def test_full_clone_takes_time_per_gib_and_contends(api: Api, sim: PveSimulator) -> None:
    first = api.clone(110, full=1, storage="local-lvm")
    sim.advance(2)
    status = api.ok("GET", f"/nodes/pve/tasks/{first}/status")
    assert status["status"] == "running"  # 3.5 GiB at ~2 s/GiB
    second = api.call("POST", "/nodes/pve/qemu/9000/clone", data={"newid": 111, "full": 1})
    assert (second.status_code, second.reason_phrase) == (500, LOCK_TIMEOUT)
    linked = api.call("POST", "/nodes/pve/qemu/9000/clone", data={"newid": 112})
    assert linked.reason_phrase == LOCK_TIMEOUT  # the template is exclusively locked
    sim.advance(10)
    assert api.ok("GET", f"/nodes/pve/tasks/{first}/status")["exitstatus"] == "OK"
    assert "parent" not in next(
        v
        for v in api.ok("GET", "/nodes/pve/storage/local-lvm/content")
        if v["volid"] == "local-lvm:vm-110-disk-0"
    )
    api.finish(api.clone(111, full=1))


def test_parallel_linked_clones_share_the_template(api: Api) -> None:
    upids = [api.clone(newid) for newid in (120, 121, 122)]
    assert all(api.finish(upid)["exitstatus"] == "OK" for upid in upids)


def test_nextid_does_not_reserve(api: Api) -> None:
    first = api.ok("GET", "/cluster/nextid")
    second = api.ok("GET", "/cluster/nextid")
    assert first == second == "100"
    api.clone(int(first))
    assert api.ok("GET", "/cluster/nextid") == "101"


def test_config_digest_and_sync_update(api: Api) -> None:
    api.finish(api.clone(101))
    digest = _config(api, 101)["digest"]
    assert (
        api.ok("PUT", "/nodes/pve/qemu/101/config", data={"memory": "4096", "digest": digest})
        is None
    )
    stale = api.call("PUT", "/nodes/pve/qemu/101/config", data={"cores": 4, "digest": digest})
    assert stale.status_code == 500
    assert stale.reason_phrase.startswith("detected modified configuration")
    config = _config(api, 101)
    assert (config["memory"], config["cores"]) == ("4096", 2)
    assert config["digest"] != digest


def test_async_config_update_runs_in_a_task(api: Api) -> None:
    api.finish(api.clone(101))
    upid = api.ok(
        "POST",
        "/nodes/pve/qemu/101/config",
        data={"ipconfig0": "ip=10.0.10.11/24,gw=10.0.10.1", "delete": "description"},
    )
    assert upid.split(":")[5] == "qmconfig"
    assert api.finish(upid)["exitstatus"] == "OK"
    config = _config(api, 101)
    assert config["ipconfig0"] == "ip=10.0.10.11/24,gw=10.0.10.1"
    assert "description" not in config
    warned = api.ok("POST", "/nodes/pve/qemu/101/config", data={"delete": "description"})
    assert api.finish(warned)["exitstatus"] == "WARNINGS: 1"
    assert api.log(warned)[-1] == "TASK WARNINGS: 1"
    stale = api.ok("POST", "/nodes/pve/qemu/101/config", data={"cores": 3, "digest": "0" * 40})
    assert api.finish(stale)["exitstatus"].startswith("detected modified configuration")


def test_running_vm_keeps_non_hotplug_changes_pending(api: Api) -> None:
    api.finish(api.clone(101))
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/start"))
    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"memory": "8192", "name": "renamed"})
    pending = {item["key"]: item for item in api.ok("GET", "/nodes/pve/qemu/101/pending")}
    assert pending["memory"] == {"key": "memory", "value": "2048", "pending": "8192"}
    assert "pending" not in pending["name"] and pending["name"]["value"] == "renamed"
    assert _config(api, 101)["memory"] == "8192"
    assert _config(api, 101, current=1)["memory"] == "2048"
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/reboot"))
    assert _config(api, 101, current=1)["memory"] == "8192"


def test_resize_grows_only(api: Api) -> None:
    api.finish(api.clone(101))
    grow = api.ok("PUT", "/nodes/pve/qemu/101/resize", data={"disk": "scsi0", "size": "+28.5G"})
    assert api.finish(grow)["exitstatus"] == "OK"
    assert "size=32G" in _config(api, 101)["scsi0"]
    shrink = api.ok("PUT", "/nodes/pve/qemu/101/resize", data={"disk": "scsi0", "size": "10G"})
    assert api.finish(shrink)["exitstatus"] == "shrinking disks is not supported"
    cdrom = api.ok("PUT", "/nodes/pve/qemu/101/resize", data={"disk": "ide2", "size": "+1G"})
    assert api.finish(cdrom)["exitstatus"] == "you can't resize a cdrom"


def test_power_cycle_and_status(api: Api, sim: PveSimulator) -> None:
    api.finish(api.clone(101))
    start = api.ok("POST", "/nodes/pve/qemu/101/status/start")
    assert api.ok("GET", "/nodes/pve/qemu/101/status/current")["status"] == "stopped"
    api.finish(start, seconds=5)
    current = api.ok("GET", "/nodes/pve/qemu/101/status/current")
    assert (current["status"], current["qmpstatus"], current["agent"]) == ("running", "running", 1)
    twice = api.ok("POST", "/nodes/pve/qemu/101/status/start")
    assert api.finish(twice)["exitstatus"] == "VM 101 already running"
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/shutdown"))
    assert api.ok("GET", "/nodes/pve/qemu/101/status/current")["status"] == "stopped"
    stop_stopped = api.ok("POST", "/nodes/pve/qemu/101/status/stop")
    assert api.finish(stop_stopped)["exitstatus"] == "OK"
    not_running = api.call("POST", "/nodes/pve/qemu/101/status/reboot")
    assert not_running.reason_phrase == "VM 101 not running"


def test_templates_cannot_start_and_conversion(api: Api) -> None:
    start = api.ok("POST", "/nodes/pve/qemu/9000/status/start")
    assert api.finish(start)["exitstatus"] == "you can't start a vm if it's a template"
    api.finish(api.clone(101))
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/template"))
    config = _config(api, 101)
    assert config["template"] == 1
    assert config["scsi0"].startswith("local-lvm:base-101-disk-0")


def test_node_resources_are_finite(api: Api) -> None:
    api.finish(api.clone(101))
    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"cores": 64})
    start = api.ok("POST", "/nodes/pve/qemu/101/status/start")
    assert api.finish(start)["exitstatus"] == "MAX 16 vcpus allowed per VM on this node"
    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"cores": 2, "memory": "70000"})
    start = api.ok("POST", "/nodes/pve/qemu/101/status/start")
    assert api.finish(start)["exitstatus"] == "start failed: QEMU exited with code 1"


def test_destroy(api: Api, sim: PveSimulator) -> None:
    api.finish(api.clone(101))
    api.ok(
        "POST", "/cluster/backup", data={"id": "nightly", "schedule": "02:00", "vmid": "101,9000"}
    )
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/start"))
    running = api.call("DELETE", "/nodes/pve/qemu/101")
    assert (running.status_code, running.reason_phrase) == (
        500,
        "VM 101 is running - destroy failed",
    )
    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/stop"))
    template = api.ok("DELETE", "/nodes/pve/qemu/9000")
    assert api.finish(template)["exitstatus"] == (
        "base volume 'local-lvm:base-9000-disk-0' is still in use by linked cloned"
    )
    upid = api.ok("DELETE", "/nodes/pve/qemu/101", params={"purge": 1})
    assert api.finish(upid)["exitstatus"] == "OK"
    missing = api.call("GET", "/nodes/pve/qemu/101/config")
    assert missing.status_code == 500
    assert not api.ok("GET", "/nodes/pve/storage/local-lvm/content", params={"vmid": 101})
    assert api.ok("GET", "/cluster/backup/nightly")["vmid"] == "9000"


def test_create_vm_with_lock_and_collision(api: Api) -> None:
    upid = api.ok(
        "POST", "/nodes/pve/qemu", data={"vmid": 200, "name": "blank", "scsi0": "local-lvm:8"}
    )
    assert _config(api, 200)["lock"] == "create"
    assert api.finish(upid)["exitstatus"] == "OK"
    assert _config(api, 200)["scsi0"] == "local-lvm:vm-200-disk-0,size=8G"
    again = api.call("POST", "/nodes/pve/qemu", data={"vmid": 200})
    assert again.reason_phrase == "unable to create VM 200 - VM 200 already exists on node 'pve'"


def test_cluster_resources_lag_like_pvestatd(api: Api, sim: PveSimulator) -> None:
    sim.advance(10 - sim.clock.now() % 10 + 1)  # just after a broadcast
    api.clone(101)
    fresh = {r["id"]: r for r in api.ok("GET", "/cluster/resources", params={"type": "vm"})}
    assert fresh["qemu/101"]["status"] == "unknown" and "name" not in fresh["qemu/101"]
    sim.advance(10)
    seen = {r["id"]: r for r in api.ok("GET", "/cluster/resources", params={"type": "vm"})}
    assert seen["qemu/101"]["name"] == "Copy-of-VM-ubuntu-2404-cloudinit"
    assert seen["qemu/9000"]["template"] == 1
    kinds = {r["type"] for r in api.ok("GET", "/cluster/resources")}
    assert kinds == {"node", "storage", "qemu"}


def test_seeded_simulators_are_reproducible() -> None:
    def macs(seed: int) -> list[str]:
        api = Api(PveSimulator(SimConfig(time_scale=0, seed=seed)))
        api.finish(api.clone(101))
        return [api.ok("GET", f"/nodes/pve/qemu/{v}/config")["net0"] for v in (9000, 101)]

    assert macs(1) == macs(1)
    assert macs(1) != macs(2)
