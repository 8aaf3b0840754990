"""The seed's CD-ROM as PVE and cloud-init treat it: a live media change, a deleted ISO, reboots.

- a CD-ROM media change on a running VM takes effect at once (qemu-server changes the medium);
- deleting an ISO that a VM's config names is allowed (pve-storage's ``vdisk_free`` refuses only
  a base volume of linked clones or a protected one), and that VM then no longer starts
  (qemu-server activates every volume of the config at start);
- cloud-init runs once per instance-id: a reboot on a medium with the same instance-id (the
  seed's secret-free twin) runs nothing again; a different instance-id runs the user-data again;
- a disk that ran cloud-init boots without any medium: no data source, nothing run, the system
  comes up from its disk.
"""

from __future__ import annotations

from dataclasses import replace

from homelab.engine.seediso import build_seed_iso
from homelab_sim.pve.simulator import PveSimulator
from tests.sim.guest.support import boot, guests, rendered, run_for
from tests.sim.support import Api, upload

NAME = "k8s-master-1"


def _finished(api: Api) -> int:
    log = guests(api)[NAME]["log"]
    return sum(1 for line in log if line.startswith("Cloud-init v.") and "finished" in line)


def _booted(sim: PveSimulator, api: Api) -> tuple[int, str]:
    lab = rendered("home-lab")
    vmid = boot(api, lab, NAME)
    run_for(sim, api, 900)
    entry = guests(api)[NAME]
    assert entry["cloud_init"]["status"] == "done" and entry["kubeadm"]["phase"] == "done"
    clean = lab.artifacts.seeds[NAME].clean
    assert clean is not None
    twin = build_seed_iso(clean.user_data, clean.meta_data, clean.network_config)
    api.finish(upload(api, "twin.iso", twin), seconds=5)
    return vmid, f"/nodes/pve/qemu/{vmid}"


def _restart(api: Api, path: str) -> dict[str, object]:
    api.finish(api.ok("POST", f"{path}/status/shutdown", data={"forceStop": 1, "timeout": 30}))
    result: dict[str, object] = api.finish(api.ok("POST", f"{path}/status/start"), seconds=5)
    return result


def test_media_change_is_live_a_named_iso_can_be_deleted_and_then_the_vm_does_not_start(
    sim: PveSimulator, api: Api
) -> None:
    _, path = _booted(sim, api)
    deleted = api.finish(
        api.ok("DELETE", f"/nodes/pve/storage/local/content/local:iso/seed-{NAME}.iso")
    )
    assert deleted["exitstatus"] == "OK"  # the config still names it: PVE deletes it all the same
    api.finish(api.ok("POST", f"{path}/status/shutdown", data={"forceStop": 1, "timeout": 30}))
    refused = api.finish(api.ok("POST", f"{path}/status/start"), seconds=5)
    assert refused["exitstatus"] == f"volume 'local:iso/seed-{NAME}.iso' does not exist"
    api.ok("PUT", f"{path}/config", data={"ide2": "local:iso/twin.iso,media=cdrom"})
    started = api.finish(api.ok("POST", f"{path}/status/start"), seconds=5)
    assert started["exitstatus"] == "OK"
    changed = api.ok("PUT", f"{path}/config", data={"ide2": "none,media=cdrom"})
    assert changed is None
    assert api.ok("GET", f"{path}/config")["ide2"] == "none,media=cdrom"  # live, not pending
    assert not [p for p in api.ok("GET", f"{path}/pending") if "pending" in p]


def test_a_reboot_on_the_twin_runs_nothing_again(sim: PveSimulator, api: Api) -> None:
    _, path = _booted(sim, api)
    api.ok("PUT", f"{path}/config", data={"ide2": "local:iso/twin.iso,media=cdrom"})
    before = guests(api)[NAME]
    _restart(api, path)
    run_for(sim, api, 900)
    entry = guests(api)[NAME]
    assert entry["log"] == before["log"]  # nothing carried out again
    assert entry["cloud_init"] == before["cloud_init"]
    assert entry["kubeadm"]["phase"] == "done" and entry["last_error"] is None
    assert _finished(api) == 1


def test_a_new_instance_id_runs_the_user_data_again(sim: PveSimulator, api: Api) -> None:
    _, path = _booted(sim, api)
    clean = rendered("home-lab").artifacts.seeds[NAME].clean
    assert clean is not None
    other = replace(clean, meta_data=clean.meta_data.replace(b"instance-id: ", b"instance-id: x"))
    assert other.meta_data != clean.meta_data
    iso = build_seed_iso(other.user_data, other.meta_data, other.network_config)
    api.finish(upload(api, "other.iso", iso), seconds=5)
    api.ok("PUT", f"{path}/config", data={"ide2": "local:iso/other.iso,media=cdrom"})
    before = guests(api)[NAME]
    assert before["cloud_init"]["module"] == "scripts_user: runcmd[15]"  # the seed's kubeadm init
    _restart(api, path)
    run_for(sim, api, 900)
    after = guests(api)[NAME]
    assert after["log"] != before["log"]
    # the new instance carried out the user-data it was given: the twin's, which ends with the
    # node's preparation (runcmd[14]) and has no kubeadm step
    assert after["cloud_init"] == {
        "status": "done",
        "stage": "final",
        "module": "scripts_user: runcmd[14]",
    }


def test_a_disk_that_ran_cloud_init_boots_without_a_medium(sim: PveSimulator, api: Api) -> None:
    vmid, path = _booted(sim, api)
    conf = {"file": "/etc/kubernetes/kubelet.conf"}
    kubelet = api.ok("GET", f"{path}/agent/file-read", params=conf)["content"]
    api.ok("PUT", f"{path}/config", data={"ide2": "none,media=cdrom"})
    _restart(api, path)
    run_for(sim, api, 120)
    entry = guests(api)[NAME]
    assert entry["cloud_init"]["status"] == "done" and entry["kubeadm"]["phase"] == "done"
    assert _finished(api) == 1
    assert api.ok("POST", f"{path}/agent/ping") == {"result": {}}
    addresses = sim.guest.agent_interfaces(sim.state.vms[vmid])
    assert any(
        a["ip-address"] == "10.0.20.10" for iface in addresses for a in iface["ip-addresses"]
    )
    assert api.ok("GET", f"{path}/agent/file-read", params=conf)["content"] == kubelet
