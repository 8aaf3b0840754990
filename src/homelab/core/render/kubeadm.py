"""kubeadm configuration documents: ``kubeadm.k8s.io/v1beta3`` up to 1.30, ``v1beta4`` from 1.31.

The API is the minor's (``versions.kubeadm_api``): kubeadm 1.29/1.30 read only v1beta3, 1.31-1.36
both, 1.37 only v1beta4 (v1beta3 was removed, k/k#136016). What this renderer uses differs
between them in one way (v1beta4 types, ``cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go``):
``extraArgs`` (control-plane components, local etcd) and ``nodeRegistration.kubeletExtraArgs``
are lists of ``{name, value}`` instead of maps. The fields v1beta4 moved (timeouts under
``timeouts.*``) are not set, so kubeadm's defaults apply under either API.

- The first control plane gets InitConfiguration + ClusterConfiguration + KubeletConfiguration.
  ``podSubnet`` is always set: the tigera operator reads it from ``kubeadm-config`` and refuses
  to work without it. ``controlPlaneEndpoint`` is always set (the VIP, else the first control
  plane), because a cluster made without one can never become HA.
- Other control planes get a JoinConfiguration with ``controlPlane.localAPIEndpoint``; the
  shared CA material is already on disk (cloud-init writes it), so no certificate key and no
  ``--upload-certs`` are involved.
- Workers get a JoinConfiguration with the bootstrap token and the CA hash.

Every node pins the kubelet's ``node-ip`` to its spec address, which is also what Calico's IP
autodetection uses (``kubernetes: NodeInternalIP``).

With ``monitoring.enabled`` the metrics endpoints kubeadm binds to 127.0.0.1 are opened to the
node network so Prometheus can scrape them (else its default control-plane targets are down):
controller-manager and scheduler ``--bind-address=0.0.0.0`` (their HTTPS metrics still need
authentication; kubeadm keeps their probes on 127.0.0.1), etcd
``--listen-metrics-urls=http://0.0.0.0:2381`` (plain HTTP metrics, no keys), and kube-proxy's
``metricsBindAddress: 0.0.0.0:10249`` (a KubeProxyConfiguration in the init config, which
kubeadm stores in the kube-proxy ConfigMap). Without monitoring nothing listens more widely.
"""

from __future__ import annotations

from typing import Any

from homelab.core.cluster import ClusterSecrets
from homelab.core.render.versions import ComponentVersions
from homelab.core.spec.models import LabSpec
from homelab.core.spec.opnsense import API_HOSTNAME, dns_names

API_PORT = 6443
ETCD_METRICS_PORT = 2381
KUBE_PROXY_METRICS_PORT = 10249
CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"
TOKEN_TTL = "24h0m0s"  # noqa: S105  (a duration, not a password)
MIN_CONTROL_PLANE_CPUS = 2
MIN_CONTROL_PLANE_MIB = 1700
MIN_WORKER_MIB = 1024
TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"  # noqa: S105


def api_server_endpoint(spec: LabSpec) -> str:
    """``host:port`` of the cluster API: the VIP, else the first control plane."""
    return f"{spec.api_endpoint()}:{API_PORT}"


def init_documents(
    spec: LabSpec, secrets: ClusterSecrets, vm_name: str, versions: ComponentVersions
) -> list[dict[str, Any]]:
    """The ``kubeadm init --config`` documents of the first control plane."""
    docs = [
        _init_configuration(spec, secrets, vm_name, versions),
        _cluster_configuration(spec, versions),
        _kubelet_configuration(spec),
    ]
    if _monitored(spec):
        docs.append(
            {
                "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                "kind": "KubeProxyConfiguration",
                "metricsBindAddress": f"0.0.0.0:{KUBE_PROXY_METRICS_PORT}",
            }
        )
    return docs


def _monitored(spec: LabSpec) -> bool:
    return spec.monitoring is not None and spec.monitoring.enabled


def join_document(
    spec: LabSpec, secrets: ClusterSecrets, vm_name: str, versions: ComponentVersions
) -> dict[str, Any]:
    """The ``kubeadm join --config`` document of a worker or an additional control plane."""
    vm = spec.vms[vm_name]
    doc: dict[str, Any] = {
        "apiVersion": versions.kubeadm_api,
        "kind": "JoinConfiguration",
        "nodeRegistration": _node_registration(spec, vm_name, versions),
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": api_server_endpoint(spec),
                "token": secrets.bootstrap_token().reveal(),
                "caCertHashes": [secrets.ca_cert_hash()],
            },
        },
    }
    if vm.role == "control-plane":
        doc["controlPlane"] = {
            "localAPIEndpoint": {"advertiseAddress": str(vm.ip), "bindPort": API_PORT},
        }
    return doc


