"""A VM's cloud-init user-data (Ubuntu 24.04) as data: one kubeadm node from a fresh clone.

What every node gets: hostname, the access user with its keys (no passwords), no swap (now and
after reboot), the overlay/br_netfilter modules and the bridge/forwarding sysctls, containerd
from the Ubuntu archive with ``SystemdCgroup = true`` and kubeadm's pause image, crictl
pointed at containerd, the pkgs.k8s.io repository of the cluster's minor, kubelet/kubeadm/
kubectl pinned to the exact version and held, and qemu-guest-agent. Then:

- first control plane: the cluster PKI (every file 0600; only root reads them),
  the init config, ``kubeadm init``;
- other control planes: the same PKI, a control-plane JoinConfiguration, a wait for the API at
  the endpoint and for the previous control plane, ``kubeadm join``;
- workers: the CA certificate (public) where kubeadm will not trip on it, a JoinConfiguration
  with the bootstrap token and CA hash, a wait for the API, ``kubeadm join``.

Module order matters (cloud-init runs write_files early, write_files_deferred in the final
stage, runcmd last): files that a package owns (containerd's config, kept by
``--force-confold``) or that need the key fetched first are written with ``defer: true``.

containerd comes from the Ubuntu archive (``containerd`` 1.7, config ``version = 2``) up to 1.33,
and from Docker's apt repository for Ubuntu (``containerd.io`` 2.x, config ``version = 3``,
its key fetched like pkgs.k8s.io's) from 1.34, where the kubelet wants containerd 1.7.28+ or
2.x and, from 1.36, 2.x only (``versions``). Docker's package ships a config.toml with the CRI
plugin disabled; the rendered one is written before the install and kept (``--force-confold``).

Packages are installed by runcmd, not by cloud-init's ``packages``: at a stock Ubuntu's first
boot apt-daily and unattended-upgrades may hold apt's locks for minutes, and cloud-init waits
only 30 s for them. Each ``apt-get install`` waits for dpkg's lock (``DPkg::Lock::Timeout``,
apt >= 1.9.11); ``apt-get update`` cannot wait for the lists lock and is retried
(``bootstrap.apt_update``). qemu-guest-agent is installed and started first, so Proxmox sees
the guest while the long installs run.
"""

from __future__ import annotations

import json
from typing import Any

from homelab.core.cluster import ClusterSecrets
from homelab.core.render import addons, bootstrap, kubeadm, yamldoc
from homelab.core.render.versions import (
    DOCKER_APT_KEY_URL,
    DOCKER_APT_REPO,
    DOCKER_APT_SUITE,
    ComponentVersions,
)
from homelab.core.spec.models import LabSpec

HEADER = "#cloud-config\n"
KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
DOCKER_KEYRING = "/etc/apt/keyrings/docker.gpg"
WORKER_CA = "/etc/homelab/ca.crt"
CONTAINERD_SOCKET = "unix:///run/containerd/containerd.sock"
AGENT = "qemu-guest-agent"
BASE_PACKAGES = ["ca-certificates", "curl", "gpg"]
APT_LOCK_TIMEOUT = 600  # seconds an install waits for dpkg's lock (unattended-upgrades)
APT_GET = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-o", "Acquire::Retries=5"]
APT_INSTALL = [
    *APT_GET,
    "-o",
    f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}",
    "-o",
    "Dpkg::Options::=--force-confold",
    "install",
    "-y",
]
K8S_PACKAGES = ["kubelet", "kubeadm", "kubectl"]
PKI_KEYS = ("ca.key", "sa.key", "front-proxy-ca.key", "etcd/ca.key")
#: The files of a seed that hold a secret: left out of its secret-free twin.
SECRET_FILES = frozenset(
    {*(f"{bootstrap.PKI_DIR}/{name}" for name in PKI_KEYS), bootstrap.KUBEADM_CONFIG}
)
MODULES = ["overlay", "br_netfilter"]
SYSCTLS = {
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.ipv4.ip_forward": "1",
}


def user_data(
    spec: LabSpec, secrets: ClusterSecrets, vm_name: str, versions: ComponentVersions
) -> dict[str, Any]:
    """The cloud-config document of ``vm_name`` (without the ``#cloud-config`` header)."""
    return {
        "hostname": vm_name,
        "manage_etc_hosts": True,
        "users": [_access_user(spec)],
        "disable_root": True,
        "ssh_pwauth": False,
        "swap": {"size": 0},
        "package_upgrade": False,
        "write_files": _node_files(versions) + _role_files(spec, secrets, vm_name, versions),
        "runcmd": _prepare_commands(spec, versions) + _bootstrap_commands(spec, vm_name),
    }


