"""What ``kubeadm init`` and a kubelet registering put into the API, as kubeadm v1.29 does.

``init_objects`` are the objects ``kubeadm init`` creates: the four system namespaces, the
``kubernetes`` Service and its Endpoints, ConfigMaps ``kubeadm-config`` (the
ClusterConfiguration, which the tigera operator reads for podSubnet), ``kubelet-config``,
``kube-proxy``, ``coredns``, ``cluster-info`` and ``kube-root-ca.crt``, the CoreDNS Deployment
and ``kube-dns`` Service, the kube-proxy DaemonSet, the admin ClusterRoleBinding and the two
system PriorityClasses. ``node_object`` is the Node a kubelet registers; ``static_pods`` are the
control plane's mirror pods.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from homelab_sim import catalogue
from homelab_sim.kube.state import CORE_NAMESPACES, ClusterConfig
from homelab_sim.kube.store import to_yaml

Obj = dict[str, Any]
CONTAINERD = "containerd://1.7.12"
OS_IMAGE = "Ubuntu 24.04.1 LTS"
KERNEL = "6.8.0-49-generic"
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
_CRITICAL = [
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
]


def _meta(name: str, namespace: str = "", **labels: str) -> Obj:
    meta: Obj = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def release(config: ClusterConfig) -> catalogue.KubernetesMinor:
    """The Kubernetes minor of the cluster (kubeadm refused any other before init)."""
    known = catalogue.kubernetes_minor(config.version)
    if known is None:
        raise ValueError(f"Kubernetes {config.version} is not a release the simulator knows")
    return known


def cluster_configuration(config: ClusterConfig) -> Obj:
    return {
        "apiVersion": release(config).kubeadm_apis[-1],
        "kind": "ClusterConfiguration",
        "kubernetesVersion": config.version,
        "controlPlaneEndpoint": f"{config.endpoint}:6443",
        "clusterName": "kubernetes",
        "networking": {
            "dnsDomain": config.cluster_domain,
            "podSubnet": config.pod_cidr,
            "serviceSubnet": config.service_cidr,
        },
        "apiServer": {
            **({"certSANs": list(config.sans)} if config.sans else {}),
            **_extra("kube-apiserver", config),
        },
        "controllerManager": _extra("kube-controller-manager", config),
        "scheduler": _extra("kube-scheduler", config),
        "certificatesDir": "/etc/kubernetes/pki",
        "imageRepository": "registry.k8s.io",
        "etcd": {"local": {"dataDir": "/var/lib/etcd", **_extra("etcd", config)}},
    }


def _extra(component: str, config: ClusterConfig) -> Obj:
    """``extraArgs`` as the stored API has them: a map in v1beta3, ``{name, value}`` items in
    v1beta4 (the ConfigMap is written in the newest API the kubeadm has)."""
    args = config.component_args.get(component)
    if not args:
        return {}
    if release(config).kubeadm_apis[-1].endswith("/v1beta3"):
        return {"extraArgs": dict(args)}
    return {"extraArgs": [{"name": k, "value": v} for k, v in args.items()]}


def _config_maps(config: ClusterConfig) -> list[Obj]:
    def cm(name: str, namespace: str, data: dict[str, str]) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(name, namespace),
            "data": data,
        }

    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "",
                "cluster": {
                    "certificate-authority-data": _b64(config.ca_cert_pem),
                    "server": f"https://{config.endpoint}:6443",
                },
            }
        ],
        "contexts": [],
        "users": [],
        "current-context": "",
        "preferences": {},
    }
    kube_proxy = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clusterCIDR": config.pod_cidr,
        "mode": "",
        **{k: v for k, v in config.proxy.items() if k not in ("apiVersion", "kind")},
    }
    corefile = (
        ".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n"
        f"    kubernetes {config.cluster_domain} in-addr.arpa ip6.arpa {{\n"
        "       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }\n"
        "    prometheus :9153\n    forward . /etc/resolv.conf {\n       max_concurrent 1000\n"
        "    }\n    cache 30\n    loop\n    reload\n    loadbalance\n}\n"
    )
    maps = [
        cm(
            "kubeadm-config",
            "kube-system",
            {"ClusterConfiguration": to_yaml(cluster_configuration(config))},
        ),
        cm(
            "kubelet-config",
            "kube-system",
            {
                "kubelet": to_yaml(
                    {
                        "apiVersion": "kubelet.config.k8s.io/v1beta1",
                        "kind": "KubeletConfiguration",
                        "cgroupDriver": "systemd",
                        "clusterDNS": [config.dns_service_ip],
                        "clusterDomain": config.cluster_domain,
                    }
                )
            },
        ),
        cm("kube-proxy", "kube-system", {"config.conf": to_yaml(kube_proxy)}),
        cm("coredns", "kube-system", {"Corefile": corefile}),
        cm("cluster-info", "kube-public", {"kubeconfig": to_yaml(kubeconfig)}),
    ]
    maps += [cm("kube-root-ca.crt", ns, {"ca.crt": config.ca_cert_pem}) for ns in CORE_NAMESPACES]
    return maps


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def _services(config: ClusterConfig) -> list[Obj]:
    kubernetes = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("kubernetes", "default", component="apiserver", provider="kubernetes"),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": config.api_service_ip,
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
        },
    }
    dns_ports = [
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
        {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
    ]
    kube_dns = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(
            "kube-dns",
            "kube-system",
            **{
                "k8s-app": "kube-dns",
                "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "CoreDNS",
            },
        ),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": config.dns_service_ip,
            "ports": dns_ports,
            "selector": {"k8s-app": "kube-dns"},
        },
    }
    return [kubernetes, kube_dns]


def _workload(kind: str, name: str, labels: dict[str, str], pod_spec: Obj, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": _meta(name, "kube-system", **labels),
        "spec": {
            **spec,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def _addons(config: ClusterConfig) -> list[Obj]:
    coredns_pod = {
        "priorityClassName": "system-cluster-critical",
        "serviceAccountName": "coredns",
        "tolerations": _CRITICAL,
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "containers": [
            {
                "name": "coredns",
                "image": release(config).coredns_image,
                "args": ["-conf", "/etc/coredns/Corefile"],
                "ports": [
                    {"containerPort": 53, "name": "dns", "protocol": "UDP"},
                    {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                    {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
                ],
            }
        ],
    }
    proxy_pod = {
        "hostNetwork": True,
        "priorityClassName": "system-node-critical",
        "serviceAccountName": "kube-proxy",
        "tolerations": [{"operator": "Exists"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "containers": [
            {
                "name": "kube-proxy",
                "image": f"registry.k8s.io/kube-proxy:{config.version}",
                "command": [
                    "/usr/local/bin/kube-proxy",
                    "--config=/var/lib/kube-proxy/config.conf",
                    "--hostname-override=$(NODE_NAME)",
                ],
            }
        ],
    }
    return [
        _workload("Deployment", "coredns", {"k8s-app": "kube-dns"}, coredns_pod, replicas=2),
        _workload("DaemonSet", "kube-proxy", {"k8s-app": "kube-proxy"}, proxy_pod),
    ]


def _rbac() -> list[Obj]:
    rbac = "rbac.authorization.k8s.io/v1"
    cluster_admin = {
        "apiVersion": rbac,
        "kind": "ClusterRole",
        "metadata": _meta("cluster-admin", **{"kubernetes.io/bootstrapping": "rbac-defaults"}),
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    }
    accounts = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(n, "kube-system")}
        for n in ("coredns", "kube-proxy")
    ]
    priorities = [
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": _meta(n),
            "value": v,
            "globalDefault": False,
        }
        for n, v in (("system-cluster-critical", 2000000000), ("system-node-critical", 2000001000))
    ]
    return [cluster_admin, *accounts, *priorities]


ADMINS_GROUP = "kubeadm:cluster-admins"


def admins_binding() -> Obj:
    """The ClusterRoleBinding kubeadm (>= 1.29) creates once the API server answers: until it
    exists, the admin certificate's group ``kubeadm:cluster-admins`` has no rights."""
    rbac = "rbac.authorization.k8s.io/v1"
    return {
        "apiVersion": rbac,
        "kind": "ClusterRoleBinding",
        "metadata": _meta("kubeadm:cluster-admins"),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Group",
                "name": "kubeadm:cluster-admins",
            }
        ],
    }