def _init_configuration(
    spec: LabSpec, secrets: ClusterSecrets, vm_name: str, versions: ComponentVersions
) -> dict[str, Any]:
    return {
        "apiVersion": versions.kubeadm_api,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {
                "token": secrets.bootstrap_token().reveal(),
                "description": f"homelab: joins the nodes of lab {spec.name}",
                "ttl": TOKEN_TTL,
                "usages": ["signing", "authentication"],
                "groups": [TOKEN_GROUP],
            }
        ],
        "nodeRegistration": _node_registration(spec, vm_name, versions),
        "localAPIEndpoint": {"advertiseAddress": str(spec.vms[vm_name].ip), "bindPort": API_PORT},
    }


def _cluster_configuration(spec: LabSpec, versions: ComponentVersions) -> dict[str, Any]:
    k8s = spec.kubernetes
    return {
        "apiVersion": versions.kubeadm_api,
        "kind": "ClusterConfiguration",
        "clusterName": spec.name,
        "kubernetesVersion": f"v{k8s.version}",
        "controlPlaneEndpoint": api_server_endpoint(spec),
        "networking": {
            "podSubnet": str(k8s.pod_cidr),
            "serviceSubnet": str(k8s.service_cidr),
            "dnsDomain": k8s.cluster_domain,
        },
        "apiServer": {"certSANs": cert_sans(spec)},
        **(_metrics_args(versions) if _monitored(spec) else {}),
    }


def _metrics_args(versions: ComponentVersions) -> dict[str, Any]:
    """The ClusterConfiguration sections that open the control plane's metrics endpoints."""
    bind_all = {"bind-address": "0.0.0.0"}  # noqa: S104 (the point)
    etcd_metrics = {"listen-metrics-urls": f"http://0.0.0.0:{ETCD_METRICS_PORT}"}
    return {
        "controllerManager": {"extraArgs": extra_args(bind_all, versions)},
        "scheduler": {"extraArgs": extra_args(bind_all, versions)},
        "etcd": {"local": {"extraArgs": extra_args(etcd_metrics, versions)}},
    }


def extra_args(args: dict[str, str], versions: ComponentVersions) -> Any:
    """``extraArgs``/``kubeletExtraArgs`` in the minor's config API: a map in v1beta3, a list of
    ``{name, value}`` (kubeadm's ``Arg``) in v1beta4."""
    if versions.kubeadm_api == "kubeadm.k8s.io/v1beta3":
        return dict(args)
    return [{"name": name, "value": value} for name, value in args.items()]


def _kubelet_configuration(spec: LabSpec) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        "clusterDomain": spec.kubernetes.cluster_domain,
        "failSwapOn": True,
    }


def _node_registration(spec: LabSpec, vm_name: str, versions: ComponentVersions) -> dict[str, Any]:
    vm = spec.vms[vm_name]
    reg: dict[str, Any] = {
        "name": vm_name,
        "criSocket": CRI_SOCKET,
        "kubeletExtraArgs": extra_args({"node-ip": str(vm.ip)}, versions),
    }
    if vm.role == "control-plane" and not spec.workers:
        reg["taints"] = []  # no workers: the control planes must take the workloads
    ignored = preflight_ignores(spec, vm_name)
    if ignored:
        reg["ignorePreflightErrors"] = ignored
    return reg


def preflight_ignores(spec: LabSpec, vm_name: str) -> list[str]:
    """kubeadm's size checks the spec knowingly fails (a small lab is the user's call).

    kubeadm wants 2 CPUs on a control plane and 1700 MB (control plane) or 1024 MB (worker)."""
    vm = spec.vms[vm_name]
    control_plane = vm.role == "control-plane"
    ignored = []
    if control_plane and vm.cores < MIN_CONTROL_PLANE_CPUS:
        ignored.append("NumCPU")
    if vm.memory < (MIN_CONTROL_PLANE_MIB if control_plane else MIN_WORKER_MIB):
        ignored.append("Mem")
    return ignored


def cert_sans(spec: LabSpec) -> list[str]:
    """Extra API server SANs: the endpoint, and the first control plane's own name and address.

    kubeadm puts each control plane's own node name and advertise address in the certificate it
    makes there (its apiserver altnames), so the other control planes need not be listed: the
    init node's seed then stays the same when an HA lab gains or loses a control plane. With an
    ``opnsense:`` section, the endpoint's DNS name (``api.<domain>``) too."""
    first = spec.control_planes[0]
    sans = {str(spec.api_endpoint()), first, str(spec.vms[first].ip)}
    api_name = dns_names(spec).get(API_HOSTNAME)
    if api_name is not None:  # OPNsense's Unbound names the endpoint: kubeconfigs may use it
        sans.add(api_name)
    return sorted(sans)
