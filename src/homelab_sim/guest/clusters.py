"""What the simulated guests know about the clusters they build, and who answers where.

``ClusterBook`` keeps one ``ClusterRecord`` per cluster a ``kubeadm init`` created: its CA
(for the discovery hash and for curl's TLS checks), its bootstrap tokens with their expiry,
which control planes have a serving API server, whether the init finished (the point from
which ``admin.conf`` carries rights), and the etcd member-add lock that makes concurrent
control-plane joins fail as they do on real clusters. It also answers the guests' network
probes (``probe``): which cluster API, if any, answers at ``host:port``, through a control
plane's own address or through the VIP that a kube-vip static pod holds.

The Kubernetes objects themselves live in the kube simulator (``KubeRegistry``): kubeadm
calls ``create_cluster`` when an init's API server comes up, ``add_node`` when a kubelet
registers, and keeps the bootstrap tokens where kubeadm keeps them, as
``kube-system/bootstrap-token-<id>`` Secrets (so a token the tool re-arms through the API is
the one a later join is checked against). The records are plain data and round-trip
through ``to_dict``/``load``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from homelab_sim.kube import KubeRegistry, SimCluster

API_PORT = 6443
ADMIN_CONF = "/etc/kubernetes/admin.conf"
SUPER_ADMIN_CONF = "/etc/kubernetes/super-admin.conf"


@dataclass
class ClusterRecord:
    name: str
    version: str  # "v1.29.15"
    endpoint: str  # controlPlaneEndpoint host:port
    ca_cert_pem: str
    pod_cidr: str
    service_cidr: str
    init_node: str
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> secret, expires
    api_ips: list[str] = field(default_factory=list)  # control planes serving the API
    stopped_api_ips: list[str] = field(default_factory=list)  # serving ones whose VM stopped
    initialized: bool = False  # past upload-config: admin.conf is bound to cluster-admin
    etcd_holder: str | None = None  # control plane in the middle of etcd member add
    etcd_busy_until: float = 0.0

    @property
    def endpoint_host(self) -> str:
        return self.endpoint.rsplit(":", 1)[0]

    @property
    def ca_hash(self) -> str:
        return discovery_hash(self.ca_cert_pem)


@dataclass
class ProbeResult:
    status: int  # curl exit status: 0 ok, 7 refused, 28 timeout, 60 TLS
    message: str = ""
    record: ClusterRecord | None = None


KubeVipReader = Callable[[str], tuple[str, str] | None]  # ip -> (VIP, kubeconfig) or None


class ClusterBook:
    def __init__(self, backend: KubeRegistry | None) -> None:
        self.backend = backend
        self.records: dict[str, ClusterRecord] = {}
        self.running_ips: set[str] = set()  # guests that are up (they refuse, not time out)
        self.kube_vip_at: KubeVipReader = lambda ip: None

    def cluster(self, record: ClusterRecord) -> SimCluster | None:
        return self.backend.cluster(record.name) if self.backend is not None else None

    def record_for(self, host: str) -> ClusterRecord | None:
        """The cluster whose API answers at ``host`` (a serving control plane, or a held VIP)."""
        for record in self.records.values():
            if host in record.api_ips or (host == record.endpoint_host and self.vip_up(record)):
                return record
        return None

    def vip_up(self, record: ClusterRecord) -> bool:
        """Whether some serving control plane's kube-vip holds the endpoint address."""
        for ip in record.api_ips:
            held = self.kube_vip_at(ip)
            if held is None or held[0] != record.endpoint_host:
                continue
            kubeconfig = held[1]
            if kubeconfig == SUPER_ADMIN_CONF and ip == self._init_ip(record):
                return True
            if kubeconfig == ADMIN_CONF and record.initialized:
                return True
        return False

    def _init_ip(self, record: ClusterRecord) -> str | None:
        return record.api_ips[0] if record.api_ips else None

    def probe(self, host: str, port: int, ca_pem: str | None) -> ProbeResult:
        """Connect to ``https://host:port`` from a guest, checking TLS against ``ca_pem``.

        ``ca_pem`` None: ``curl -k``; "": the system trust store (which has no lab CA)."""
        record = self.record_for(host)
        if record is None or port != API_PORT:
            if host in self.running_ips or record is not None:
                return ProbeResult(
                    7, f"curl: (7) Failed to connect to {host} port {port}: Connection refused"
                )
            return ProbeResult(28, "curl: (28) Connection timed out after 5001 milliseconds")
        if ca_pem is not None and not same_certificate(ca_pem, record.ca_cert_pem):
            return ProbeResult(
                60, "curl: (60) SSL certificate problem: unable to get local issuer certificate"
            )
        return ProbeResult(0, record=record)

    def to_dict(self) -> dict[str, Any]:
        return {name: asdict(record) for name, record in self.records.items()}

    def load(self, data: dict[str, Any]) -> None:
        self.records = {name: ClusterRecord(**raw) for name, raw in data.items()}


def same_certificate(pem_a: str, pem_b: str) -> bool:
    """Whether two PEM texts hold the same certificate (False if either does not parse)."""
    try:
        a = x509.load_pem_x509_certificate(pem_a.encode())
        b = x509.load_pem_x509_certificate(pem_b.encode())
    except ValueError:
        return False
    return a.public_bytes(serialization.Encoding.DER) == b.public_bytes(serialization.Encoding.DER)


def discovery_hash(ca_pem: str) -> str:
    """kubeadm's ``--discovery-token-ca-cert-hash`` of a CA: ``sha256:`` + the hex SHA-256 of
    the certificate's DER SubjectPublicKeyInfo (ValueError if the PEM does not parse)."""
    cert = x509.load_pem_x509_certificate(ca_pem.encode())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def token_secret(token_id: str, secret: str, expires: float | None, lab: str) -> dict[str, Any]:
    """The ``bootstrap-token-<id>`` Secret ``kubeadm init`` writes (phase bootstrap-token)."""
    data = {
        "description": f"bootstrap token of cluster {lab}",
        "token-id": token_id,
        "token-secret": secret,
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
    }
    if expires is not None:
        stamp = dt.datetime.fromtimestamp(int(expires), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        data["expiration"] = stamp
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def write_token(cluster: SimCluster, secret: dict[str, Any]) -> None:
    with cluster.lock:
        cluster.state.ensure(secret, manager="kubeadm")


def read_token(cluster: SimCluster, token_id: str) -> tuple[str, float | None] | None:
    """(token secret, expiry epoch or None) of the cluster's bootstrap token ``token_id``."""
    with cluster.lock:
        obj = cluster.state.get(
            cluster.state.rt("v1", "Secret"), "kube-system", f"bootstrap-token-{token_id}"
        )
    if obj is None:
        return None
    fields = {k: str(v) for k, v in (obj.get("stringData") or {}).items()}
    for key, value in (obj.get("data") or {}).items():
        try:
            fields.setdefault(key, base64.b64decode(str(value)).decode())
        except ValueError:
            continue
    if fields.get("token-id", token_id) != token_id or "token-secret" not in fields:
        return None
    expires = None
    if fields.get("expiration"):
        try:
            stamp = dt.datetime.fromisoformat(fields["expiration"].replace("Z", "+00:00"))
        except ValueError:
            return None
        expires = stamp.timestamp()
    return fields["token-secret"], expires
