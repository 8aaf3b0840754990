"""The simulated kubeadm and kubelet of each minor refuse what the real ones refuse (issue 10).

- kubeadm 1.37 no longer reads ``kubeadm.k8s.io/v1beta3`` (k/k#136016): an old API spec;
- kubeadm 1.30 never read ``v1beta4`` (it came in 1.31): no such kind in its scheme;
- kubeadm 1.31-1.36 read both;
- the 1.36+ kubelet does not start on containerd 1.7 (no CRI ``RuntimeConfig``), so init fails
  waiting for it.
"""

from __future__ import annotations

from collections.abc import Generator
from textwrap import indent
from typing import Any

from homelab.core.render import cloudinit
from homelab.core.render.lab import render_lab
from homelab.core.render.versions import VERSIONS
from homelab.core.spec.models import LabSpec
from homelab_sim import catalogue
from homelab_sim.guest import apt
from homelab_sim.guest.kubeadm_checks import unknown_api
from homelab_sim.guest.shell import BufferSink, Streams
from homelab_sim.guest.system import GuestSystem
from homelab_sim.kube import bootstrap as kube_bootstrap
from homelab_sim.kube.state import ClusterConfig
from homelab_sim.pve.simulator import PveSimulator
from tests.render.support import load_example
from tests.sim.guest.support import Lab, boot, edit_user_data, guests, lab_pki, run_for
from tests.sim.support import Api

V1BETA3, V1BETA4 = "apiVersion: kubeadm.k8s.io/v1beta3", "apiVersion: kubeadm.k8s.io/v1beta4"


def lab_at(version: str) -> Lab:
    data = load_example("home-lab").model_dump(mode="json")
    data["kubernetes"]["version"] = version
    spec = LabSpec.model_validate(data)
    secrets = lab_pki("home-lab")
    return Lab(spec, secrets, render_lab(spec, secrets))


def init_master(sim: PveSimulator, api: Api, lab: Lab, old: str, new: str) -> dict[str, object]:
    seed = edit_user_data(lab.artifacts.seeds["k8s-master-1"], old, new)
    boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 900)
    entry: dict[str, object] = guests(api)["k8s-master-1"]
    return entry


def test_kubeadm_1_37_refuses_the_removed_v1beta3_api(sim: PveSimulator, api: Api) -> None:
    entry = init_master(sim, api, lab_at("1.37.0"), V1BETA4, V1BETA3)
    assert (
        'your configuration file uses an old API spec: "kubeadm.k8s.io/v1beta3". Please use '
        "kubeadm v1.35 instead and run 'kubeadm config migrate --old-config old.yaml "
        "--new-config new.yaml'"
    ) in str(entry["last_error"])
    assert sim.kube.clusters() == []


def test_kubeadm_1_30_does_not_know_v1beta4(sim: PveSimulator, api: Api) -> None:
    entry = init_master(sim, api, lab_at("1.30.14"), V1BETA3, V1BETA4)
    assert (
        'no kind "InitConfiguration" is registered for version "kubeadm.k8s.io/v1beta4" in '
        'scheme "k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"'
    ) in str(entry["last_error"])
    assert sim.kube.clusters() == []


def test_kubeadm_1_36_still_reads_v1beta3_in_its_own_shape(sim: PveSimulator, api: Api) -> None:
    lab = lab_at("1.36.3")
    node_ip = "kubeletExtraArgs:\n      - name: node-ip\n        value: 10.0.20.10\n"
    seed = edit_user_data(lab.artifacts.seeds["k8s-master-1"], V1BETA4 + "\n", V1BETA3 + "\n")
    seed = edit_user_data(seed, node_ip, "kubeletExtraArgs:\n        node-ip: 10.0.20.10\n")
    boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 900)
    entry = guests(api)["k8s-master-1"]
    assert entry["kubeadm"]["phase"] == "done", entry.get("last_error")


def test_a_v1beta3_document_with_v1beta4_lists_is_refused(sim: PveSimulator, api: Api) -> None:
    entry = init_master(sim, api, lab_at("1.36.3"), V1BETA4 + "\n", V1BETA3 + "\n")
    assert (
        "json: cannot unmarshal array into Go struct field "
        "NodeRegistrationOptions.nodeRegistration.kubeletExtraArgs of type map[string]string"
    ) in str(entry["last_error"])


def test_a_1_37_kubelet_does_not_start_on_ubuntus_containerd_1_7(
    sim: PveSimulator, api: Api
) -> None:
    lab = lab_at("1.37.0")
    pins = VERSIONS["1.37"]  # containerd 1.7 with its own (version 2) config
    seed = edit_user_data(
        lab.artifacts.seeds["k8s-master-1"],
        indent(cloudinit.containerd2_config(pins), "    "),
        indent(cloudinit.containerd17_config(pins), "    "),
    )
    boot(api, lab, "k8s-master-1", edit_user_data(seed, "  - containerd.io\n", "  - containerd\n"))
    run_for(sim, api, 900)
    entry = guests(api)["k8s-master-1"]
    error = str(entry["last_error"])
    assert error.startswith(
        "error execution phase wait-control-plane: failed while waiting for the kubelet to "
        "start: The HTTP call equal to 'curl -sSL http://127.0.0.1:10248/healthz' returned error"
    ), error
    assert "containerd 1.7 does not implement the CRI RuntimeConfig call" in error
    assert sim.kube.clusters() == []


