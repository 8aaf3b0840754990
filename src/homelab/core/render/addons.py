"""The cluster's addons as data: Calico, MetalLB, kube-vip, and the index of how to apply them.

The upstream install manifests (tigera-operator, metallb-native) are large and are applied
from their pinned upstream URLs; what is specific to a lab is rendered here:

- Calico's ``Installation``: the IP pool CIDR equals kubeadm's podSubnet (the operator rejects
  a pool outside it, and pools cannot be changed after install), and IP autodetection is
  pinned to the kubelet's node IP (``kubernetes: NodeInternalIP``), which kubeadm sets from the
  spec address. A ``cidrs:`` rule would not do: the kube-vip VIP sits in the same subnet on the
  same NIC. This replaces the source architecture's calico-patch.sh.
- with ``monitoring.enabled``, Felix's Prometheus metrics (off by default; port 9091): the
  ``default`` FelixConfiguration gets ``prometheusMetricsEnabled: true`` by server-side apply,
  which sets that one field and leaves the ones the operator and calico-node manage alone.
- MetalLB's ``IPAddressPool`` from ``load_balancer.addresses`` and an ``L2Advertisement``.
- kube-vip's static pod (ARP mode, control-plane VIP only; MetalLB owns Service addresses).
- with ``monitoring.enabled``, Flux's release ``install.yaml`` and the stack on top of it
  (``core.monitoring.stack``: chart sources, HelmReleases at the pinned chart versions).
- ``addons.yaml``: the apply order, versions, upstream URLs and how to apply each. From Calico
  3.30 the operator's CRDs are a manifest of their own (``operator-crds.yaml``), listed before
  ``tigera-operator.yaml``, as Calico's install and upgrade docs order them.
"""

from __future__ import annotations

from typing import Any

from homelab.core.render.kubeadm import API_PORT
from homelab.core.render.network import INTERFACE
from homelab.core.render.versions import ComponentVersions
from homelab.core.spec.models import LabSpec

METALLB_NAMESPACE = "metallb-system"
CALICO_FILE = "calico.yaml"
METALLB_FILE = "metallb.yaml"
INDEX_FILE = "addons.yaml"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
SUPER_ADMIN_CONF = "/etc/kubernetes/super-admin.conf"


def calico_resources(spec: LabSpec) -> list[dict[str, Any]]:
    """The tigera operator's ``Installation`` and ``APIServer`` named ``default``."""
    pod_cidr = spec.kubernetes.pod_cidr
    pool = {
        "name": "default-ipv4-ippool",
        "blockSize": max(26, pod_cidr.prefixlen),
        "cidr": str(pod_cidr),
        "encapsulation": "VXLANCrossSubnet",
        "natOutgoing": "Enabled",
        "nodeSelector": "all()",
    }
    installation = {
        "apiVersion": "operator.tigera.io/v1",
        "kind": "Installation",
        "metadata": {"name": "default"},
        "spec": {
            "calicoNetwork": {
                "ipPools": [pool],
                "nodeAddressAutodetectionV4": {"kubernetes": "NodeInternalIP"},
            },
        },
    }
    api_server = {
        "apiVersion": "operator.tigera.io/v1",
        "kind": "APIServer",
        "metadata": {"name": "default"},
        "spec": {},
    }
    resources = [installation, api_server]
    if spec.monitoring is not None and spec.monitoring.enabled:
        resources.append(
            {
                "apiVersion": "crd.projectcalico.org/v1",
                "kind": "FelixConfiguration",
                "metadata": {"name": "default"},
                "spec": {"prometheusMetricsEnabled": True},
            }
        )
    return resources


def metallb_resources(spec: LabSpec) -> list[dict[str, Any]]:
    """MetalLB's L2 pool and advertisement; empty when the lab has no load_balancer."""
    lb = spec.kubernetes.load_balancer
    if lb is None:
        return []
    pool_name = f"{spec.name}-pool"
    pool = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": pool_name, "namespace": METALLB_NAMESPACE},
        "spec": {"addresses": [f"{lb.first}-{lb.last}"], "autoAssign": True},
    }
    advertisement = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": f"{spec.name}-l2", "namespace": METALLB_NAMESPACE},
        "spec": {"ipAddressPools": [pool_name]},
    }
    return [pool, advertisement]


