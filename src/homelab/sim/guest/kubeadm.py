"""``kubeadm init``, ``join``, ``reset`` and ``version`` (v1.29-style) on a simulated guest.

The model reads the ``--config`` documents the VM was given and checks what kubeadm checks,
with kubeadm's messages, phase by phase (each phase takes virtual time, so a guest's phase
is visible while it runs):

- init: config API (kubeadm.k8s.io/v1beta3), networking (podSubnet and serviceSubnet valid
  and disjoint), versions (kubernetesVersion against the installed kubeadm and kubelet),
  preflight (NumCPU, Mem, Swap, the bridge/forwarding sysctls, CRI, files already there),
  the CA files (present and key matching, else a fresh CA), wait-control-plane (kubelet and
  containerd must agree on the systemd cgroup driver), upload-config through the
  controlPlaneEndpoint (a VIP only answers once a kube-vip static pod with usable credentials
  holds it: ``super-admin.conf`` during init on 1.29), bootstrap tokens.
- join: preflight, then token discovery against ``apiServerEndpoint``, retried every 5 s
  until ``discovery.timeout`` (5 min), the token id and secret, the CA pin
  (``caCertHashes``), for control planes the shared certificates and one etcd member add at
  a time, then the kubelet's TLS bootstrap (version skew) and node registration.
"""

from __future__ import annotations

import ipaddress
import posixpath
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from homelab.sim.guest import clusters
from homelab.sim.guest.clusters import ADMIN_CONF, SUPER_ADMIN_CONF, ClusterBook, ClusterRecord
from homelab.sim.guest.shell import Gen, Streams
from homelab.sim.guest.system import GuestSystem

API = "kubeadm.k8s.io/v1beta3"
PKI = "/etc/kubernetes/pki"
MANIFESTS = "/etc/kubernetes/manifests"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
SHARED_CERTS = (
    "ca.crt",
    "ca.key",
    "sa.key",
    "sa.pub",
    "front-proxy-ca.crt",
    "front-proxy-ca.key",
    "etcd/ca.crt",
    "etcd/ca.key",
)
FLAGS_WITH_CONFIG = {"--ignore-preflight-errors", "--upload-certs", "--v", "--skip-phases"}
DISCOVERY_RETRY = 5.0
DISCOVERY_TIMEOUT = 300.0
WAIT_CONTROL_PLANE = 30.0
KUBELET_BOOTSTRAP = 10.0
ETCD_MEMBER_ADD = 15.0
API_WAIT_TIMEOUT = 240.0
DEFAULT_TOKEN_TTL = 24 * 3600.0


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


def run(node: Node, args: list[str], io: Streams) -> Gen:
    """``kubeadm ARGS``: exit status 0 or 1 with kubeadm's error on stderr."""
    verb = args[0] if args else ""
    try:
        if verb == "init":
            yield from _init(node, _load_config(node, args[1:]), _ignored(args))
        elif verb == "join":
            yield from _join(node, _load_config(node, args[1:]), _ignored(args))
        elif verb == "reset":
            yield from _reset(node, io)
        elif verb == "version":
            io.out.write(f"v{_package_version(node.system, 'kubeadm')}\n")
        else:
            raise KubeadmFailure(f'unknown command "{verb}" for "kubeadm"')
    except KubeadmFailure as failure:
        message = str(failure)
        io.err.write(message + "\nTo see the stack trace of this error execute with --v=5\n")
        node.set_kubeadm(node_phase(message), error=message)
        return 1
    if verb in {"init", "join"}:
        io.out.write(_success(verb))
    return 0


def node_phase(message: str) -> str:
    if message.startswith("error execution phase "):
        return message[len("error execution phase ") :].split(":", 1)[0]
    return "config"


def _success(verb: str) -> str:
    if verb == "init":
        return "\nYour Kubernetes control-plane has initialized successfully!\n"
    return "\nThis node has joined the cluster.\n"


