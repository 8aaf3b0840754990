"""Restore (POST /nodes/{node}/qemu with archive) as qemu-server does it."""

from __future__ import annotations

from homelab_sim.pve.simulator import PveSimulator
from tests.sim.support import Api


def _backup(api: Api, sim: PveSimulator) -> str:
    api.finish(api.clone(101, name="web-1"))
    sim.state.vms[101].guest["disk"] = {"/etc/kubernetes/admin.conf": "kept"}
    api.finish(api.ok("POST", "/nodes/pve/vzdump", data={"vmid": "101", "storage": "local"}))
    (backup,) = api.ok("GET", "/nodes/pve/storage/local/content", params={"content": "backup"})
    return str(backup["volid"])


def test_a_restore_to_a_new_vmid_is_the_guest_as_backed_up(api: Api, sim: PveSimulator) -> None:
    volid = _backup(api, sim)
    sim.state.vms[101].guest["disk"] = {"/etc/kubernetes/admin.conf": "changed since"}
    before = api.ok("GET", "/nodes/pve/qemu/101/config")
    upid = api.ok("POST", "/nodes/pve/qemu", data={"vmid": 150, "archive": volid, "unique": 1})
    assert api.finish(upid)["exitstatus"] == "OK"
    after = api.ok("GET", "/nodes/pve/qemu/150/config")
    assert after["name"] == "web-1" and "lock" not in after
    assert after["net0"].split(",")[0] != before["net0"].split(",")[0]  # unique: a new MAC
    assert after["net0"].split(",")[1:] == before["net0"].split(",")[1:]
    assert after["vmgenid"] != before["vmgenid"] and after["smbios1"] != before["smbios1"]
    assert sim.state.vms[150].guest["disk"] == {"/etc/kubernetes/admin.conf": "kept"}
    # without unique, the MAC is the backup's
    upid = api.ok("POST", "/nodes/pve/qemu", data={"vmid": 151, "archive": volid})
    api.finish(upid)
    assert api.ok("GET", "/nodes/pve/qemu/151/config")["net0"] == before["net0"]


def test_restoring_over_a_vm_needs_force_and_a_stopped_unprotected_vm(
    api: Api, sim: PveSimulator
) -> None:
    volid = _backup(api, sim)
    refused = api.call("POST", "/nodes/pve/qemu", data={"vmid": 101, "archive": volid})
    assert refused.reason_phrase == (
        "unable to restore VM 101 - VM 101 already exists on node 'pve'"
    )
    conflict = api.call(
        "POST", "/nodes/pve/qemu", data={"vmid": 101, "archive": volid, "scsi0": "local-lvm:4"}
    )
    assert conflict.status_code == 400
    assert conflict.json()["errors"] == {"scsi0": "option conflicts with option 'archive'"}

    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/start"))
    upid = api.ok("POST", "/nodes/pve/qemu", data={"vmid": 101, "archive": volid, "force": 1})
    status = api.finish(upid)
    assert status["exitstatus"] == "unable to restore VM 101 - vm is running"
    assert sim.state.vms[101].status == "running"  # left as it was

    api.finish(api.ok("POST", "/nodes/pve/qemu/101/status/stop"))
    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"protection": 1})
    status = api.finish(
        api.ok("POST", "/nodes/pve/qemu", data={"vmid": 101, "archive": volid, "force": 1})
    )
    assert status["exitstatus"] == "unable to restore VM 101 - - protection mode enabled"

    api.ok("PUT", "/nodes/pve/qemu/101/config", data={"protection": 0})
    sim.state.vms[101].guest["disk"] = {"/etc/kubernetes/admin.conf": "changed since"}
    status = api.finish(
        api.ok("POST", "/nodes/pve/qemu", data={"vmid": 101, "archive": volid, "force": 1})
    )
    assert status["exitstatus"] == "OK"
    assert sim.state.vms[101].guest["disk"] == {"/etc/kubernetes/admin.conf": "kept"}