def addon_index(spec: LabSpec, versions: ComponentVersions) -> dict[str, Any]:
    """What to apply, in order. ``apply`` is how to apply ``manifest``: the tigera CRDs are too
    large for client-side apply, so they must be created (or replaced), as Calico documents.
    ``resources`` are files of this directory, applied once the manifest's CRDs exist."""
    addons: list[dict[str, Any]] = []
    crds = versions.operator_crds_manifest
    if crds is not None:  # Calico >= 3.30: the CRDs first, from their own manifest
        addons.append(
            {
                "component": "calico",
                "version": versions.calico,
                "operator_version": versions.tigera_operator,
                "manifest": crds,
                "apply": "create",
                "resources": [],
            }
        )
    addons.append(
        {
            "component": "calico",
            "version": versions.calico,
            "operator_version": versions.tigera_operator,
            "manifest": versions.tigera_operator_manifest,
            "apply": "create",
            "resources": [CALICO_FILE],
        }
    )
    if spec.kubernetes.load_balancer is not None:
        addons.append(
            {
                "component": "metallb",
                "version": versions.metallb,
                "manifest": versions.metallb_manifest,
                "apply": "server-side",
                "resources": [METALLB_FILE],
            }
        )
    if spec.monitoring is not None and spec.monitoring.enabled:
        from homelab.core.monitoring import stack  # only with monitoring

        addons.append(
            {
                "component": "flux",
                "version": versions.flux,
                "manifest": versions.flux_manifest,
                "apply": "server-side",
                "resources": [stack.MONITORING_FILE],
                "charts": stack.charts(versions),
            }
        )
    if spec.kubernetes.control_plane_endpoint is not None:
        addons.append(
            {
                "component": "kube-vip",
                "version": versions.kube_vip,
                "manifest": None,
                "apply": "static-pod",  # written by cloud-init on every control plane
                "resources": [],
            }
        )
    return {"lab": spec.name, "kubernetes": spec.kubernetes.version, "addons": addons}


def kube_vip_pod(spec: LabSpec, versions: ComponentVersions, *, kubeconfig: str) -> dict[str, Any]:
    """kube-vip's static pod holding the control-plane VIP by ARP on ``eth0``.

    ``kubeconfig`` is ``SUPER_ADMIN_CONF`` on the init node during ``kubeadm init`` (from
    kubeadm 1.29, admin.conf has no rights until init has bound them), else ``ADMIN_CONF``.
    """
    vip = spec.kubernetes.control_plane_endpoint
    assert vip is not None, "kube-vip only runs when the lab has a control_plane_endpoint"
    env = {
        "vip_arp": "true",
        "port": str(API_PORT),
        "vip_interface": INTERFACE,
        "vip_cidr": "32",
        "dns_mode": "first",
        "cp_enable": "true",
        "cp_namespace": "kube-system",
        "svc_enable": "false",
        "vip_leaderelection": "true",
        "vip_leasename": "plndr-cp-lock",
        "vip_leaseduration": "5",
        "vip_renewdeadline": "3",
        "vip_retryperiod": "1",
        "address": str(vip),
        "prometheus_server": ":2112",
    }
    env_list: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in env.items()]
    env_list.insert(
        2, {"name": "vip_nodename", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    )
    container = {
        "name": "kube-vip",
        "image": versions.kube_vip_image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["manager"],
        "env": env_list,
        "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
        "volumeMounts": [{"name": "kubeconfig", "mountPath": ADMIN_CONF}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kube-vip", "namespace": "kube-system"},
        "spec": {
            "containers": [container],
            "hostAliases": [{"hostnames": ["kubernetes"], "ip": "127.0.0.1"}],
            "hostNetwork": True,
            "volumes": [{"name": "kubeconfig", "hostPath": {"path": kubeconfig, "type": "File"}}],
        },
    }