# ---------------------------------------------------------------------- configuration


def _load_config(node: Node, args: list[str]) -> Config:
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
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as exc:
        raise KubeadmFailure(f"error converting YAML to JSON: {exc}") from exc
    found: dict[str, dict[str, Any]] = {}
    for doc in docs:
        kind, api = str(doc.get("kind")), str(doc.get("apiVersion"))
        if (
            kind in {"InitConfiguration", "ClusterConfiguration", "JoinConfiguration"}
            and api != API
        ):
            raise KubeadmFailure(f'no kind "{kind}" is registered for version "{api}"')
        found[kind] = doc
    return Config(
        init=found.get("InitConfiguration"),
        cluster=found.get("ClusterConfiguration", {}),
        join=found.get("JoinConfiguration"),
        kubelet=found.get("KubeletConfiguration", {}),
    )


def _ignored(args: list[str]) -> set[str]:
    out: set[str] = set()
    for arg in args:
        if arg.startswith("--ignore-preflight-errors="):
            out.update(x.strip().lower() for x in arg.split("=", 1)[1].split(","))
    return out


def _registration(doc: dict[str, Any] | None) -> dict[str, Any]:
    return dict((doc or {}).get("nodeRegistration") or {})


def _package_version(system: GuestSystem, name: str) -> str:
    """``1.29.15`` from the installed ``1.29.15-1.1``."""
    return system.installed.get(name, "0.0.0").split("-", 1)[0]


def _minor(version: str) -> tuple[int, int]:
    parts = version.lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise KubeadmFailure(f'couldn\'t parse Kubernetes version "{version}"') from None


# ---------------------------------------------------------------------- preflight


def _preflight(node: Node, *, control_plane: bool, ignored: set[str], init: bool) -> None:
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
    if "containerd" not in system.installed or "containerd" not in system.active:
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


