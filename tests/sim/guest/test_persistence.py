"""``--state``: guests, their clusters and the simulated Kubernetes objects survive restarts."""

from __future__ import annotations

from pathlib import Path

from homelab_sim.pve.simulator import PveSimulator, SimConfig
from tests.sim.guest.support import boot, guests, rendered, run_for
from tests.sim.support import Api


def test_guests_and_clusters_survive_a_restart(tmp_path: Path) -> None:
    config = SimConfig(time_scale=0, state_dir=tmp_path, seed=3)
    lab = rendered("home-lab")
    first = PveSimulator(config)
    api = Api(first)
    boot(api, lab, "k8s-master-1")
    run_for(first, api, 60)
    midway = guests(api)["k8s-master-1"]
    assert midway["cloud_init"]["status"] == "running"
    first.close()

    second = PveSimulator(config)
    api = Api(second)
    resumed = guests(api)["k8s-master-1"]
    assert resumed["cloud_init"]["module"] == midway["cloud_init"]["module"]
    run_for(second, api, 600)
    assert guests(api)["k8s-master-1"]["kubeadm"]["phase"] == "done"
    second.close()

    third = PveSimulator(config)
    api = Api(third)
    (cluster,) = third.kube.clusters()
    assert cluster.node_names() == ["k8s-master-1"]
    boot(api, lab, "k8s-worker-2")  # checked against the token and CA kept on disk
    run_for(third, api, 600)
    assert guests(api)["k8s-worker-2"]["kubeadm"]["phase"] == "done"
    assert cluster.node_names() == ["k8s-master-1", "k8s-worker-2"]
    assert list(api.ok("GET", "/_sim/kube")) == ["10.0.20.10:6443"]
    third.close()
    assert (tmp_path / "state.json").stat().st_mode & 0o077 == 0


def test_a_rebooted_node_keeps_its_configuration(sim: PveSimulator, api: Api) -> None:
    lab = rendered("home-lab")
    vmid = boot(api, lab, "k8s-master-1")
    run_for(sim, api, 600)
    api.finish(api.ok("POST", f"/nodes/pve/qemu/{vmid}/status/reboot"), seconds=60)
    run_for(sim, api, 60)
    entry = guests(api)["k8s-master-1"]
    assert entry["cloud_init"]["status"] == "done"  # per-instance modules do not run again
    machine = sim.guest.machines[vmid]  # type: ignore[attr-defined]
    assert machine.system.swap_on is False  # fstab's swap line was commented out
    assert "br_netfilter" in machine.system.modules
    assert machine.system.proc_sys("net.ipv4.ip_forward") == "1"
    assert "10.0.20.10" in sim.guest.book.records["home-lab"].api_ips  # type: ignore[attr-defined]
