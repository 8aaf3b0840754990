"""kubeadm's configuration and checks on a simulated guest: ``--config`` loading, preflight.

What ``kubeadm init`` and ``kubeadm join`` (``kubeadm``, ``kubeadm_join``) both do before they
change anything: read the config documents, in an API the installed kubeadm knows
(``catalogue``), refuse flags that may not be mixed with ``--config``, run the preflight
checks kubeadm runs (NumCPU, Mem, Swap, the bridge and forwarding sysctls, CRI, files already
there, the kubelet's version skew), with kubeadm's ``[ERROR Name]`` messages and
``ignorePreflightErrors``; plus the node registration shared by both, and whether the
kube-vip static pod's image can be pulled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from homelab_sim import catalogue
from homelab_sim.guest import yamlio
from homelab_sim.guest.clusters import ClusterBook, ClusterRecord
from homelab_sim.guest.system import GuestSystem

PKI = "/etc/kubernetes/pki"
MANIFESTS = "/etc/kubernetes/manifests"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
FLAGS_WITH_CONFIG = {"--ignore-preflight-errors", "--upload-certs", "--v", "--skip-phases"}


class KubeadmFailure(Exception):
    """kubeadm exits 1 with this message (printed as kubeadm prints it)."""


class Node(Protocol):
    """What kubeadm needs from the machine it runs on."""

    system: GuestSystem
    book: ClusterBook
    cpus: int
    mem_mib: int

    def now(self) -> float: ...

    def set_kubeadm(self, phase: str, *, error: str | None = None) -> None: ...

    def registered(self, cluster: str, node: str) -> None:
        """The kubelet registered ``node`` in ``cluster`` (static pods may now be mirrored)."""


@dataclass
class Config:
    init: dict[str, Any] | None
    cluster: dict[str, Any]
    join: dict[str, Any] | None
    kubelet: dict[str, Any]
    proxy: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- configuration


def load_config(node: Node, args: list[str]) -> Config:
    if "--config" not in args or args.index("--config") + 1 >= len(args):
        raise KubeadmFailure(
            "the simulated kubeadm needs --config FILE (flags-only is not modelled)"
        )
    path = args[args.index("--config") + 1]
    extra = [
        a.split("=", 1)[0]
        for a in args
        if a.startswith("--") and a != "--config" and a.split("=", 1)[0] not in FLAGS_WITH_CONFIG
    ]
    if extra:
        raise KubeadmFailure(f"can not mix '--config' with arguments {extra}")
    text = node.system.text(path)
    if text is None:
        raise KubeadmFailure(
            f'unable to read config from "{path}" : open {path}: no such file or directory'
        )
    try:
        docs = [d for d in yamlio.load_all(text) if d]
    except yamlio.YAMLError as exc:
        raise KubeadmFailure(f"error converting YAML to JSON: {exc}") from exc
    found: dict[str, dict[str, Any]] = {}
    apis = catalogue.kubeadm_apis(package_version(node.system, "kubeadm"))
    for doc in docs:
        kind, api = str(doc.get("kind")), str(doc.get("apiVersion"))
        if api.startswith(KUBEADM_GROUP + "/") and api not in apis:
            raise KubeadmFailure(unknown_api(kind, api, apis))
        if api.startswith(KUBEADM_GROUP + "/"):
            check_arg_shapes(doc, api.partition("/")[2])
        found[kind] = doc
    return Config(
        init=found.get("InitConfiguration"),
        cluster=found.get("ClusterConfiguration", {}),
        join=found.get("JoinConfiguration"),
        kubelet=found.get("KubeletConfiguration", {}),
        proxy=found.get("KubeProxyConfiguration", {}),
    )


KUBEADM_GROUP = "kubeadm.k8s.io"
#: kubeadm's config APIs, oldest first, and (``validateSupportedVersion``'s
#: ``oldKnownAPIVersions``) the kubeadm to migrate a removed one with; v1beta3's entry (removed
#: in 1.37, k/k#136016: "migrate with the 1.35 binary", per its changelog note) is unconfirmed.
API_ORDER = ("v1alpha3", "v1beta1", "v1beta2", "v1beta3", "v1beta4")
MIGRATE_WITH = {"v1alpha3": "v1.14", "v1beta1": "v1.15", "v1beta2": "v1.22", "v1beta3": "v1.35"}
SCHEME = "k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"


def unknown_api(kind: str, api: str, apis: tuple[str, ...]) -> str:
    """kubeadm's refusal of a config document in an API its binary does not have: an API older
    than all it reads is an "old API spec" (kubeadm names the release to migrate with), any
    other (a newer one, e.g. v1beta4 on 1.29/1.30) is unknown to its scheme."""
    version = api.partition("/")[2]
    oldest = min((API_ORDER.index(a.partition("/")[2]) for a in apis), default=len(API_ORDER))
    if version in API_ORDER and API_ORDER.index(version) < oldest and version in MIGRATE_WITH:
        return (
            f'your configuration file uses an old API spec: "{api}". Please use kubeadm '
            f"{MIGRATE_WITH[version]} instead and run 'kubeadm config migrate --old-config "
            "old.yaml --new-config new.yaml', which will write the new, similar spec using a "
            "newer API version."
        )
    return f'no kind "{kind}" is registered for version "{api}" in scheme "{SCHEME}"'


#: Where kubeadm's config holds extra arguments: (path, Go struct the field belongs to).
_ARG_FIELDS = (
    (("nodeRegistration", "kubeletExtraArgs"), "NodeRegistrationOptions"),
    (("apiServer", "extraArgs"), "ControlPlaneComponent"),
    (("controllerManager", "extraArgs"), "ControlPlaneComponent"),
    (("scheduler", "extraArgs"), "ControlPlaneComponent"),
    (("etcd", "local", "extraArgs"), "LocalEtcd"),
)


def check_arg_shapes(doc: dict[str, Any], version: str) -> None:
    """kubeadm's strict decoding of extra arguments: a map in v1beta3, a list of ``{name,
    value}`` (``[]v1beta4.Arg``) in v1beta4; the other shape is Go's unmarshal type error."""
    want, go_type = (
        (list, f"[]{version}.Arg") if version == "v1beta4" else (dict, "map[string]string")
    )
    for path, struct in _ARG_FIELDS:
        value: Any = doc
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, want):
            shape = "array" if isinstance(value, list) else "object"
            raise KubeadmFailure(
                f"error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {shape} "
                f"into Go struct field {struct}.{'.'.join(path)} of type {go_type}"
            )