def _kubelet_skew(system: GuestSystem, control_plane: str) -> None:
    kubelet = _package_version(system, "kubelet")
    if "kubelet" not in system.installed:
        raise KubeadmFailure(
            "error execution phase preflight: [preflight] Some fatal errors occurred:\n"
            "\t[ERROR FileExisting-kubelet]: kubelet not found in system path"
        )
    if _minor(kubelet) > _minor(control_plane) or (
        _minor(kubelet) == _minor(control_plane)
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


# ---------------------------------------------------------------------- init


def _init(node: Node, config: Config, ignored: set[str]) -> Gen:
    if config.init is None and not config.cluster:
        raise KubeadmFailure("no InitConfiguration or ClusterConfiguration found in --config")
    reg = _registration(config.init)
    ignored |= {str(x).lower() for x in reg.get("ignorePreflightErrors") or []}
    version = str(config.cluster.get("kubernetesVersion") or "")
    pod_cidr, service_cidr = _networking(config.cluster)
    _check_versions(node.system, version)
    node.set_kubeadm("preflight")
    yield 5.0
    _preflight(node, control_plane=True, ignored=ignored, init=True)
    _kubelet_skew(node.system, version)
    node.set_kubeadm("certs")
    yield 3.0
    ca_cert, ca_key = _cluster_ca(node.system)
    node.set_kubeadm("kubeconfig")
    yield 1.0
    for name in (
        "admin.conf",
        "super-admin.conf",
        "kubelet.conf",
        "controller-manager.conf",
        "scheduler.conf",
    ):
        node.system.write(f"/etc/kubernetes/{name}", b"simulated kubeconfig\n", 0o600)
    node.set_kubeadm("kubelet-start")
    yield 2.0
    node.system.write("/var/lib/kubelet/config.yaml", yaml.safe_dump(config.kubelet).encode())
    node.system.active.add("kubelet")
    node.set_kubeadm("control-plane")
    yield 2.0
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        node.system.write(f"{MANIFESTS}/{component}.yaml", f"# static pod {component}\n".encode())
    node.set_kubeadm("wait-control-plane")
    yield from _wait_control_plane(node, config)
    name = str(reg.get("name") or node.system.hostname)
    ip = _node_ip(config.init, reg)
    record = _create_cluster(
        node, config, name, ip, version, (ca_cert, ca_key), (pod_cidr, service_cidr)
    )
    _register(node, record, name, ip, "control-plane")
    node.set_kubeadm("upload-config")
    yield from _upload_config(node, record)
    node.set_kubeadm("bootstrap-token")
    yield 5.0
    _record_tokens(node, record, config.init or {})
    record.initialized = True
    node.set_kubeadm("addon")
    yield 5.0
    node.set_kubeadm("done")
    return 0


def _networking(cluster: dict[str, Any]) -> tuple[str, str]:
    networking = cluster.get("networking") or {}
    pod, service = networking.get("podSubnet"), networking.get("serviceSubnet", "10.96.0.0/12")
    if not pod:
        raise KubeadmFailure(
            "networking.podSubnet: Required value: the simulated cluster's CNI (the tigera "
            "operator) reads it from kubeadm-config and refuses to run without it"
        )
    nets = []
    for field_name, value in (("podSubnet", pod), ("serviceSubnet", service)):
        try:
            nets.append(ipaddress.ip_network(str(value)))
        except ValueError:
            raise KubeadmFailure(
                f'networking.{field_name}: Invalid value: "{value}": couldn\'t parse subnet'
            ) from None
    if nets[0].overlaps(nets[1]):
        raise KubeadmFailure(
            f'networking.podSubnet: Invalid value: "{pod}": overlaps the service subnet {service}'
        )
    return str(pod), str(service)


def _check_versions(system: GuestSystem, version: str) -> None:
    if not version.startswith("v"):
        raise KubeadmFailure(f'couldn\'t parse Kubernetes version "{version}"')
    kubeadm = _package_version(system, "kubeadm")
    wanted, have = _minor(version), _minor(kubeadm)
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


def _cluster_ca(system: GuestSystem) -> tuple[str, str]:
    cert_pem, key_pem = system.text(f"{PKI}/ca.crt"), system.text(f"{PKI}/ca.key")
    if cert_pem is None or key_pem is None:
        raise KubeadmFailure(
            "error execution phase certs/ca: the simulated kubeadm does not generate a CA: "
            f"{PKI}/ca.crt and ca.key must be provided (homelab owns the cluster PKI)"
        )
    if not key_matches(cert_pem, key_pem):
        raise KubeadmFailure(
            "error execution phase certs/ca: failure loading ca certificate authority: "
            'the certificate authority "ca" is not valid: the certificate is not valid for '
            f"the key {PKI}/ca.key"
        )
    return cert_pem, key_pem


def key_matches(cert_pem: str, key_pem: str) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return False
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, fmt) == key.public_key().public_bytes(der, fmt)


def _wait_control_plane(node: Node, config: Config) -> Gen:
    driver = str(config.kubelet.get("cgroupDriver") or "systemd")
    containerd_systemd = "SystemdCgroup = true" in (
        node.system.text("/etc/containerd/config.toml") or ""
    )
    if (driver == "systemd") != containerd_systemd:
        yield API_WAIT_TIMEOUT
        raise KubeadmFailure(
            "error execution phase wait-control-plane: couldn't initialize a Kubernetes cluster\n"
            "[kubelet-check] The kubelet is not healthy: the control-plane pods restart "
            "(SandboxChanged): kubelet cgroupDriver is "
            f"{driver!r} but containerd's runc SystemdCgroup is {str(containerd_systemd).lower()}"
        )
    yield WAIT_CONTROL_PLANE
    return 0


