"""``kubeadm join`` and ``kubeadm reset`` on a simulated guest.

join: preflight, then token discovery against ``apiServerEndpoint``, retried every 5 s until
``discovery.timeout`` (5 min) as kubeadm does, the token id and secret (the cluster's
``bootstrap-token-<id>`` Secret, with its expiration), the CA pin (``caCertHashes``); for a
control plane the shared certificates and one etcd member add at a time (a concurrent one
fails like etcd does); then the kubelet's TLS bootstrap and node registration.
reset: what ``kubeadm reset -f`` removes, so the renderer's retry loops start clean.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Generator
from typing import Any

from homelab_sim.guest import clusters, kubeadm_pki
from homelab_sim.guest import kubeadm_checks as checks
from homelab_sim.guest.clusters import ClusterRecord
from homelab_sim.guest.crictl import ETCD_DB, LIVE_DB
from homelab_sim.guest.kubeadm_checks import (
    KUBELET_CONF,
    MANIFESTS,
    PKI,
    Config,
    KubeadmFailure,
    Node,
)
from homelab_sim.guest.shell import Gen, Streams
from homelab_sim.guest.system import GuestSystem

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
DISCOVERY_RETRY = 5.0
DISCOVERY_TIMEOUT = 300.0
KUBELET_BOOTSTRAP = 20.0
ETCD_MEMBER_ADD = 15.0

# ---------------------------------------------------------------------- join


def join(node: Node, config: Config, ignored: set[str]) -> Gen:
    join = config.join
    if join is None:
        raise KubeadmFailure("no JoinConfiguration found in --config")
    reg = checks.registration(join)
    ignored |= {str(x).lower() for x in reg.get("ignorePreflightErrors") or []}
    control_plane = join.get("controlPlane") is not None
    discovery = (join.get("discovery") or {}).get("bootstrapToken") or {}
    endpoint = str(discovery.get("apiServerEndpoint") or "")
    node.set_kubeadm("preflight")
    yield 5.0
    checks.preflight(node, control_plane=control_plane, ignored=ignored, init=False)
    node.set_kubeadm("preflight/discovery")
    record = yield from _discover(node, endpoint, str(discovery.get("token") or ""), discovery)
    checks.kubelet_skew(node.system, record.version)
    _check_kubeadm_skew(node.system, record.version)
    name = str(reg.get("name") or node.system.hostname)
    ip = checks.node_ip(join, reg)
    if control_plane:
        yield from _join_control_plane(node, record, name)
        plane = kubeadm_pki.ControlPlane(name, ip, record.endpoint, record.service_cidr)
        when = dt.datetime.fromtimestamp(node.now(), dt.UTC)
        kubeadm_pki.write_certificates(node.system, plane, when)
        kubeadm_pki.write_kubeconfigs(node.system, plane, when, init=False)
    node.set_kubeadm("kubelet-start")
    yield KUBELET_BOOTSTRAP
    checks.kubelet_runtime(node.system, "kubelet-start")
    node.system.write(KUBELET_CONF, b"simulated kubeconfig\n", 0o600)
    node.system.write("/var/lib/kubelet/config.yaml", b"# from the kubelet-config ConfigMap\n")
    node.system.active.add("kubelet")
    checks.register(node, record, name, ip, "control-plane" if control_plane else "worker")
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
    kubeadm, cluster = (
        checks.minor(checks.package_version(system, "kubeadm")),
        checks.minor(version),
    )
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
            f"manifest file: {_etcd_busy(record.version)}"
        )
    record.etcd_holder = name
    record.etcd_busy_until = node.now() + ETCD_MEMBER_ADD
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        node.system.write(f"{MANIFESTS}/{component}.yaml", f"# static pod {component}\n".encode())
    node.system.write(ETCD_DB, LIVE_DB, 0o600)
    yield ETCD_MEMBER_ADD
    return 0


def _etcd_busy(version: str) -> str:
    """etcd's answer to a member add while another member is still joining: kubeadm >= 1.29
    adds members as learners (EtcdLearnerMode) and etcd allows one learner at a time; before
    that the add of a voting member to a cluster whose newest member has not started is refused
    as unhealthy."""
    if checks.minor(version) >= (1, 29):
        return "etcdserver: too many learner members in cluster"
    return "etcdserver: unhealthy cluster"


# ---------------------------------------------------------------------- reset


def reset(node: Node, io: Streams) -> Gen:
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
        cluster = node.book.cluster(record)
        if cluster is not None and system.hostname in cluster.etcd_members:
            cluster.etcd_members.discard(system.hostname)
            io.out.write(f"[reset] Removed member {system.hostname} from the etcd cluster\n")
    io.out.write("[reset] Deleted contents of: /etc/kubernetes/manifests /var/lib/kubelet\n")
    return 0