_COMPONENTS = (
    ("apiServer", "kube-apiserver"),
    ("controllerManager", "kube-controller-manager"),
    ("scheduler", "kube-scheduler"),
)


def component_args(cluster: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each control-plane component's ``extraArgs`` (v1beta3: a map; v1beta4: a list of
    ``{name, value}``), by component name, as kubeadm puts them on its static pods' commands."""
    found = {
        component: _args((cluster.get(key) or {}).get("extraArgs"))
        for key, component in _COMPONENTS
    }
    found["etcd"] = _args(((cluster.get("etcd") or {}).get("local") or {}).get("extraArgs"))
    return {component: args for component, args in found.items() if args}


def _args(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(a.get("name")): str(a.get("value")) for a in value if isinstance(a, dict)}
    return {}


def ignored(args: list[str]) -> set[str]:
    out: set[str] = set()
    for arg in args:
        if arg.startswith("--ignore-preflight-errors="):
            out.update(x.strip().lower() for x in arg.split("=", 1)[1].split(","))
    return out


def registration(doc: dict[str, Any] | None) -> dict[str, Any]:
    return dict((doc or {}).get("nodeRegistration") or {})


def package_version(system: GuestSystem, name: str) -> str:
    """``1.29.15`` from the installed ``1.29.15-1.1``."""
    return system.installed.get(name, "0.0.0").split("-", 1)[0]


def minor(version: str) -> tuple[int, int]:
    parts = version.lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise KubeadmFailure(f'couldn\'t parse Kubernetes version "{version}"') from None


# ---------------------------------------------------------------------- preflight