def init_objects(config: ClusterConfig) -> list[Obj]:
    """The objects ``kubeadm init`` leaves in a fresh cluster, in creation order."""
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(n)} for n in CORE_NAMESPACES
    ]
    return [*namespaces, *_config_maps(config), *_services(config), *_rbac(), *_addons(config)]


def node_pod_cidr(config: ClusterConfig, index: int) -> str:
    """The /24 (or the pod network's own size if smaller) the node-ipam controller gives node
    number ``index``."""
    network = ipaddress.ip_network(config.pod_cidr, strict=False)
    prefix = max(24, network.prefixlen)
    subnets = network.subnets(new_prefix=prefix)
    for i, subnet in enumerate(subnets):
        if i == index:
            return str(subnet)
    return str(network)


def node_object(
    name: str,
    *,
    ip: str,
    role: str,
    kubelet_version: str,
    pod_cidr: str,
    cpus: int,
    memory_mib: int,
    runtime_version: str = CONTAINERD,
) -> Obj:
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
    }
    taints: list[Obj] = []
    if role == "control-plane":
        labels["node-role.kubernetes.io/control-plane"] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        taints.append(dict(CONTROL_PLANE_TAINT))
    capacity = {
        "cpu": str(cpus),
        "memory": f"{memory_mib * 1024}Ki",
        "pods": "110",
        "ephemeral-storage": "31811408Ki",
        "hugepages-2Mi": "0",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "taints": taints},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "capacity": capacity,
            "allocatable": dict(capacity),
            "nodeInfo": {
                "kubeletVersion": kubelet_version,
                "kubeProxyVersion": kubelet_version,
                "containerRuntimeVersion": runtime_version,
                "osImage": OS_IMAGE,
                "kernelVersion": KERNEL,
                "operatingSystem": "linux",
                "architecture": "amd64",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "conditions": [],
        },
    }


