"""The control routes the guest work adds: /_sim/guests, /_sim/kube, /_sim/manifests."""

from __future__ import annotations

import time

import yaml

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from tests.sim.guest.support import boot, rendered
from tests.sim.support import Api


def test_the_manifest_mirror_serves_yaml_and_404s_the_unknown(api: Api) -> None:
    response = api.call("GET", "/_sim/manifests/metallb/v0.14.9/metallb-native.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/yaml"
    kinds = {doc["kind"] for doc in yaml.safe_load_all(response.text) if doc}
    assert "CustomResourceDefinition" in kinds and "Namespace" in kinds
    missing = api.call("GET", "/_sim/manifests/metallb/v9.9.9/metallb-native.yaml")
    assert missing.status_code == 404
    assert api.call("GET", "/_sim/manifests/metallb").status_code == 404


def test_guests_and_kube_start_empty_and_need_credentials(sim: PveSimulator, api: Api) -> None:
    assert api.ok("GET", "/_sim/kube") == {}
    assert api.ok("GET", "/_sim/guests") == {}
    anonymous = api.http.get("/_sim/guests", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert api.call("GET", "/_sim/guests", params={"lines": "x"}).status_code == 400


def test_a_vm_without_a_seed_boots_as_before(sim: PveSimulator, api: Api) -> None:
    api.finish(api.clone(120, name="plain"), seconds=60)
    # without the template's cloud-init drive (ide2), which PVE would fill with a seed
    api.ok("POST", "/nodes/pve/qemu/120/config", data={"agent": 1, "delete": "ide2"})
    api.finish(api.ok("POST", "/nodes/pve/qemu/120/status/start"), seconds=60)
    sim.advance(60)
    entry = api.ok("GET", "/_sim/guests")["plain"]
    assert entry["status"] == "running" and entry["cloud_init"] is None
    assert api.ok("POST", "/nodes/pve/qemu/120/agent/ping") == {"result": {}}


def test_a_ticking_simulator_moves_its_guests_without_requests() -> None:
    sim = PveSimulator(SimConfig(time_scale=1200, seed=5))
    api = Api(sim)
    vmid = boot(api, rendered("home-lab"), "k8s-master-1")
    machine = sim.guest.machines[vmid]  # type: ignore[attr-defined]
    stop = sim.start_ticker(0.02)
    try:
        deadline = time.monotonic() + 10
        while machine.kubeadm_state["phase"] != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop()
        sim.close()
    assert machine.kubeadm_state["phase"] == "done"