def preflight(node: Node, *, control_plane: bool, ignored: set[str], init: bool) -> None:
    system = node.system
    errors: list[tuple[str, str]] = []
    if control_plane and node.cpus < 2:
        errors.append(
            ("NumCPU", f"the number of available CPUs {node.cpus} is less than the required 2")
        )
    if control_plane and node.mem_mib < 1700:
        errors.append(
            ("Mem", f"the system RAM ({node.mem_mib} MB) is less than the minimum 1700 MB")
        )
    if system.swap_on:
        errors.append(("Swap", "running with swap on is not supported. Please disable swap"))
    bridge = system.proc_sys("net.bridge.bridge-nf-call-iptables")
    if bridge is None:
        errors.append(
            (
                "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
                "/proc/sys/net/bridge/bridge-nf-call-iptables does not exist",
            )
        )
    elif bridge != "1":
        errors.append(
            (
                "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
                "/proc/sys/net/bridge/bridge-nf-call-iptables contents are not set to 1",
            )
        )
    if system.proc_sys("net.ipv4.ip_forward") != "1":
        errors.append(
            (
                "FileContent--proc-sys-net-ipv4-ip_forward",
                "/proc/sys/net/ipv4/ip_forward contents are not set to 1",
            )
        )
    errors += _cri_errors(system)
    errors += _file_errors(system, control_plane=control_plane, init=init)
    fatal = [
        (name, text)
        for name, text in errors
        if name.lower() not in ignored and "all" not in ignored
    ]
    if fatal:
        lines = "".join(f"\t[ERROR {name}]: {text}\n" for name, text in fatal)
        raise KubeadmFailure(
            "error execution phase preflight: [preflight] Some fatal errors occurred:\n"
            + lines
            + "[preflight] If you know what you are doing, you can make a check non-fatal with "
            "`--ignore-preflight-errors=...`"
        )


def _cri_errors(system: GuestSystem) -> list[tuple[str, str]]:
    config = system.text("/etc/containerd/config.toml") or ""
    runtime = installed_containerd(system)
    # containerd 1.x reads config versions 1 and 2 only: a version 3 file (containerd 2's)
    # stops it at start, so nothing listens on its socket
    too_new = runtime is not None and catalogue.containerd_version(runtime) < (2, 0)
    too_new = too_new and re.search(r"(?m)^version\s*=\s*3\s*$", config) is not None
    if runtime is None or "containerd" not in system.active or too_new:
        return [
            (
                "CRI",
                'container runtime is not running: output: time="" level=fatal msg="validate '
                "service connection: validate CRI v1 runtime API for endpoint "
                '\\"unix:///var/run/containerd/containerd.sock\\": rpc error: code = '
                'Unavailable desc = connection error"',
            )
        ]
    if 'disabled_plugins = ["cri"]' in config:
        return [
            (
                "CRI",
                "container runtime is not running: output: rpc error: code = Unimplemented "
                "desc = unknown service runtime.v1.RuntimeService",
            )
        ]
    return []


def _file_errors(system: GuestSystem, *, control_plane: bool, init: bool) -> list[tuple[str, str]]:
    errors = []
    if system.exists(KUBELET_CONF):
        errors.append(
            ("FileAvailable--etc-kubernetes-kubelet.conf", f"{KUBELET_CONF} already exists")
        )
    if control_plane and not init and system.listdir(MANIFESTS):
        errors.append(("DirAvailable--etc-kubernetes-manifests", f"{MANIFESTS} is not empty"))
    if init and system.exists(f"{MANIFESTS}/kube-apiserver.yaml"):
        errors.append(
            (
                "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml",
                f"{MANIFESTS}/kube-apiserver.yaml already exists",
            )
        )
    if not control_plane and system.exists(f"{PKI}/ca.crt"):
        errors.append(("FileAvailable--etc-kubernetes-pki-ca.crt", f"{PKI}/ca.crt already exists"))
    return errors


def installed_containerd(system: GuestSystem) -> str | None:
    """The deb version of the installed containerd (Ubuntu's ``containerd`` or Docker's
    ``containerd.io``), or None."""
    for name in ("containerd", "containerd.io"):
        if name in system.installed:
            return system.installed[name]
    return None


def kubelet_runtime(system: GuestSystem, phase: str) -> None:
    """The kubelet of 1.36 and later does not start on a containerd without the CRI
    ``RuntimeConfig`` call (before 2.0): kubeadm then fails waiting for the kubelet's health
    endpoint in ``phase`` (the kubelet's own journal line is modelled, its wording unconfirmed)."""
    kubelet = package_version(system, "kubelet")
    known = catalogue.kubernetes_minor(kubelet)
    runtime = installed_containerd(system)
    if known is None or runtime is None:
        return
    have = catalogue.containerd_version(runtime)
    if have >= known.min_containerd:
        return
    system.active.discard("kubelet")
    want = ".".join(str(x) for x in known.min_containerd)
    raise KubeadmFailure(
        f"error execution phase {phase}: failed while waiting for the kubelet to start: The HTTP "
        "call equal to 'curl -sSL http://127.0.0.1:10248/healthz' returned error: Get "
        '"http://127.0.0.1:10248/healthz": dial tcp 127.0.0.1:10248: connect: connection '
        f"refused\n(journalctl -u kubelet: kubelet v{kubelet} exited: the container runtime "
        f"containerd {have[0]}.{have[1]} does not implement the CRI RuntimeConfig call the "
        f"kubelet needs to find the cgroup driver; containerd {want} or later is required)"
    )