def _node_ip(init_or_join: dict[str, Any] | None, reg: dict[str, Any]) -> str:
    extra = reg.get("kubeletExtraArgs") or {}
    if isinstance(extra, dict) and extra.get("node-ip"):
        return str(extra["node-ip"])
    doc = init_or_join or {}
    local = doc.get("localAPIEndpoint") or (doc.get("controlPlane") or {}).get("localAPIEndpoint")
    if local and local.get("advertiseAddress"):
        return str(local["advertiseAddress"])
    raise KubeadmFailure(
        "the simulated kubeadm needs the node address: set kubeletExtraArgs.node-ip"
    )


def _create_cluster(
    node: Node,
    config: Config,
    name: str,
    ip: str,
    version: str,
    ca: tuple[str, str],
    cidrs: tuple[str, str],
) -> ClusterRecord:
    cluster_name = str(config.cluster.get("clusterName") or "kubernetes")
    endpoint = str(config.cluster.get("controlPlaneEndpoint") or f"{ip}:6443")
    if ":" not in endpoint:
        endpoint += ":6443"
    sans = [str(s) for s in (config.cluster.get("apiServer") or {}).get("certSANs") or []]
    sans += [ip, endpoint.rsplit(":", 1)[0], name]
    record = ClusterRecord(
        name=cluster_name,
        version=version,
        endpoint=endpoint,
        ca_cert_pem=ca[0],
        pod_cidr=cidrs[0],
        service_cidr=cidrs[1],
        init_node=name,
        api_ips=[ip],
    )
    node.book.records[cluster_name] = record
    if node.book.backend is not None:
        node.book.backend.create_cluster(
            name=cluster_name,
            version=version,
            ca_cert_pem=ca[0],
            ca_key_pem=ca[1],
            endpoint=endpoint.rsplit(":", 1)[0],
            sans=sorted(set(sans)),
            pod_cidr=cidrs[0],
            service_cidr=cidrs[1],
        )
    return record


def _register(node: Node, record: ClusterRecord, name: str, ip: str, role: str) -> None:
    cluster = node.book.cluster(record)
    if cluster is None:
        if node.book.backend is None:
            return
        raise KubeadmFailure(
            f"error execution phase kubelet-start: the cluster {record.name} is gone"
        )
    version = "v" + _package_version(node.system, "kubelet")
    cluster.add_node(
        name, ip=ip, role=role, kubelet_version=version, cpus=node.cpus, memory_mib=node.mem_mib
    )
    node.registered(record.name, name)


def _upload_config(node: Node, record: ClusterRecord) -> Gen:
    yield 3.0
    if node.book.record_for(record.endpoint_host) is record:
        return 0
    yield API_WAIT_TIMEOUT
    vip = node.book.kube_vip_at(record.api_ips[0])
    why = "no kube-vip static pod holds it"
    if vip is not None and vip[1] == ADMIN_CONF:
        why = (
            'kube-vip cannot take its lease: leases.coordination.k8s.io "plndr-cp-lock" is '
            'forbidden: User "kubernetes-admin" cannot get resource "leases" (admin.conf has no '
            f"rights before init finishes on 1.29; mount {SUPER_ADMIN_CONF} during init)"
        )
    raise KubeadmFailure(
        "error execution phase upload-config/kubeadm: error uploading the kubeadm "
        f'ClusterConfiguration: Get "https://{record.endpoint}/api/v1/namespaces/kube-system/'
        f'configmaps/kubeadm-config?timeout=10s": dial tcp {record.endpoint}: connect: no route '
        f"to host ({record.endpoint_host}: {why})"
    )


def _record_tokens(node: Node, record: ClusterRecord, init: dict[str, Any]) -> None:
    for entry in init.get("bootstrapTokens") or []:
        token = str(entry.get("token") or "")
        token_id, _, secret = token.partition(".")
        if not token_id or not secret:
            raise KubeadmFailure(
                f'error execution phase bootstrap-token: the bootstrap token "{token_id}" was not '
                "of the form [a-z0-9]{6}.[a-z0-9]{16}"
            )
        ttl = _duration(str(entry.get("ttl") or "24h0m0s"))
        expires = node.now() + ttl if ttl else None
        record.tokens[token_id] = {"secret": secret, "expires": expires}
        cluster = node.book.cluster(record)
        if cluster is not None:
            secret_obj = clusters.token_secret(token_id, secret, expires, record.name)
            clusters.write_token(cluster, secret_obj)


