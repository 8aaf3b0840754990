"""``kubeadm init``, ``join``, ``reset`` and ``version`` on a simulated guest (1.28 to 1.37).

The model reads the ``--config`` documents the VM was given and checks what kubeadm checks,
with kubeadm's messages, phase by phase (each phase takes virtual time, so a guest's phase
is visible while it runs):

- init: config API (the installed kubeadm's: v1beta3 to 1.30, v1beta3 or v1beta4 to 1.36,
  v1beta4 from 1.37, with kubeadm's refusals), networking (podSubnet and serviceSubnet valid
  and disjoint), versions (kubernetesVersion against the installed kubeadm and kubelet),
  preflight (NumCPU, Mem, Swap, the bridge/forwarding sysctls, CRI, files already there),
  the CA files (present and key matching, else a fresh CA), wait-control-plane (kubelet and
  containerd must agree on the systemd cgroup driver; a 1.36+ kubelet does not start on a
  containerd older than 2.0), upload-config through the
  controlPlaneEndpoint (a VIP only answers once a kube-vip static pod with usable credentials
  holds it: ``super-admin.conf`` during init on 1.29), bootstrap tokens.
- join and reset: ``kubeadm_join``; configuration loading and preflight: ``kubeadm_checks``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from homelab_sim.guest import clusters, kubeadm_join, kubeadm_pki
from homelab_sim.guest import kubeadm_checks as checks
from homelab_sim.guest.clusters import ADMIN_CONF, SUPER_ADMIN_CONF, ClusterRecord
from homelab_sim.guest.crictl import ETCD_DB, LIVE_DB
from homelab_sim.guest.kubeadm_checks import MANIFESTS, PKI, Config, KubeadmFailure, Node
from homelab_sim.guest.shell import Gen, Streams
from homelab_sim.guest.system import GuestSystem

WAIT_CONTROL_PLANE = 30.0
API_WAIT_TIMEOUT = 240.0
DEFAULT_TOKEN_TTL = 24 * 3600.0


def run(node: Node, args: list[str], io: Streams) -> Gen:
    """``kubeadm ARGS``: exit status 0 or 1 with kubeadm's error on stderr."""
    verb = args[0] if args else ""
    try:
        if verb == "init":
            yield from _init(node, checks.load_config(node, args[1:]), checks.ignored(args))
        elif verb == "join":
            yield from kubeadm_join.join(
                node, checks.load_config(node, args[1:]), checks.ignored(args)
            )
        elif verb == "reset":
            yield from kubeadm_join.reset(node, io)
        elif verb == "version":
            io.out.write(f"v{checks.package_version(node.system, 'kubeadm')}\n")
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


# ---------------------------------------------------------------------- init


def _control_plane(node: Node, config: Config, reg: dict[str, Any]) -> kubeadm_pki.ControlPlane:
    """What the init node's certificates and kubeconfig files name (``kubeadm_pki``)."""
    name = str(reg.get("name") or node.system.hostname)
    return kubeadm_pki.ControlPlane.of(config.cluster, name, checks.node_ip(config.init, reg))


def _when(node: Node) -> dt.datetime:
    return dt.datetime.fromtimestamp(node.now(), dt.UTC)


def _init(node: Node, config: Config, ignored: set[str]) -> Gen:
    if config.init is None and not config.cluster:
        raise KubeadmFailure("no InitConfiguration or ClusterConfiguration found in --config")
    reg = checks.registration(config.init)
    ignored |= {str(x).lower() for x in reg.get("ignorePreflightErrors") or []}
    version = str(config.cluster.get("kubernetesVersion") or "")
    pod_cidr, service_cidr = _networking(config.cluster)
    checks.check_versions(node.system, version)
    node.set_kubeadm("preflight")
    yield 5.0
    checks.preflight(node, control_plane=True, ignored=ignored, init=True)
    checks.kubelet_skew(node.system, version)
    node.set_kubeadm("certs")
    yield 3.0
    ca_cert, ca_key = _cluster_ca(node.system)
    plane = _control_plane(node, config, reg)
    kubeadm_pki.write_certificates(node.system, plane, _when(node))
    node.set_kubeadm("kubeconfig")
    yield 1.0
    kubeadm_pki.write_kubeconfigs(node.system, plane, _when(node), init=True)
    node.set_kubeadm("kubelet-start")
    yield 2.0
    node.system.write("/var/lib/kubelet/config.yaml", yaml.safe_dump(config.kubelet).encode())
    node.system.active.add("kubelet")
    if checks.installed_containerd(node.system) is not None:
        node.set_kubeadm("wait-control-plane")
        try:
            checks.kubelet_runtime(node.system, "wait-control-plane")
        except KubeadmFailure:
            yield API_WAIT_TIMEOUT
            raise
    node.set_kubeadm("control-plane")
    yield 2.0
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        node.system.write(f"{MANIFESTS}/{component}.yaml", f"# static pod {component}\n".encode())
    node.system.write(ETCD_DB, LIVE_DB, 0o600)
    node.set_kubeadm("wait-control-plane")
    yield from _wait_control_plane(node, config)
    name = str(reg.get("name") or node.system.hostname)
    ip = checks.node_ip(config.init, reg)
    record = _create_cluster(
        node, config, name, ip, version, (ca_cert, ca_key), (pod_cidr, service_cidr)
    )
    checks.register(node, record, name, ip, "control-plane")
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
            component_args=checks.component_args(config.cluster),
            proxy=dict(config.proxy),
        )
    return record


def _upload_config(node: Node, record: ClusterRecord) -> Gen:
    yield 3.0
    if node.book.record_for(record.endpoint_host) is record:
        return 0
    yield API_WAIT_TIMEOUT
    vip = node.book.kube_vip_at(record.api_ips[0])
    why = "no kube-vip static pod holds it"
    pull_error = checks.kube_vip_pull_error(node.system)
    if pull_error is not None:
        why = f"the kube-vip static pod cannot start: {pull_error}"
    elif vip is not None and vip[1] == ADMIN_CONF:
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


def key_matches(cert_pem: str, key_pem: str) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return False
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, fmt) == key.public_key().public_bytes(der, fmt)