def static_pods(config: ClusterConfig, node: str, ip: str) -> list[Obj]:
    """The control-plane mirror pods kubeadm's static manifests make on ``node``."""
    images = {
        "etcd": release(config).etcd_image,
        "kube-apiserver": f"registry.k8s.io/kube-apiserver:{config.version}",
        "kube-controller-manager": f"registry.k8s.io/kube-controller-manager:{config.version}",
        "kube-scheduler": f"registry.k8s.io/kube-scheduler:{config.version}",
    }
    return [
        static_pod(component, node, ip, image, config.component_args.get(component, {}))
        for component, image in images.items()
    ]


def static_pod(
    component: str, node: str, ip: str, image: str, extra_args: dict[str, str] | None = None
) -> Obj:
    """A mirror pod as the kubelet posts it for a static manifest: ``config.mirror`` holds the
    manifest's hash (the API server's and kubectl drain's way to tell a mirror pod)."""
    digest = hashlib.sha256(f"{component}/{node}/{image}".encode()).hexdigest()[:32]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{component}-{node}",
            "namespace": "kube-system",
            "labels": {"component": component, "tier": "control-plane"},
            "annotations": {
                "kubernetes.io/config.source": "file",
                "kubernetes.io/config.hash": digest,
                "kubernetes.io/config.mirror": digest,
            },
        },
        "spec": {
            "nodeName": node,
            "hostNetwork": True,
            "priorityClassName": "system-node-critical",
            "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
            "containers": [
                {
                    "name": component,
                    "image": image,
                    # kubeadm's own flags are not modelled; the extraArgs it adds are
                    "command": [component, *(f"--{k}={v}" for k, v in (extra_args or {}).items())],
                }
            ],
        },
        "status": {
            "phase": "Running",
            "hostIP": ip,
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [
                {"type": t, "status": "True"}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "name": component,
                    "image": image,
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {}},
                }
            ],
        },
    }