def _duration(text: str) -> float:
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
    return total if total or text.startswith("0") else DEFAULT_TOKEN_TTL


# ---------------------------------------------------------------------- join


def _join(node: Node, config: Config, ignored: set[str]) -> Gen:
    join = config.join
    if join is None:
        raise KubeadmFailure("no JoinConfiguration found in --config")
    reg = _registration(join)
    ignored |= {str(x).lower() for x in reg.get("ignorePreflightErrors") or []}
    control_plane = join.get("controlPlane") is not None
    discovery = (join.get("discovery") or {}).get("bootstrapToken") or {}
    endpoint = str(discovery.get("apiServerEndpoint") or "")
    node.set_kubeadm("preflight")
    yield 2.0
    _preflight(node, control_plane=control_plane, ignored=ignored, init=False)
    node.set_kubeadm("preflight/discovery")
    record = yield from _discover(node, endpoint, str(discovery.get("token") or ""), discovery)
    _kubelet_skew(node.system, record.version)
    _check_kubeadm_skew(node.system, record.version)
    name = str(reg.get("name") or node.system.hostname)
    ip = _node_ip(join, reg)
    if control_plane:
        yield from _join_control_plane(node, record, name)
    node.set_kubeadm("kubelet-start")
    yield KUBELET_BOOTSTRAP
    node.system.write(KUBELET_CONF, b"simulated kubeconfig\n", 0o600)
    node.system.write("/var/lib/kubelet/config.yaml", b"# from the kubelet-config ConfigMap\n")
    node.system.active.add("kubelet")
    _register(node, record, name, ip, "control-plane" if control_plane else "worker")
    if control_plane:
        node.set_kubeadm("control-plane-join")
        yield 5.0
        record.api_ips.append(ip)
        if record.etcd_holder == name:
            record.etcd_holder = None
    node.set_kubeadm("done")
    return 0


def _discover(
    node: Node, endpoint: str, token: str, discovery: dict[str, Any]
) -> Generator[float, None, ClusterRecord]:
    host, _, port = endpoint.rpartition(":")
    url = f"https://{endpoint}/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s"
    deadline = node.now() + DISCOVERY_TIMEOUT
    while True:
        probe = node.book.probe(host, int(port or 6443), None)
        if probe.record is not None:
            break
        cause = "connect: connection refused" if probe.status == 7 else "i/o timeout"
        if node.now() >= deadline:
            raise KubeadmFailure(
                "error execution phase preflight: couldn't validate the identity of the API "
                f'Server: failed to request the cluster-info ConfigMap: Get "{url}": dial tcp '
                f"{endpoint}: {cause}"
            )
        yield DISCOVERY_RETRY
    record = probe.record
    yield 1.0
    _check_token(node, record, token)
    _check_ca_pin(record, discovery)
    return record


def _check_token(node: Node, record: ClusterRecord, token: str) -> None:
    token_id, _, secret = token.partition(".")
    cluster = node.book.cluster(record)
    if cluster is not None:
        found = clusters.read_token(cluster, token_id)
        known = {"secret": found[0], "expires": found[1]} if found else None
    else:
        known = record.tokens.get(token_id)
    expires = known.get("expires") if known else None
    if known is None or (expires is not None and node.now() > float(expires)):
        raise KubeadmFailure(
            "error execution phase preflight: couldn't validate the identity of the API Server: "
            "could not find a JWS signature in the cluster-info ConfigMap for token ID "
            f'"{token_id}"'
        )
    if known["secret"] != secret:
        raise KubeadmFailure(
            "error execution phase preflight: couldn't validate the identity of the API Server: "
            "failed to verify JWS signature of received cluster info object, can't trust this "
            "API Server"
        )


