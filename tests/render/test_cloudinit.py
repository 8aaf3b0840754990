"""user-data content: the node prerequisites kubeadm's issue trackers say people get wrong."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from typing import Any

import pytest
import yaml

from homelab.core.render.artifacts import Artifacts
from homelab.core.render.network import vm_mac
from homelab.core.spec.models import LabSpec
from tests.render.support import LABS, cloud_config


def files_of(artifacts: Artifacts, vm: str) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in cloud_config(artifacts.seeds[vm].user_data)["write_files"]}


def commands_of(artifacts: Artifacts, vm: str) -> list[Any]:
    runcmd: list[Any] = cloud_config(artifacts.seeds[vm].user_data)["runcmd"]
    return runcmd


@pytest.mark.parametrize("lab", LABS)
def test_every_node_gets_the_prerequisites(lab: str, rendered: dict[str, Artifacts]) -> None:
    for vm in rendered[lab].seeds:
        doc = cloud_config(rendered[lab].seeds[vm].user_data)
        files = files_of(rendered[lab], vm)
        commands = commands_of(rendered[lab], vm)
        assert doc["hostname"] == vm
        assert doc["swap"] == {"size": 0}
        assert ["swapoff", "-a"] in commands and ["systemctl", "mask", "swap.target"] in commands
        assert files["/etc/modules-load.d/k8s.conf"]["content"].split() == [
            "overlay",
            "br_netfilter",
        ]
        sysctl = files["/etc/sysctl.d/99-kubernetes.conf"]["content"]
        for key in ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables"):
            assert f"{key} = 1" in sysctl
        # br_netfilter is loaded before sysctl --system (the bridge keys exist only then)
        assert commands.index(["modprobe", "br_netfilter"]) < commands.index(["sysctl", "--system"])
        assert "packages" not in doc and "package_update" not in doc  # runcmd installs them
        installs = [c for c in commands if isinstance(c, list) and "install" in c and "-y" in c]
        agent, rest = installs
        assert agent[-1] == "qemu-guest-agent" and "containerd" in rest
        start = commands.index(["systemctl", "start", "qemu-guest-agent"])
        assert commands.index(agent) < start < commands.index(rest)  # the agent first
        for install in installs:  # every install waits for dpkg's lock (unattended-upgrades)
            assert install[install.index("DPkg::Lock::Timeout=600") - 1] == "-o"


def test_containerd_uses_systemd_cgroups_and_kubeadms_pause_image(
    rendered: dict[str, Artifacts],
) -> None:
    entry = files_of(rendered["home-lab"], "k8s-worker-2")["/etc/containerd/config.toml"]
    assert entry["defer"] is True  # written after the package, then containerd is restarted
    config = tomllib.loads(entry["content"])
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert config["version"] == 2
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.9"
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is True


def test_kubernetes_packages_come_from_the_minor_repo_pinned_and_held(
    rendered: dict[str, Artifacts],
) -> None:
    artifacts = rendered["home-lab"]
    repo = files_of(artifacts, "k8s-master-1")["/etc/apt/sources.list.d/kubernetes.list"]
    assert "https://pkgs.k8s.io/core:/stable:/v1.29/deb/ /" in repo["content"]
    assert repo["defer"] is True  # the key is fetched in runcmd, before apt-get update
    commands = commands_of(artifacts, "k8s-master-1")
    install = [c for c in commands if isinstance(c, list) and "install" in c and "-y" in c][-1]
    pins = [arg for arg in install if re.match(r"^kube\w+=", arg)]
    assert pins == ["kubelet=1.29.15-1.1", "kubeadm=1.29.15-1.1", "kubectl=1.29.15-1.1"]
    hold = commands.index(["apt-mark", "hold", "kubelet", "kubeadm", "kubectl"])
    assert commands.index(install) < hold


def test_access_user_has_keys_and_no_password(
    rendered: dict[str, Artifacts], specs: dict[str, LabSpec]
) -> None:
    doc = cloud_config(rendered["home-lab"].seeds["k8s-worker-3"].user_data)
    (user,) = doc["users"]
    assert user["name"] == specs["home-lab"].access.user
    assert user["ssh_authorized_keys"] == specs["home-lab"].access.ssh_authorized_keys
    assert user["lock_passwd"] is True and doc["ssh_pwauth"] is False


def test_control_planes_get_the_pki_and_workers_only_the_ca_cert(
    rendered: dict[str, Artifacts],
) -> None:
    ha = rendered["ha-lab"]
    for vm in ("k8s-master-1", "k8s-master-2", "k8s-master-3"):
        files = files_of(ha, vm)
        pki = {p: f for p, f in files.items() if p.startswith("/etc/kubernetes/pki/")}
        assert {p.removeprefix("/etc/kubernetes/pki/") for p in pki} == {
            "ca.crt",
            "ca.key",
            "sa.key",
            "sa.pub",
            "front-proxy-ca.crt",
            "front-proxy-ca.key",
            "etcd/ca.crt",
            "etcd/ca.key",
        }
        assert {f["permissions"] for f in pki.values()} == {"0600"}
        assert files["/etc/kubernetes/pki/ca.crt"]["content"].startswith("-----BEGIN CERT")
        assert files["/etc/homelab/kubeadm.yaml"]["permissions"] == "0600"
    worker = files_of(ha, "k8s-worker-1")
    assert not [p for p in worker if p.startswith("/etc/kubernetes/")]  # join preflight
    assert worker["/etc/homelab/ca.crt"]["content"].startswith("-----BEGIN CERT")
    assert worker["/etc/homelab/kubeadm.yaml"]["permissions"] == "0600"


def test_kube_vip_uses_super_admin_during_init_only(rendered: dict[str, Artifacts]) -> None:
    ha = rendered["ha-lab"]
    first = files_of(ha, "k8s-master-1")
    during_init = yaml.safe_load(first["/etc/homelab/kube-vip-init.yaml"]["content"])
    steady = yaml.safe_load(first["/etc/homelab/kube-vip.yaml"]["content"])
    assert (
        during_init["spec"]["volumes"][0]["hostPath"]["path"] == "/etc/kubernetes/super-admin.conf"
    )
    assert steady["spec"]["volumes"][0]["hostPath"]["path"] == "/etc/kubernetes/admin.conf"
    env = {e["name"]: e.get("value") for e in steady["spec"]["containers"][0]["env"]}
    assert env["address"] == "10.0.20.9" and env["vip_arp"] == "true"
    assert env["vip_interface"] == "eth0" and env["cp_enable"] == "true"
    script = commands_of(ha, "k8s-master-1")[-1][-1]
    init_vip = script.index("install -D -m 0600 /etc/homelab/kube-vip-init.yaml")
    init = script.index("kubeadm init")
    switch = script.index("install -D -m 0600 /etc/homelab/kube-vip.yaml")
    assert init_vip < init < switch
    for vm in ("k8s-master-2", "k8s-master-3"):
        assert "/etc/homelab/kube-vip-init.yaml" not in files_of(ha, vm)
        script = commands_of(ha, vm)[-1][-1]
        assert script.index("kubeadm join") < script.index("/etc/homelab/kube-vip.yaml")
    assert "kube-vip" not in rendered["home-lab"].seeds["k8s-master-1"].user_data.decode()


def test_network_config_is_static_and_matched_by_mac(
    rendered: dict[str, Artifacts], specs: dict[str, LabSpec]
) -> None:
    doc = yaml.safe_load(rendered["ha-lab"].seeds["k8s-worker-2"].network_config)
    eth = doc["ethernets"]["eth0"]
    assert doc["version"] == 2
    assert eth["match"] == {"macaddress": vm_mac("ha-lab", "k8s-worker-2")}
    assert eth["set-name"] == "eth0"
    assert eth["addresses"] == ["10.0.20.22/24"]
    assert eth["routes"] == [{"to": "default", "via": "10.0.20.1"}]
    assert eth["nameservers"] == {"addresses": ["10.0.10.1"]}
    assert eth["dhcp4"] is False


def test_vm_macs_are_unicast_local_and_distinct(specs: dict[str, LabSpec]) -> None:
    macs = [vm_mac(lab, vm) for lab, spec in specs.items() for vm in spec.vms]
    assert len(set(macs)) == len(macs)
    for mac in macs:
        first = int(mac.split(":")[0], 16)
        assert first & 0x02 and not first & 0x01  # locally administered, unicast
    assert vm_mac("ha-lab", "k8s-worker-2") == vm_mac("ha-lab", "k8s-worker-2")


def test_meta_data_names_the_host_and_an_instance_id(rendered: dict[str, Artifacts]) -> None:
    meta = yaml.safe_load(rendered["home-lab"].seeds["k8s-worker-2"].meta_data)
    assert meta["local-hostname"] == "k8s-worker-2"
    assert meta["instance-id"].startswith("k8s-worker-2-")


def shell_scripts(artifacts: Artifacts, vm: str) -> list[str]:
    return [
        c[2] for c in commands_of(artifacts, vm) if isinstance(c, list) and c[:2] == ["sh", "-c"]
    ]


@pytest.mark.parametrize("lab", LABS)
def test_runcmd_scripts_parse_as_posix_shell(lab: str, rendered: dict[str, Artifacts]) -> None:
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell is not None
    for vm in rendered[lab].seeds:
        scripts = shell_scripts(rendered[lab], vm)
        assert scripts, vm
        for script in scripts:
            result = subprocess.run([shell, "-n", "-c", script], capture_output=True, text=True)
            assert result.returncode == 0, f"{vm}: {result.stderr}\n{script}"


@pytest.mark.parametrize("lab", LABS)
def test_runcmd_uses_only_files_that_write_files_provides(
    lab: str, rendered: dict[str, Artifacts]
) -> None:
    for vm in rendered[lab].seeds:
        written = set(files_of(rendered[lab], vm))
        text = " ".join(
            " ".join(c) if isinstance(c, list) else c for c in commands_of(rendered[lab], vm)
        )
        used = set(re.findall(r"/etc/homelab/[\w./-]+", text))
        assert used, vm
        assert used <= written, f"{vm} uses {sorted(used - written)}"