def kubelet_skew(system: GuestSystem, control_plane: str) -> None:
    kubelet = package_version(system, "kubelet")
    if "kubelet" not in system.installed:
        raise KubeadmFailure(
            "error execution phase preflight: [preflight] Some fatal errors occurred:\n"
            "\t[ERROR FileExisting-kubelet]: kubelet not found in system path"
        )
    if minor(kubelet) > minor(control_plane) or (
        minor(kubelet) == minor(control_plane)
        and [int(x) for x in kubelet.split(".")]
        > [int(x) for x in control_plane.lstrip("v").split(".")]
    ):
        raise KubeadmFailure(
            "error execution phase preflight: [preflight] Some fatal errors occurred:\n"
            "\t[ERROR KubeletVersion]: the kubelet version is higher than the control plane "
            "version. This is not a supported version skew and may lead to a malfunctional "
            f'cluster. Kubelet version: "{kubelet}" Control plane version: '
            f'"{control_plane.lstrip("v")}"'
        )


def check_versions(system: GuestSystem, version: str) -> None:
    if not version.startswith("v"):
        raise KubeadmFailure(f'couldn\'t parse Kubernetes version "{version}"')
    kubeadm = package_version(system, "kubeadm")
    wanted, have = minor(version), minor(kubeadm)
    if wanted > have:
        raise KubeadmFailure(
            f"this version of kubeadm only supports deploying clusters with the control plane "
            f"version <= {have[0]}.{have[1]}.x. Current version: {version}"
        )
    if wanted < (have[0], have[1] - 1):
        raise KubeadmFailure(
            f"this version of kubeadm only supports deploying clusters with the control plane "
            f"version >= {have[0]}.{have[1] - 1}.0. Current version: {version}"
        )


def node_ip(init_or_join: dict[str, Any] | None, reg: dict[str, Any]) -> str:
    extra = _args(reg.get("kubeletExtraArgs"))  # v1beta3 map or v1beta4 list
    if extra.get("node-ip"):
        return str(extra["node-ip"])
    doc = init_or_join or {}
    local = doc.get("localAPIEndpoint") or (doc.get("controlPlane") or {}).get("localAPIEndpoint")
    if local and local.get("advertiseAddress"):
        return str(local["advertiseAddress"])
    raise KubeadmFailure(
        "the simulated kubeadm needs the node address: set kubeletExtraArgs.node-ip"
    )


def register(node: Node, record: ClusterRecord, name: str, ip: str, role: str) -> None:
    cluster = node.book.cluster(record)
    if cluster is None:
        if node.book.backend is None:
            return
        raise KubeadmFailure(
            f"error execution phase kubelet-start: the cluster {record.name} is gone"
        )
    version = "v" + package_version(node.system, "kubelet")
    runtime = installed_containerd(node.system)
    cluster.add_node(
        name,
        ip=ip,
        role=role,
        kubelet_version=version,
        cpus=node.cpus,
        memory_mib=node.mem_mib,
        # what the CRI reports: containerd's upstream version, e.g. containerd://1.7.24
        runtime_version=f"containerd://{runtime.split('-', 1)[0]}" if runtime else "",
    )
    node.registered(record.name, name)


def kube_vip_pull_error(system: GuestSystem) -> str | None:
    """containerd's error if the kube-vip static pod's image cannot be pulled, else None."""
    text = system.text(f"{MANIFESTS}/kube-vip.yaml")
    try:
        pod = yamlio.load(text or "") or {}
        image = str(pod["spec"]["containers"][0]["image"])
    except (KeyError, IndexError, TypeError, AttributeError, yamlio.YAMLError):
        return None
    return None if catalogue.pullable(image) else catalogue.pull_error(image)