def _check_ca_pin(record: ClusterRecord, discovery: dict[str, Any]) -> None:
    pins = [str(h).lower() for h in discovery.get("caCertHashes") or []]
    if not pins and discovery.get("unsafeSkipCAVerification"):
        return
    if not pins:
        raise KubeadmFailure(
            'discovery.bootstrapToken: Invalid value: "": using token-based discovery without '
            "caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm "
            "config file or pass --discovery-token-unsafe-skip-ca-verification flag to continue"
        )
    if record.ca_hash not in pins:
        raise KubeadmFailure(
            "error execution phase preflight: couldn't validate the identity of the API Server: "
            "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "
            f'"{record.ca_hash}" are pinned'
        )


def _check_kubeadm_skew(system: GuestSystem, version: str) -> None:
    kubeadm, cluster = _minor(_package_version(system, "kubeadm")), _minor(version)
    if kubeadm < cluster or kubeadm > (cluster[0], cluster[1] + 1):
        raise KubeadmFailure(
            "error execution phase preflight: this version of kubeadm only supports joining "
            f"nodes to clusters with a control plane version >= {kubeadm[0]}.{kubeadm[1] - 1}.0 "
            f"and <= {kubeadm[0]}.{kubeadm[1]}.x. Current version: {version}"
        )


def _join_control_plane(node: Node, record: ClusterRecord, name: str) -> Gen:
    node.set_kubeadm("control-plane-prepare")
    missing = [c for c in SHARED_CERTS if not node.system.exists(posixpath.join(PKI, c))]
    if missing:
        files = ", ".join(
            f"couldn't load the certificate file {PKI}/{c}: open {PKI}/{c}: no such file or "
            "directory"
            for c in missing
        )
        raise KubeadmFailure(
            "error execution phase preflight: One or more conditions for hosting a new control "
            f"plane instance is not satisfied.\n\n[failure loading certificate for CA: {files}]"
            "\n\nPlease ensure that:\n* The cluster has a stable controlPlaneEndpoint address.\n"
            "* The certificates that must be shared among control plane instances are provided."
        )
    if (node.system.text(f"{PKI}/ca.crt") or "") != record.ca_cert_pem:
        raise KubeadmFailure(
            "error execution phase control-plane-prepare/certs: the CA in "
            f"{PKI}/ca.crt is not the cluster's CA: the control plane's certificates would not "
            "be trusted"
        )
    yield 3.0
    node.set_kubeadm("control-plane-join/etcd")
    if record.etcd_holder not in (None, name) and node.now() < record.etcd_busy_until:
        yield 10.0
        raise KubeadmFailure(
            "error execution phase control-plane-join/etcd: error creating local etcd static pod "
            "manifest file: etcdserver: unhealthy cluster (another control plane "
            f"{record.etcd_holder} is joining: join control planes one at a time)"
        )
    record.etcd_holder = name
    record.etcd_busy_until = node.now() + ETCD_MEMBER_ADD
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        node.system.write(f"{MANIFESTS}/{component}.yaml", f"# static pod {component}\n".encode())
    yield ETCD_MEMBER_ADD
    return 0


# ---------------------------------------------------------------------- reset


def _reset(node: Node, io: Streams) -> Gen:
    node.set_kubeadm("reset")
    yield 5.0
    system = node.system
    for path in (MANIFESTS, PKI, "/var/lib/kubelet", "/var/lib/etcd"):
        system.remove_tree(path)
    for name in list(system.files):
        if posixpath.dirname(name) == "/etc/kubernetes" and name.endswith(".conf"):
            del system.files[name]
    system.active.discard("kubelet")
    for record in node.book.records.values():
        if record.etcd_holder == system.hostname:
            record.etcd_holder = None
    io.out.write("[reset] Deleted contents of: /etc/kubernetes/manifests /var/lib/kubelet\n")
    node.set_kubeadm("reset")
    return 0
