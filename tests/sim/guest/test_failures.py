"""What goes wrong in a guest is visible in /_sim/guests: the step, kubeadm's phase and message."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
import yaml

from homelab.core.render.tokens import bootstrap_token_secret
from homelab_sim.pve.simulator import PveSimulator
from tests.sim.guest.support import (
    Lab,
    boot,
    create,
    edit_user_data,
    guests,
    rendered,
    run_for,
    start,
)
from tests.sim.support import Api


def _up_with_master(sim: PveSimulator, api: Api, lab: Lab) -> None:
    boot(api, lab, "k8s-master-1")
    run_for(sim, api, 600)
    assert guests(api)["k8s-master-1"]["kubeadm"]["phase"] == "done"


def _worker(sim: PveSimulator, api: Api, lab: Lab, old: str, new: str) -> dict[str, Any]:
    seed = edit_user_data(lab.artifacts.seeds["k8s-worker-2"], old, new)
    boot(api, lab, "k8s-worker-2", seed)
    run_for(sim, api, 1200)
    entry: dict[str, Any] = guests(api)["k8s-worker-2"]
    return entry


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ("hash", "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys"),
        ("secret", "failed to verify JWS signature of received cluster info object"),
        (
            "id",
            'could not find a JWS signature in the cluster-info ConfigMap for token ID "zzzzzz"',
        ),
    ],
)
def test_a_worker_with_a_wrong_token_or_ca_hash_fails_visibly(
    sim: PveSimulator, api: Api, part: str, message: str
) -> None:
    lab = rendered("home-lab")
    _up_with_master(sim, api, lab)
    secrets = lab.secrets
    old = {
        "hash": secrets.ca_cert_hash(),
        "secret": secrets.bootstrap_token().reveal(),
        "id": secrets.bootstrap_token().reveal(),
    }[part]
    new = {
        "hash": "sha256:" + "0" * 64,
        "secret": f"{secrets.bootstrap_token_id}.{'x' * 16}",
        "id": f"zzzzzz.{secrets.bootstrap_token_secret.reveal()}",
    }[part]
    entry = _worker(sim, api, lab, old, new)
    assert entry["cloud_init"]["status"] == "error"
    assert entry["kubeadm"]["failed_phase"] == "preflight"
    assert message in entry["last_error"]
    assert any(message in line for line in entry["log"])
    if part == "hash":
        assert f'"{secrets.ca_cert_hash()}" are pinned' in entry["last_error"]
    assert "homelab: kubeadm join failed" in entry["log"]
    (cluster,) = sim.kube.clusters()
    assert cluster.node_names() == ["k8s-master-1"]
    assert secrets.bootstrap_token_secret.reveal() not in str(entry)


def test_an_expired_token_fails_until_the_tool_rearms_it(sim: PveSimulator, api: Api) -> None:
    lab = rendered("home-lab")
    _up_with_master(sim, api, lab)
    sim.advance(25 * 3600)
    entry = _worker(sim, api, lab, "seq 5", "seq 1")
    assert "could not find a JWS signature" in entry["last_error"]
    (cluster,) = sim.kube.clusters()
    later = dt.datetime.fromtimestamp(sim.clock.now(), dt.UTC) + dt.timedelta(hours=2)
    with cluster.lock:
        cluster.state.ensure(bootstrap_token_secret(lab.secrets, expires=later), manager="homelab")
    boot(api, lab, "k8s-worker-3")
    run_for(sim, api, 900)
    assert guests(api)["k8s-worker-3"]["kubeadm"]["phase"] == "done"
    assert "k8s-worker-3" in cluster.node_names()


def test_invalid_user_data_is_not_run(sim: PveSimulator, api: Api) -> None:
    lab = rendered("home-lab")
    seed = edit_user_data(
        lab.artifacts.seeds["k8s-master-1"], "package_upgrade:", "packages_upgrade:"
    )
    boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 300)
    entry = guests(api)["k8s-master-1"]
    assert entry["cloud_init"] == {"status": "error", "stage": "init", "module": "schema"}
    assert "Cloud config schema errors" in entry["last_error"]
    assert "'packages_upgrade' was unexpected" in entry["last_error"]
    assert sim.kube.clusters() == []


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "kubelet=1.29.15-1.1",
            "kubelet=1.29.99-1.1",
            "E: Version '1.29.99-1.1' for 'kubelet' was not found",
        ),
        ("v1.29/deb/ /", "v1.28/deb/ /", "E: Version '1.29.15-1.1' for 'kubelet' was not found"),
        ("v1.29/deb/ /", "v1.99/deb/ /", "does not have a Release file"),
    ],
)
def test_a_wrong_package_pin_or_repository_fails_like_apt(
    sim: PveSimulator, api: Api, old: str, new: str, message: str
) -> None:
    lab = rendered("home-lab")
    seed = edit_user_data(lab.artifacts.seeds["k8s-master-1"], old, new)
    boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 900)
    entry = guests(api)["k8s-master-1"]
    assert entry["cloud_init"]["status"] == "error"
    assert any(message in line for line in entry["log"])
    assert "sh: 1: kubeadm: not found" in entry["log"]
    assert sim.kube.clusters() == []


def test_an_unknown_command_fails_with_a_clear_line(sim: PveSimulator, api: Api) -> None:
    lab = rendered("home-lab")
    seed = edit_user_data(
        lab.artifacts.seeds["k8s-master-1"], "runcmd:\n", "runcmd:\n- - frobnicate\n  - --all\n"
    )
    boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 900)
    entry = guests(api)["k8s-master-1"]
    assert "sh: 1: frobnicate: not found" in entry["log"]
    assert entry["cloud_init"]["status"] == "error"
    assert "scripts_user: frobnicate --all (exit 127)" in entry["cloud_init"]["failed"]
    assert entry["kubeadm"]["phase"] == "done"  # the rest of runcmd still ran, as cloud-init does


def test_swap_left_on_fails_kubeadm_preflight(sim: PveSimulator, api: Api) -> None:
    lab = rendered("home-lab")
    seed = edit_user_data(lab.artifacts.seeds["k8s-master-1"], "- - swapoff\n  - -a\n", "")
    boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 900)
    entry = guests(api)["k8s-master-1"]
    assert "[ERROR Swap]: running with swap on is not supported" in entry["last_error"]
    assert entry["kubeadm"]["failed_phase"] == "preflight"


def test_concurrent_control_plane_joins_fail_like_etcd(sim: PveSimulator, api: Api) -> None:
    lab = rendered("ha-lab")
    previous_wait = "https://10.0.20.12:6443/readyz"
    seed = edit_user_data(
        lab.artifacts.seeds["k8s-master-3"], previous_wait, "https://10.0.20.9:6443/readyz"
    )
    boot(api, lab, "k8s-master-1")
    run_for(sim, api, 600)
    create(api, lab, "k8s-master-2")
    create(api, lab, "k8s-master-3", seed)
    start(api, lab, "k8s-master-2", "k8s-master-3")
    run_for(sim, api, 1800)
    report = guests(api)
    logs = report["k8s-master-2"]["log"] + report["k8s-master-3"]["log"]
    assert any("etcdserver: too many learner members in cluster" in line for line in logs)
    # the renderer's reset-and-retry loop recovers once the other join is through
    assert all(report[n]["kubeadm"]["phase"] == "done" for n in ("k8s-master-2", "k8s-master-3"))


def test_kube_vip_with_admin_conf_during_init_times_out(sim: PveSimulator, api: Api) -> None:
    lab = rendered("ha-lab")
    seed = edit_user_data(
        lab.artifacts.seeds["k8s-master-1"],
        "path: /etc/kubernetes/super-admin.conf",
        "path: /etc/kubernetes/admin.conf",
    )
    boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 600)
    entry = guests(api)["k8s-master-1"]
    assert entry["kubeadm"]["failed_phase"] == "upload-config/kubeadm"
    assert 'User "kubernetes-admin" cannot get resource "leases"' in entry["last_error"]


def test_a_one_cpu_control_plane_fails_the_numcpu_check(sim: PveSimulator, api: Api) -> None:
    lab = rendered("home-lab")
    vmid = create(api, lab, "k8s-master-1")
    api.ok("POST", f"/nodes/pve/qemu/{vmid}/config", data={"cores": 1, "memory": 1024})
    start(api, lab, "k8s-master-1")
    run_for(sim, api, 900)
    error = guests(api)["k8s-master-1"]["last_error"]
    assert "[ERROR NumCPU]: the number of available CPUs 1 is less than the required 2" in error
    assert "[ERROR Mem]: the system RAM (1024 MB) is less than the minimum 1700 MB" in error


def test_a_control_plane_newer_than_kubeadm_is_refused(sim: PveSimulator, api: Api) -> None:
    lab = rendered("home-lab")
    seed = edit_user_data(
        lab.artifacts.seeds["k8s-master-1"],
        "kubernetesVersion: v1.29.15",
        "kubernetesVersion: v1.30.2",
    )
    boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 900)
    error = guests(api)["k8s-master-1"]["last_error"]
    assert "only supports deploying clusters with the control plane version <= 1.29.x" in error
    assert sim.kube.clusters() == []


def test_a_control_plane_join_needs_the_shared_certificates(sim: PveSimulator, api: Api) -> None:
    lab = rendered("ha-lab")
    seed = lab.artifacts.seeds["k8s-master-2"]
    config = yaml.safe_load(seed.user_data.decode().partition("\n")[2])
    config["write_files"] = [
        f for f in config["write_files"] if f["path"] != "/etc/kubernetes/pki/front-proxy-ca.key"
    ]
    text = "#cloud-config\n" + yaml.safe_dump(config)
    boot(api, lab, "k8s-master-1")
    run_for(sim, api, 600)
    boot(api, lab, "k8s-master-2", replace(seed, user_data=text.encode()))
    run_for(sim, api, 1200)
    entry = guests(api)["k8s-master-2"]
    assert entry["kubeadm"]["failed_phase"] == "preflight"
    assert "One or more conditions for hosting a new control plane instance" in entry["last_error"]
    assert "/etc/kubernetes/pki/front-proxy-ca.key: no such file" in entry["last_error"]
    (cluster,) = sim.kube.clusters()
    assert cluster.control_plane_ips() == ["10.0.20.11"]


def test_a_kube_vip_image_no_registry_has_never_holds_the_vip(sim: PveSimulator, api: Api) -> None:
    lab = rendered("ha-lab")
    image = "ghcr.io/kube-vip/kube-vip:v0.8.99"
    seed = edit_user_data(
        lab.artifacts.seeds["k8s-master-1"], "ghcr.io/kube-vip/kube-vip:v0.8.9\n", image + "\n"
    )
    boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 600)
    entry = guests(api)["k8s-master-1"]
    assert entry["kubeadm"]["failed_phase"] == "upload-config/kubeadm"
    assert (
        f'the kube-vip static pod cannot start: failed to pull and unpack image "{image}"'
        in entry["last_error"]
    )


def test_a_kubeadm_config_api_the_installed_kubeadm_does_not_read_is_refused(
    sim: PveSimulator, api: Api
) -> None:
    lab = rendered("home-lab")
    seed = edit_user_data(
        lab.artifacts.seeds["k8s-master-1"],
        "apiVersion: kubeadm.k8s.io/v1beta3",
        "apiVersion: kubeadm.k8s.io/v1beta4",
    )
    boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 900)
    error = guests(api)["k8s-master-1"]["last_error"]
    assert 'no kind "InitConfiguration" is registered for version "kubeadm.k8s.io/v1beta4"' in (
        error
    )
    assert sim.kube.clusters() == []