def clean_user_data(
    doc: dict[str, Any], spec: LabSpec, versions: ComponentVersions
) -> dict[str, Any]:
    """The user-data of a seed's secret-free twin (what stays on Proxmox storage once the node
    joined): ``doc`` without the files that hold a secret (``SECRET_FILES``: the CA, etcd CA
    and front-proxy CA keys, the service-account key, the kubeadm configuration with the
    bootstrap token) and without the bootstrap steps that would read them. Public
    certificates, the node's own setup and its packages stay, so the twin still tells what the
    node is. The twin keeps the seed's instance-id: cloud-init never carries it out there."""
    files = [entry for entry in doc["write_files"] if entry["path"] not in SECRET_FILES]
    prepare = len(_prepare_commands(spec, versions))
    return {**doc, "write_files": files, "runcmd": doc["runcmd"][:prepare]}


def dump_user_data(doc: dict[str, Any], cache: yamldoc.PieceCache | None = None) -> bytes:
    text = cache.dump_mapping(doc) if cache is not None else yamldoc.dump(doc)
    return (HEADER + text).encode("utf-8")


def _access_user(spec: LabSpec) -> dict[str, Any]:
    user: dict[str, Any] = {
        "name": spec.access.user,
        "groups": ["sudo"],
        "shell": "/bin/bash",
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
        "lock_passwd": True,
    }
    if spec.access.ssh_authorized_keys:
        user["ssh_authorized_keys"] = list(spec.access.ssh_authorized_keys)
    return user


def _file(path: str, content: str, mode: str = "0644", *, defer: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "path": path,
        "content": content,
        "owner": "root:root",
        "permissions": mode,
    }
    if defer:
        entry["defer"] = True
    return entry


def _node_files(versions: ComponentVersions) -> list[dict[str, Any]]:
    sysctl = "".join(f"{key} = {value}\n" for key, value in SYSCTLS.items())
    crictl = {"runtime-endpoint": CONTAINERD_SOCKET, "image-endpoint": CONTAINERD_SOCKET}
    repo = f"deb [signed-by={KEYRING}] {versions.apt_repo} /\n"
    files = [
        _file("/etc/modules-load.d/k8s.conf", "".join(f"{m}\n" for m in MODULES)),
        _file("/etc/sysctl.d/99-kubernetes.conf", sysctl),
        _file("/etc/crictl.yaml", yamldoc.dump(crictl)),
        _file("/etc/containerd/config.toml", containerd_config(versions), defer=True),
        _file("/etc/apt/sources.list.d/kubernetes.list", repo, defer=True),
    ]
    if versions.containerd_from_docker:
        docker = f"deb [signed-by={DOCKER_KEYRING}] {DOCKER_APT_REPO} {DOCKER_APT_SUITE} stable\n"
        files.append(_file("/etc/apt/sources.list.d/docker.list", docker, defer=True))
    return files


def containerd_config(versions: ComponentVersions) -> str:
    """containerd's config for the minor's series: 1.7 (version 2) or 2.x (version 3)."""
    if versions.containerd_series.startswith("2"):
        return containerd2_config(versions)
    return containerd17_config(versions)


def containerd2_config(versions: ComponentVersions) -> str:
    """containerd 2.x config (version 3): the CRI plugin is split into
    ``io.containerd.cri.v1.images`` (the pinned sandbox image) and
    ``io.containerd.cri.v1.runtime`` (runc with systemd cgroups)."""
    runtime = '[plugins."io.containerd.cri.v1.runtime".containerd'
    runc = runtime + ".runtimes.runc"
    return "\n".join(
        [
            "version = 3",
            "",
            '[plugins."io.containerd.cri.v1.images".pinned_images]',
            f"  sandbox = {json.dumps(versions.pause_image)}",
            "",
            runtime + "]",
            '  default_runtime_name = "runc"',
            "",
            runc + "]",
            '  runtime_type = "io.containerd.runc.v2"',
            "",
            runc + ".options]",
            "  SystemdCgroup = true",
            "",
        ]
    )


def containerd17_config(versions: ComponentVersions) -> str:
    """containerd 1.7 config (version 2): defaults + systemd cgroups + kubeadm's pause image."""
    cri = '[plugins."io.containerd.grpc.v1.cri"]'
    runc = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]'
    return "\n".join(
        [
            "version = 2",
            "",
            cri,
            f"  sandbox_image = {json.dumps(versions.pause_image)}",
            "",
            '[plugins."io.containerd.grpc.v1.cri".containerd]',
            '  default_runtime_name = "runc"',
            "",
            runc,
            '  runtime_type = "io.containerd.runc.v2"',
            "",
            runc[:-1] + ".options]",
            "  SystemdCgroup = true",
            "",
        ]
    )