def test_a_1_37_lab_comes_up_on_dockers_containerd_2(sim: PveSimulator, api: Api) -> None:
    lab = lab_at("1.37.0")
    boot(api, lab, "k8s-master-1")
    run_for(sim, api, 900)
    entry = guests(api)["k8s-master-1"]
    assert entry["kubeadm"]["phase"] == "done", entry.get("last_error")


def apt_run(system: GuestSystem, *args: str) -> tuple[int, str, str]:
    out, err = BufferSink(), BufferSink()
    gen: Generator[float, None, int] = apt.apt_get(
        system, list(args), Streams(out, err), lambda: 0.0
    )
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return int(stop.value), out.value(), err.value()


DOCKER_LIST = "/etc/apt/sources.list.d/docker.list"
DOCKER_LINE = (
    "deb [signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu "
    "noble stable\n"
)


def test_containerd_io_comes_only_from_dockers_repository_signed_with_its_key() -> None:
    system = GuestSystem.stock()
    assert apt_run(system, "update")[0] == 0
    assert apt_run(system, "install", "-y", "containerd.io")[2] == (
        "E: Unable to locate package containerd.io\n"
    )
    system.write(DOCKER_LIST, DOCKER_LINE.encode())
    status, _, err = apt_run(system, "update")  # no key yet
    assert status == 100
    assert "NO_PUBKEY 8D81803C0EBFCD88" in err
    assert apt.signing_key("https://download.docker.com/linux/ubuntu/gpg") is not None
    assert apt.signing_key("https://download.docker.com/linux/debian/gpg") is None
    key = apt.dearmor(apt.DOCKER_ARMORED_KEY.encode())
    assert key is not None
    system.write("/etc/apt/keyrings/docker.gpg", key)
    assert apt_run(system, "update")[0] == 0
    status, out, _ = apt_run(system, "install", "-y", "containerd.io")
    assert status == 0 and "Setting up containerd.io (2." in out
    assert "containerd" in system.active  # containerd.io's unit is containerd.service


def test_containerd_versions_are_read_from_either_package() -> None:
    assert catalogue.containerd_version("1.7.24-0ubuntu1~24.04.2") == (1, 7)
    assert catalogue.containerd_version("2.2.1-1~ubuntu.24.04~noble") == (2, 2)
    assert catalogue.containerd_version("garbage") == (0, 0)


def test_kubeadm_names_an_old_api_spec_or_an_unknown_kind() -> None:
    def refusal(kubeadm: str, api: str) -> str:
        return unknown_api("ClusterConfiguration", api, catalogue.kubeadm_apis(kubeadm))

    assert refusal("1.37.0", "kubeadm.k8s.io/v1beta3").startswith(
        'your configuration file uses an old API spec: "kubeadm.k8s.io/v1beta3". Please use '
        "kubeadm v1.35 instead"
    )
    assert "Please use kubeadm v1.22 instead" in refusal("1.31.0", "kubeadm.k8s.io/v1beta2")
    for kubeadm, api in (("1.29.15", "kubeadm.k8s.io/v1beta4"), ("1.37.0", "kubeadm.k8s.io/v1")):
        assert refusal(kubeadm, api) == (
            f'no kind "ClusterConfiguration" is registered for version "{api}" in scheme '
            '"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"'
        )


def test_containerd_1_7_does_not_run_on_containerd_2s_config(sim: PveSimulator, api: Api) -> None:
    lab = lab_at("1.33.13")
    seed = edit_user_data(
        lab.artifacts.seeds["k8s-master-1"], "    version = 2\n", "    version = 3\n"
    )
    boot(api, lab, "k8s-master-1", seed)
    run_for(sim, api, 900)
    error = str(guests(api)["k8s-master-1"]["last_error"])
    assert "[ERROR CRI]: container runtime is not running" in error, error


def test_the_kubeadm_config_map_is_stored_in_the_newest_api_of_the_kubeadm() -> None:
    def stored(version: str) -> dict[str, Any]:
        config = ClusterConfig(
            name="lab",
            version=version,
            endpoint="10.0.20.10",
            pod_cidr="192.168.0.0/16",
            service_cidr="10.96.0.0/12",
            ca_cert_pem="",
            ca_key_pem="",
            component_args={"kube-scheduler": {"bind-address": "0.0.0.0"}},
        )
        return kube_bootstrap.cluster_configuration(config)

    old, new = stored("v1.30.14"), stored("v1.31.14")
    assert old["apiVersion"] == "kubeadm.k8s.io/v1beta3"
    assert old["scheduler"]["extraArgs"] == {"bind-address": "0.0.0.0"}
    assert new["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert new["scheduler"]["extraArgs"] == [{"name": "bind-address", "value": "0.0.0.0"}]
