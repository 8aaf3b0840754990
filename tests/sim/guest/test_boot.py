"""Rendered labs booted in the simulator: cloud-init runs, the control plane inits, nodes join."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from homelab_sim.pve.simulator import PveSimulator
from tests.sim.guest.support import boot, guests, rendered, run_for
from tests.sim.support import Api


def _done(entry: dict[str, Any]) -> bool:
    return bool(entry["cloud_init"]["status"] == "done" and entry["kubeadm"]["phase"] == "done")


def _history(entry: dict[str, Any], phase: str) -> list[float]:
    return [t for t, p in entry["kubeadm"]["history"] if p == phase]


def test_the_reference_lab_comes_up(sim: PveSimulator, api: Api) -> None:
    lab = rendered("home-lab")
    for name in sorted(lab.spec.vms):
        boot(api, lab, name)
    run_for(sim, api, 900)
    report = guests(api)
    assert set(report) == set(lab.spec.vms)
    assert all(_done(entry) for entry in report.values()), report
    assert all(entry["last_error"] is None for entry in report.values())
    (cluster,) = sim.kube.clusters()
    assert cluster.name == "home-lab" and cluster.version == "v1.29.15"
    assert cluster.node_names() == ["k8s-master-1", "k8s-worker-2", "k8s-worker-3"]
    assert cluster.control_plane_ips() == ["10.0.20.10"]
    endpoints = api.ok("GET", "/_sim/kube")
    assert list(endpoints) == ["10.0.20.10:6443"]
    assert endpoints["10.0.20.10:6443"].startswith("https://127.0.0.1:")
    worker = report["k8s-worker-2"]
    assert "This node has joined the cluster." in worker["log"]
    assert "Cloud-init v. 24.1.3 finished: status done" in worker["log"]


def test_cloud_init_phases_take_virtual_time(sim: PveSimulator, api: Api) -> None:
    lab = rendered("home-lab")
    boot(api, lab, "k8s-master-1")
    seen = set()
    for _ in range(40):
        run_for(sim, api, 5, step=5)
        entry = guests(api)["k8s-master-1"]
        seen.add((entry["cloud_init"]["module"], entry["kubeadm"]["phase"]))
    modules = {module for module, _ in seen}
    assert "write_files_deferred" in modules
    assert any(module.startswith("scripts_user: runcmd[") for module in modules)
    assert ("scripts_user: runcmd[15]", "wait-control-plane") in seen
    history = guests(api)["k8s-master-1"]["kubeadm"]["history"]
    assert history[-1][0] - history[0][0] >= 50  # kubeadm init takes about a minute


def test_ha_control_planes_join_one_at_a_time_through_the_vip(sim: PveSimulator, api: Api) -> None:
    lab = rendered("ha-lab")
    for name in ["k8s-master-3", "k8s-master-2", "k8s-worker-1", "k8s-master-1"]:
        boot(api, lab, name)  # the order of boots does not order the joins
    for name in ["k8s-worker-2", "k8s-worker-3"]:
        boot(api, lab, name)
    run_for(sim, api, 1800)
    report = guests(api)
    assert all(_done(entry) for entry in report.values()), {
        k: (v["kubeadm"], v["last_error"]) for k, v in report.items()
    }
    (cluster,) = sim.kube.clusters()
    assert cluster.endpoint == "10.0.20.9"
    assert sorted(cluster.control_plane_ips()) == ["10.0.20.11", "10.0.20.12", "10.0.20.13"]
    assert len(cluster.node_names()) == 6
    m1_done = _history(report["k8s-master-1"], "done")[0]
    m2_etcd, m2_done = (
        _history(report["k8s-master-2"], "control-plane-join/etcd")[0],
        _history(report["k8s-master-2"], "done")[0],
    )
    m3_etcd = _history(report["k8s-master-3"], "control-plane-join/etcd")[0]
    assert m1_done < m2_etcd < m2_done < m3_etcd
    vips = [p for p in cluster.state.objects("v1", "Pod", "kube-system") if "kube-vip" in str(p)]
    assert len(vips) == 3
    assert "10.0.20.9:6443" in api.ok("GET", "/_sim/kube")


def test_a_worker_booted_before_the_control_plane_waits_and_joins(
    sim: PveSimulator, api: Api
) -> None:
    lab = rendered("home-lab")
    boot(api, lab, "k8s-worker-2")
    run_for(sim, api, 900)
    early = guests(api)["k8s-worker-2"]
    assert early["cloud_init"]["status"] == "running"
    assert early["cloud_init"]["module"] == "scripts_user: runcmd[15]"  # the wait for the API
    boot(api, lab, "k8s-master-1")
    run_for(sim, api, 900)
    report = guests(api)
    assert _done(report["k8s-worker-2"]) and _done(report["k8s-master-1"])
    (cluster,) = sim.kube.clusters()
    assert "k8s-worker-2" in cluster.node_names()


def test_the_join_discovery_retries_then_fails_like_kubeadm(sim: PveSimulator, api: Api) -> None:
    """Without the renderer's wait loop, kubeadm's own discovery gives up after 5 minutes."""
    lab = rendered("home-lab")
    seed = lab.artifacts.seeds["k8s-worker-2"]
    text = seed.user_data.decode().replace("seq 360", "seq 1").replace("seq 5", "seq 1")
    boot(api, lab, "k8s-worker-2", replace(seed, user_data=text.encode()))
    run_for(sim, api, 900)
    entry = guests(api)["k8s-worker-2"]
    assert entry["cloud_init"]["status"] == "error"
    assert entry["kubeadm"]["failed_phase"] == "preflight"
    assert (
        "couldn't validate the identity of the API Server: failed to request the "
        in (entry["last_error"])
    )
    assert "dial tcp 10.0.20.10:6443" in entry["last_error"]
    retries = [t for t, p in entry["kubeadm"]["history"] if p == "preflight/discovery"]
    assert retries  # it did reach discovery