def _role_files(
    spec: LabSpec, secrets: ClusterSecrets, vm_name: str, versions: ComponentVersions
) -> list[dict[str, Any]]:
    vm = spec.vms[vm_name]
    if vm.role == "worker":
        join = kubeadm.join_document(spec, secrets, vm_name, versions)
        return [
            _file(WORKER_CA, secrets.ca_cert),
            _file(bootstrap.KUBEADM_CONFIG, yamldoc.dump_all([join]), "0600"),
        ]
    if vm_name == spec.control_planes[0]:
        docs = kubeadm.init_documents(spec, secrets, vm_name, versions)
    else:
        docs = [kubeadm.join_document(spec, secrets, vm_name, versions)]
    files = _pki_files(secrets)
    files.append(_file(bootstrap.KUBEADM_CONFIG, yamldoc.dump_all(docs), "0600"))
    files += _kube_vip_files(spec, vm_name, versions)
    return files


def _pki_files(secrets: ClusterSecrets) -> list[dict[str, Any]]:
    """What kubeadm shares between control planes, at the paths kubeadm reads, all 0600."""
    pki = bootstrap.PKI_DIR
    files = {
        "ca.crt": secrets.ca_cert,
        "ca.key": secrets.ca_key.reveal(),
        "sa.key": secrets.sa_key.reveal(),
        "sa.pub": secrets.sa_pub,
        "front-proxy-ca.crt": secrets.front_proxy_ca_cert,
        "front-proxy-ca.key": secrets.front_proxy_ca_key.reveal(),
        "etcd/ca.crt": secrets.etcd_ca_cert,
        "etcd/ca.key": secrets.etcd_ca_key.reveal(),
    }
    return [_file(f"{pki}/{name}", content, "0600") for name, content in files.items()]


def _kube_vip_files(
    spec: LabSpec, vm_name: str, versions: ComponentVersions
) -> list[dict[str, Any]]:
    if spec.kubernetes.control_plane_endpoint is None:
        return []
    steady = addons.kube_vip_pod(spec, versions, kubeconfig=addons.ADMIN_CONF)
    files = [_file(bootstrap.KUBE_VIP_STAGED, yamldoc.dump(steady), "0600")]
    if vm_name == spec.control_planes[0]:
        during_init = addons.kube_vip_pod(spec, versions, kubeconfig=addons.SUPER_ADMIN_CONF)
        files.append(_file(bootstrap.KUBE_VIP_INIT_STAGED, yamldoc.dump(during_init), "0600"))
    return files


def _prepare_commands(spec: LabSpec, versions: ComponentVersions) -> list[Any]:
    pinned = [f"{p}={versions.package_version(spec.kubernetes.version)}" for p in K8S_PACKAGES]
    keys = [bootstrap.install_apt_key(versions.apt_key_url, KEYRING)]
    if versions.containerd_from_docker:
        keys.append(bootstrap.install_apt_key(DOCKER_APT_KEY_URL, DOCKER_KEYRING))
    packages = sorted([*BASE_PACKAGES, versions.containerd_package])
    return [
        *(["modprobe", module] for module in MODULES),
        ["sysctl", "--system"],
        ["swapoff", "-a"],
        ["sed", "-i", "-E", r"s/^([^#].*[[:space:]]swap[[:space:]].*)$/# \1/", "/etc/fstab"],
        ["systemctl", "mask", "swap.target"],
        ["install", "-d", "-m", "0755", "/etc/apt/keyrings"],
        *keys,
        bootstrap.apt_update(APT_GET),
        [*APT_INSTALL, AGENT],
        ["systemctl", "start", AGENT],
        [*APT_INSTALL, *packages, *pinned],
        ["systemctl", "restart", "containerd"],
        ["apt-mark", "hold", *K8S_PACKAGES],
        ["systemctl", "enable", "kubelet"],
    ]


def _bootstrap_commands(spec: LabSpec, vm_name: str) -> list[Any]:
    vm = spec.vms[vm_name]
    endpoint = f"https://{kubeadm.api_server_endpoint(spec)}/healthz"
    kube_vip = spec.kubernetes.control_plane_endpoint is not None
    if vm.role == "worker":
        return [
            bootstrap.wait_for_api(endpoint, WORKER_CA, what="the cluster API"),
            bootstrap.worker_bootstrap(["kubeadm", "join", "--config", bootstrap.KUBEADM_CONFIG]),
        ]
    ca = f"{bootstrap.PKI_DIR}/ca.crt"
    order = spec.control_planes
    if vm_name == order[0]:
        init = ["kubeadm", "init", "--config", bootstrap.KUBEADM_CONFIG]
        return [bootstrap.control_plane_bootstrap(init, kube_vip=kube_vip, init=True)]
    previous = order[order.index(vm_name) - 1]
    previous_ready = f"https://{spec.vms[previous].ip}:{kubeadm.API_PORT}/readyz"
    join = ["kubeadm", "join", "--config", bootstrap.KUBEADM_CONFIG]
    return [
        bootstrap.wait_for_api(endpoint, ca, what="the cluster API"),
        bootstrap.wait_for_api(previous_ready, ca, what=f"control plane {previous}"),
        bootstrap.control_plane_bootstrap(join, kube_vip=kube_vip, init=False),
    ]
