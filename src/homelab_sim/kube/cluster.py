"""Simulated Kubernetes clusters: ``SimCluster`` (one cluster) and ``KubeRegistry`` (all of them).

The guest model creates a cluster at ``kubeadm init`` (``KubeRegistry.create_cluster``) and
registers kubelets as nodes join (``SimCluster.add_node``). The API answers once a control
plane is registered (``api_ready``). ``KubeRegistry.serve`` starts, lazily, one HTTPS server per
ready cluster on 127.0.0.1; ``endpoints`` maps each lab address (the endpoint or VIP and every
control-plane IP, port 6443) to its loopback URL. Each cluster has one lock: the API server's
thread and the simulator's ticks take it. Controllers run on the virtual clock at every tick
and before every API request.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from typing import Any

from homelab_sim.clock import VirtualClock
from homelab_sim.kube import api, bootstrap, controllers, nodes, tokencleaner
from homelab_sim.kube.nodes import pull_failed_status, unpullable
from homelab_sim.kube.server import ApiServer
from homelab_sim.kube.state import ClusterConfig, ClusterState
from homelab_sim.kube.wire import KubeRequest, KubeResponse

API_PORT = 6443
CONTROL_PLANE = "control-plane"
WORKER = "worker"
_ROLES = {
    "control-plane": CONTROL_PLANE,
    "controlplane": CONTROL_PLANE,
    "master": CONTROL_PLANE,
    "worker": WORKER,
    "node": WORKER,
}
_INIT = "kubeadm"
_DONE = float("-inf")  # the admins' binding was created
#: seconds a restarted etcd member takes to replay its WAL and receive what the leader
#: committed while it was down: until then a linearizable read on it (what ``etcdctl endpoint
#: health`` does) times out (a modelled duration; etcd gives none)
ETCD_CATCH_UP = 30.0
#: a longer catch-up (seconds), e.g. a member the leader must send a snapshot of a big store
CATCH_UP_ENV = "HOMELAB_SIM_ETCD_CATCH_UP"


def etcd_catch_up() -> float:
    """The catch-up time of a restarted etcd member (``CATCH_UP_ENV``, else the default)."""
    try:
        return max(0.0, float(os.environ.get(CATCH_UP_ENV, ETCD_CATCH_UP)))
    except ValueError:
        return ETCD_CATCH_UP


@dataclass
class NodeInfo:
    name: str
    ip: str
    role: str
    kubelet_version: str
    index: int
    runtime_version: str = ""


class SimCluster:
    """One simulated Kubernetes cluster (created by the guest model at ``kubeadm init``)."""

    def __init__(self, config: ClusterConfig, clock: VirtualClock, *, fresh: bool = True) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.state = ClusterState(config, clock.now)
        self.nodes: dict[str, NodeInfo] = {}
        self._settled = (-1, 0.0)  # (store revision, virtual time of the next timed event)
        #: control planes whose kube-apiserver or etcd static pod the kubelet stopped
        self.stopped_planes: set[str] = set()
        #: the etcd cluster's members (node names), as ``etcdctl member list`` shows them
        self.etcd_members: set[str] = set()
        #: member -> virtual time its etcd has caught up with the leader after a boot
        self.etcd_behind_until: dict[str, float] = {}
        # kubeadm creates its admins' binding a moment after /readyz first answers
        self._admins_bound_at: float | None = None if fresh else _DONE
        if fresh:
            for obj in bootstrap.init_objects(config):
                self.state.ensure(obj, manager=_INIT)

    @property
    def name(self) -> str:
        return self.state.config.name

    @property
    def version(self) -> str:
        return self.state.config.version

    @property
    def endpoint(self) -> str:
        return self.state.config.endpoint

    def add_node(
        self,
        name: str,
        *,
        ip: str,
        role: str,
        kubelet_version: str,
        cpus: int = 2,
        memory_mib: int = 4096,
        runtime_version: str = bootstrap.CONTAINERD,
    ) -> None:
        """A kubelet registered: its Node (NotReady until a CNI runs on it), its kube-proxy
        pod (by the DaemonSet) and, for a control plane, the static pods."""
        if role not in _ROLES:
            raise ValueError(f"unknown node role {role!r} (control-plane or worker)")
        role = _ROLES[role]
        with self.lock:
            known = self.nodes.get(name)
            index = known.index if known else len(self.nodes)
            runtime_version = runtime_version or bootstrap.CONTAINERD
            self.nodes[name] = NodeInfo(name, ip, role, kubelet_version, index, runtime_version)
            config = self.state.config
            node = bootstrap.node_object(
                name,
                ip=ip,
                role=role,
                kubelet_version=kubelet_version,
                pod_cidr=bootstrap.node_pod_cidr(config, index),
                cpus=cpus,
                memory_mib=memory_mib,
                runtime_version=runtime_version,
            )
            if known is not None:
                live = self.state.get(self.state.rt("v1", "Node"), "", name)
                if live is not None:
                    node["status"]["conditions"] = live.get("status", {}).get("conditions", [])
                    node["spec"]["taints"] = live.get("spec", {}).get("taints", [])
            self.state.ensure(node, manager="kubelet")
            if role == CONTROL_PLANE:
                for pod in bootstrap.static_pods(config, name, ip):
                    self._mirror(pod)
                self._update_kubernetes_endpoints()
            self._tick_locked(self.clock.now())

    def add_static_pod(self, node: str, manifest: dict[str, Any]) -> None:
        """A static pod the kubelet of ``node`` runs from a manifest (e.g. kube-vip): it
        appears as a Running mirror pod named ``<name>-<node>``."""
        with self.lock:
            info = self.nodes[node]
            meta = manifest.get("metadata") or {}
            containers = (manifest.get("spec") or {}).get("containers") or [{}]
            component = str(meta.get("name", "static"))
            pod = bootstrap.static_pod(component, node, info.ip, str(containers[0].get("image")))
            pod["metadata"]["namespace"] = meta.get("namespace", "kube-system")
            pod["metadata"]["labels"] = dict(meta.get("labels") or {})
            pod["spec"] = {**manifest.get("spec", {}), "nodeName": node}
            missing = unpullable(pod)
            if missing is not None:  # the kubelet cannot pull it: the pod never runs
                pod["status"] = {**pod["status"], **pull_failed_status(pod, missing)}
                pod["status"]["conditions"] = [
                    c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"
                ]
            self._mirror(pod)
            if component == "kube-vip" and missing is None:
                self._hold_vip(node)

    def _hold_vip(self, node: str) -> None:
        """kube-vip's leader election: the first control plane running it holds the VIP."""
        lease_type = self.state.rt("coordination.k8s.io/v1", "Lease")
        if self.state.get(lease_type, "kube-system", "plndr-cp-lock") is not None:
            return
        now = self.state.timestamp().replace("Z", ".000000Z")
        self.state.create(
            lease_type,
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "plndr-cp-lock", "namespace": "kube-system"},
                "spec": {
                    "holderIdentity": node,
                    "leaseDurationSeconds": 5,
                    "acquireTime": now,
                    "renewTime": now,
                    "leaseTransitions": 0,
                },
            },
            manager="kube-vip",
        )

    def kubelet_stopped(self, name: str) -> None:
        """The node's VM stopped: its kubelet no longer posts status (see ``nodes``)."""
        with self.lock:
            if name in self.nodes:
                since, _back = self.state.kubelet_down.get(name, (self.clock.now(), 0.0))
                self.state.kubelet_down[name] = (since, float("inf"))
                self._wake_now()

    def kubelet_booted(self, name: str) -> None:
        """The node's VM booted again: its kubelet posts status once it is up."""
        with self.lock:
            down = self.state.kubelet_down.get(name)
            if down is not None:
                back = self.clock.now() + nodes.KUBELET_START
                self.state.kubelet_down[name] = (down[0], back)
                if name in self.etcd_members:
                    self.etcd_behind_until[name] = back + etcd_catch_up()
                self._wake_now()

    def _wake_now(self) -> None:
        """Something the controllers time by changed outside the store: tick afresh."""
        self._settled = (-1, 0.0)
        self._tick_locked(self.clock.now())

    def remove_node(self, name: str) -> None:
        """The Node is deleted (``kubectl delete node``, or its VM destroyed)."""
        with self.lock:
            self.nodes.pop(name, None)
            self.state.delete(self.state.rt("v1", "Node"), "", name)
            self._update_kubernetes_endpoints()
            self._tick_locked(self.clock.now())

    def _mirror(self, pod: dict[str, Any]) -> None:
        pod_type = self.state.rt("v1", "Pod")
        meta = pod["metadata"]
        if self.state.get(pod_type, meta["namespace"], meta["name"]) is None:
            self.state.create(pod_type, pod, manager="kubelet")
        else:
            self.state.ensure(pod, manager="kubelet")

    def _update_kubernetes_endpoints(self) -> None:
        ips = [n.ip for n in self.nodes.values() if n.role == CONTROL_PLANE]
        subsets = [
            {
                "addresses": [{"ip": ip} for ip in ips],
                "ports": [{"name": "https", "port": API_PORT, "protocol": "TCP"}],
            }
        ]
        self.state.ensure(
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "namespace": "default"},
                "subsets": subsets if ips else [],
            },
            manager="kube-apiserver",
        )

    def node_names(self) -> list[str]:
        with self.lock:
            return sorted(self.nodes)

    def control_plane_ips(self) -> list[str]:
        with self.lock:
            return [n.ip for n in self.nodes.values() if n.role == CONTROL_PLANE]

    def api_ready(self) -> bool:
        """The API answers: ``kubeadm init`` brought up a control plane."""
        return bool(self.control_plane_ips())

    def serving(self) -> bool:
        """Some control plane runs its kube-apiserver and etcd static pods (False while every
        one's manifests are moved out: connections are then refused)."""
        with self.lock:
            return any(
                n.role == CONTROL_PLANE and n.name not in self.stopped_planes
                for n in self.nodes.values()
            )

    def etcd_member_serving(self, name: str) -> bool:
        """The member's etcd runs and has caught up with the leader: its VM is up (its kubelet
        came back), its etcd pod is not stopped, its catch-up time is over."""
        with self.lock:
            now = self.clock.now()
            gone = self.state.kubelet_down.get(name)
            return (
                name not in self.stopped_planes
                and (gone is None or gone[1] <= now)
                and self.etcd_behind_until.get(name, now) <= now
            )

    def etcd_quorum(self) -> bool:
        """A majority of the etcd members serve (a leader commits); True without members
        known (a cluster recorded before they were)."""
        with self.lock:
            members = self.etcd_members
            serving = sum(1 for name in members if self.etcd_member_serving(name))
            return not members or serving >= len(members) // 2 + 1

    def control_plane_stopped(self, node: str, stopped: bool) -> None:
        """The kubelet of ``node`` stopped (or started again) its kube-apiserver/etcd pods."""
        with self.lock:
            if stopped:
                self.stopped_planes.add(node)
            else:
                self.stopped_planes.discard(node)
            if not self.serving():
                self.state.store.release_watchers()

    def restore_store(self, data: dict[str, Any], bump: int = 0) -> None:
        """etcd started on a data directory ``etcdutl snapshot restore`` wrote: the objects
        are the snapshot's, the revision the snapshot's plus ``--bump-revision``. Watches
        open on the old store end (their next start point is gone: 410 Gone)."""
        with self.lock:
            store = self.state.store
            store.load(data)
            store.revision += bump
            store.release_watchers()
            self._register_crds()
            self._update_kubernetes_endpoints()
            self._wake_now()

    def reregister(self, name: str) -> None:
        """A restarted kubelet whose Node object is gone registers it again."""
        with self.lock:
            info = self.nodes.get(name)
            if info is None or self.state.get(self.state.rt("v1", "Node"), "", name) is not None:
                return
        self.add_node(
            name,
            ip=info.ip,
            role=info.role,
            kubelet_version=info.kubelet_version,
            runtime_version=info.runtime_version,
        )

    def serving_names(self) -> tuple[list[str], list[str]]:
        """(DNS names, IPs) of the API server's serving certificate, as kubeadm makes it."""
        config = self.state.config
        dns = [
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            f"kubernetes.default.svc.{config.cluster_domain}",
        ]
        with self.lock:
            dns += [n.name for n in self.nodes.values() if n.role == CONTROL_PLANE]
        ips = [config.api_service_ip, *self.control_plane_ips(), config.endpoint, "127.0.0.1"]
        for san in config.sans:
            (ips if _is_ip(san) else dns).append(san)
        return list(dict.fromkeys(dns)), list(dict.fromkeys(ips))

    def tick(self, now: float) -> None:
        """Advance the controllers to virtual time ``now``."""
        with self.lock:
            self._tick_locked(now)

    def _tick_locked(self, now: float) -> None:
        if self._admins_bound_at is None and self.api_ready():
            self._admins_bound_at = now + tokencleaner.ADMINS_BINDING_DELAY
        revision, wake_at = self._settled
        if revision == self.state.store.revision and now < wake_at:
            return  # nothing changed and nothing is due: the controllers would do nothing
        bind_at = self._admins_bound_at
        if bind_at is not None and bind_at != _DONE and now >= bind_at:
            self.state.ensure(bootstrap.admins_binding(), manager=_INIT)
            self._admins_bound_at = bind_at = _DONE
        tokencleaner.clean_tokens(self.state, now)
        controllers.reconcile(self.state, now)
        due = min(
            controllers.next_event(self.state, now),
            tokencleaner.next_expiry(self.state, now),
            bind_at if bind_at is not None and bind_at != _DONE else float("inf"),
        )
        self._settled = (self.state.store.revision, due)

    def handle(self, request: KubeRequest) -> KubeResponse:
        """One API request (from the HTTPS server or a test), controllers ticked first."""
        with self.lock:
            if self.nodes and not self.serving():
                return KubeResponse(
                    503,
                    b"the API server's static pod is stopped\n",
                    "text/plain; charset=utf-8",
                )
            ready = self.api_ready()
            if ready:
                self._tick_locked(self.clock.now())
            # without an etcd quorum the API server's etcd check fails (/readyz, /healthz)
            return api.handle(self.state, request, ready=ready and self.etcd_quorum())

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "config": self.state.config.to_dict(),
                "nodes": [asdict(n) for n in self.nodes.values()],
                "store": self.state.store.to_dict(),
                "stopped_planes": sorted(self.stopped_planes),
                "etcd_members": sorted(self.etcd_members),
            }

    @classmethod
    def from_dict(cls, data: dict[str, Any], clock: VirtualClock) -> SimCluster:
        cluster = cls(ClusterConfig(**data["config"]), clock, fresh=False)
        cluster.nodes = {n["name"]: NodeInfo(**n) for n in data.get("nodes", [])}
        cluster.state.store.load(data.get("store", {}))
        cluster.stopped_planes = set(data.get("stopped_planes", []))
        cluster.etcd_members = set(data.get("etcd_members", []))
        cluster._register_crds()
        return cluster

    def _register_crds(self) -> None:
        """The kinds the store's CustomResourceDefinitions define, known to the API again."""
        crd_type = self.state.rt("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        for crd in self.state.items(crd_type):
            self.state.catalog.add_crd(crd)


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class KubeRegistry:
    """Every simulated cluster of a simulator, and their API servers."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._clusters: dict[str, SimCluster] = {}
        self._servers: dict[str, ApiServer] = {}
        self._serving = False
        #: the loopback port each cluster's API server had: taken again after a restart
        self.ports: dict[str, int] = {}

    def create_cluster(
        self,
        *,
        name: str,
        version: str,
        ca_cert_pem: str,
        ca_key_pem: str,
        endpoint: str,
        sans: list[str],
        pod_cidr: str,
        service_cidr: str,
        component_args: dict[str, dict[str, str]] | None = None,
        proxy: dict[str, Any] | None = None,
    ) -> SimCluster:
        """A new cluster (``kubeadm init``); replaces a cluster of the same name."""
        config = ClusterConfig(
            name=name,
            version=version,
            endpoint=endpoint,
            pod_cidr=pod_cidr,
            service_cidr=service_cidr,
            ca_cert_pem=ca_cert_pem,
            ca_key_pem=ca_key_pem,
            sans=list(sans),
            component_args=dict(component_args or {}),
            proxy=dict(proxy or {}),
        )
        cluster = SimCluster(config, self.clock)
        with self._lock:
            old = self._servers.pop(name, None)
            self._clusters[name] = cluster
        if old is not None:
            old.stop()
        return cluster

    def cluster(self, name: str) -> SimCluster | None:
        with self._lock:
            return self._clusters.get(name)

    def drop(self, name: str) -> None:
        """The cluster's data is gone (its last control plane's disk with it): stop serving."""
        with self._lock:
            self._clusters.pop(name, None)
            server = self._servers.pop(name, None)
        if server is not None:
            server.stop()

    def adopt(self, data: dict[str, Any]) -> SimCluster:
        """A cluster brought back from ``SimCluster.to_dict`` data (a restored control plane)."""
        cluster = SimCluster.from_dict(data, self.clock)
        with self._lock:
            old = self._servers.pop(cluster.name, None)
            self._clusters[cluster.name] = cluster
        if old is not None:
            old.stop()
        self._start_ready()
        return cluster

    def clusters(self) -> list[SimCluster]:
        with self._lock:
            return list(self._clusters.values())

    def cluster_at(self, ip: str) -> SimCluster | None:
        """The cluster whose endpoint (VIP) or one of whose control planes is ``ip``."""
        for cluster in self.clusters():
            if ip == cluster.endpoint or ip in cluster.control_plane_ips():
                return cluster
        return None

    def serve(self) -> None:
        """Serve every ready cluster over HTTPS on 127.0.0.1 (and later ones as they get ready)."""
        with self._lock:
            self._serving = True
        self._start_ready()

    def _start_ready(self) -> None:
        if not self._serving:
            return
        with self._lock:
            for cluster in self._clusters.values():
                server = self._servers.get(cluster.name)
                if server is None and cluster.api_ready():
                    server = ApiServer(cluster, self.ports.get(cluster.name, 0))
                    server.start()
                    self._servers[cluster.name] = server
                    self.ports[cluster.name] = server.port
                elif server is not None:
                    server.refresh_certificate()

    def endpoints(self) -> dict[str, str]:
        """``{"10.0.20.10:6443": "https://127.0.0.1:PORT"}`` for every served cluster."""
        self._start_ready()
        out: dict[str, str] = {}
        with self._lock:
            for name, server in sorted(self._servers.items()):
                cluster = self._clusters[name]
                for ip in [cluster.endpoint, *cluster.control_plane_ips()]:
                    out[f"{ip}:{API_PORT}"] = server.url
        return out

    def tick(self, now: float) -> None:
        for cluster in self.clusters():
            if cluster.api_ready():
                cluster.tick(now)
        self._start_ready()

    def close(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
            self._serving = False
        for server in servers:
            server.stop()

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            ports = dict(self.ports)
        return {"clusters": [c.to_dict() for c in self.clusters()], "ports": ports}

    @classmethod
    def from_dict(cls, data: dict[str, Any], clock: VirtualClock) -> KubeRegistry:
        registry = cls(clock)
        registry.ports = {str(k): int(v) for k, v in (data.get("ports") or {}).items()}
        for raw in data.get("clusters", []):
            cluster = SimCluster.from_dict(raw, clock)
            registry._clusters[cluster.name] = cluster
        return registry
