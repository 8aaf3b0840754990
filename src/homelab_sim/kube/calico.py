"""The tigera operator of a simulated cluster (Calico v3.28 through operator v1.34).

Once the operator Deployment runs and the Installation ``default`` exists, it checks the IP
pools against kubeadm's podSubnet as the operator does (ConfigMap ``kube-system/kubeadm-config``;
a missing podSubnet or a pool outside it leaves the Installation and TigeraStatus Degraded with
the operator's own error, so Calico never starts and the nodes stay NotReady), then creates
``calico-system`` with the calico-node DaemonSet, calico-typha and calico-kube-controllers, the
IPPools (create-once, from ``spec.calicoNetwork.ipPools`` or podSubnet), and reports in the
Installation status and the TigeraStatus objects ``calico`` and ``ippools``. An ``APIServer``
named ``default`` adds the calico-apiserver Deployment.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from homelab_sim.catalogue import calico_for_operator
from homelab_sim.kube.state import ClusterState

Obj = dict[str, Any]
OPERATOR = "tigera-operator"
_PRIVILEGED = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def deployment_running(state: ClusterState, namespace: str, name: str) -> Obj | None:
    """The Deployment if at least one of its pods is ready, else None."""
    deploy_type = state.kind("apps/v1", "Deployment")
    deploy = state.get(deploy_type, namespace, name) if deploy_type else None
    if deploy is None:
        return None
    return deploy if (deploy.get("status") or {}).get("readyReplicas", 0) > 0 else None


def kubeadm_pod_subnet(state: ClusterState) -> str | None:
    cm = state.get(state.rt("v1", "ConfigMap"), "kube-system", "kubeadm-config")
    text = ((cm or {}).get("data") or {}).get("ClusterConfiguration", "")
    match = re.search(r"podSubnet:\s*(\S+)", text)
    return match.group(1).strip("'\"") if match else None


def desired_pools(installation: Obj, pod_subnet: str) -> list[Obj]:
    network = (installation.get("spec") or {}).get("calicoNetwork") or {}
    pools = network.get("ipPools")
    if pools:
        return [dict(p) for p in pools]
    return [
        {
            "name": "default-ipv4-ippool",
            "cidr": pod_subnet.split(",")[0],
            "blockSize": 26,
            "encapsulation": "IPIP",
            "natOutgoing": "Enabled",
            "nodeSelector": "all()",
        }
    ]


def check_pools(pools: list[Obj], pod_subnet: str | None) -> str | None:
    """The operator's error for these pools, or None (tigera/operator ippool/kubeadm.go)."""
    if not pod_subnet:
        return "kubeadm configuration is missing required podSubnet field"
    subnets = [ipaddress.ip_network(s.strip(), strict=False) for s in pod_subnet.split(",")]
    for pool in pools:
        try:
            cidr = ipaddress.ip_network(str(pool.get("cidr", "")), strict=False)
        except ValueError:
            return f"IPPool {pool.get('name')} has an invalid CIDR {pool.get('cidr')!r}"
        if not any(cidr.version == s.version and cidr.subnet_of(s) for s in subnets):  # type: ignore[arg-type]
            return (
                f"IPPool {pool.get('name')} is not within the platform's configured pod "
                "network CIDR(s)"
            )
    return None


def run_tigera_operator(state: ClusterState) -> None:
    operator = deployment_running(state, "tigera-operator", "tigera-operator")
    install_type = state.kind("operator.tigera.io/v1", "Installation")
    if operator is None or install_type is None:
        return
    installation = state.get(install_type, "", "default")
    if installation is None:
        return
    pod_subnet = kubeadm_pod_subnet(state)
    pools = desired_pools(installation, pod_subnet or "")
    error = check_pools(pools, pod_subnet)
    if error is not None:
        _report(state, installation, degraded=error, ready=False)
        return
    release = calico_for_operator(_image_tag(operator))
    if release is None:  # an operator release the simulator has no model of does nothing here
        return
    calico = release.version
    _ensure_calico(state, calico, len(state.objects("v1", "Node")))
    _ensure_pools(state, pools)
    node_ds = state.get(state.rt("apps/v1", "DaemonSet"), "calico-system", "calico-node") or {}
    status = node_ds.get("status") or {}
    ready = status.get("numberReady", 0) == status.get("desiredNumberScheduled", -1) > 0
    _report(state, installation, degraded=None, ready=ready, calico=calico, pools=pools)
    if (
        state.get(state.rt("operator.tigera.io/v1", "APIServer"), "", "default") is not None
        if state.kind("operator.tigera.io/v1", "APIServer")
        else False
    ):
        _ensure_apiserver(state, calico)


def _image_tag(deploy: Obj) -> str:
    containers = deploy.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    image = str(containers[0].get("image", "")) if containers else ""
    return image.rsplit(":", 1)[-1] if ":" in image else ""


def _namespace(state: ClusterState, name: str) -> None:
    state.ensure(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"name": name, **_PRIVILEGED}},
        },
        manager=OPERATOR,
    )


def _workload(
    kind: str,
    name: str,
    namespace: str,
    image: str,
    *,
    host_network: bool,
    tolerations: list[Obj],
    replicas: int | None = None,
) -> Obj:
    labels = {"k8s-app": name, "app.kubernetes.io/name": name}
    spec: Obj = {
        "selector": {"matchLabels": {"k8s-app": name}},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "serviceAccountName": name,
                "hostNetwork": host_network,
                "tolerations": tolerations,
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "priorityClassName": "system-node-critical"
                if host_network
                else "system-cluster-critical",
                "containers": [{"name": name, "image": image}],
            },
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


_ALL = [
    {"operator": "Exists", "effect": "NoSchedule"},
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
    {"operator": "Exists", "effect": "NoExecute"},
]
_CRITICAL = [
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
]


def _ensure_calico(state: ClusterState, calico: str, nodes: int) -> None:
    _namespace(state, "calico-system")
    for account in ("calico-node", "calico-typha", "calico-kube-controllers"):
        state.ensure(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": account, "namespace": "calico-system"},
            },
            manager=OPERATOR,
        )
    typhas = 1 if nodes <= 3 else 3 if nodes > 10 else 2
    for obj in (
        _workload(
            "DaemonSet",
            "calico-node",
            "calico-system",
            f"docker.io/calico/node:{calico}",
            host_network=True,
            tolerations=_ALL,
        ),
        _workload(
            "Deployment",
            "calico-typha",
            "calico-system",
            f"docker.io/calico/typha:{calico}",
            host_network=True,
            tolerations=_ALL,
            replicas=typhas,
        ),
        _workload(
            "Deployment",
            "calico-kube-controllers",
            "calico-system",
            f"docker.io/calico/kube-controllers:{calico}",
            host_network=False,
            tolerations=_CRITICAL,
            replicas=1,
        ),
    ):
        state.ensure(obj, manager=OPERATOR)


def _ensure_pools(state: ClusterState, pools: list[Obj]) -> None:
    pool_type = state.kind("crd.projectcalico.org/v1", "IPPool")
    if pool_type is None or state.items(pool_type):
        return  # create-once: the operator never changes existing pools
    for pool in pools:
        encapsulation = str(pool.get("encapsulation", "IPIP"))
        state.create(
            pool_type,
            {
                "apiVersion": "crd.projectcalico.org/v1",
                "kind": "IPPool",
                "metadata": {"name": pool.get("name", "default-ipv4-ippool")},
                "spec": {
                    "cidr": pool.get("cidr"),
                    "blockSize": int(pool.get("blockSize", 26)),
                    "ipipMode": {"IPIP": "Always", "IPIPCrossSubnet": "CrossSubnet"}.get(
                        encapsulation, "Never"
                    ),
                    "vxlanMode": {"VXLAN": "Always", "VXLANCrossSubnet": "CrossSubnet"}.get(
                        encapsulation, "Never"
                    ),
                    "natOutgoing": pool.get("natOutgoing", "Enabled") == "Enabled",
                    "nodeSelector": pool.get("nodeSelector", "all()"),
                    "allowedUses": ["Workload", "Tunnel"],
                },
            },
            manager=OPERATOR,
        )


def _ensure_apiserver(state: ClusterState, calico: str) -> None:
    _namespace(state, "calico-apiserver")
    state.ensure(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "calico-apiserver", "namespace": "calico-apiserver"},
        },
        manager=OPERATOR,
    )
    state.ensure(
        _workload(
            "Deployment",
            "calico-apiserver",
            "calico-apiserver",
            f"docker.io/calico/apiserver:{calico}",
            host_network=False,
            tolerations=_CRITICAL,
            replicas=2,
        ),
        manager=OPERATOR,
    )


def _report(
    state: ClusterState,
    installation: Obj,
    *,
    degraded: str | None,
    ready: bool,
    calico: str = "",
    pools: list[Obj] | None = None,
) -> None:
    now = state.timestamp()
    conditions = [
        {
            "type": "Degraded",
            "status": "True" if degraded else "False",
            "reason": "ResourceValidationError" if degraded else "AllObjectsAvailable",
            "message": degraded or "",
            "lastTransitionTime": now,
        },
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "reason": "AllObjectsAvailable" if ready else "ResourceNotReady",
            "message": "All objects available" if ready else "",
            "lastTransitionTime": now,
        },
    ]
    status: Obj = {"conditions": _keep_times(installation, conditions)}
    if not degraded:
        computed = dict(installation.get("spec") or {})
        computed.setdefault("variant", "Calico")
        computed["calicoNetwork"] = {**(computed.get("calicoNetwork") or {}), "ipPools": pools}
        status.update(variant="Calico", calicoVersion=calico, mtu=1450, computed=computed)
    install_type = state.rt("operator.tigera.io/v1", "Installation")
    state.set_status(install_type, installation, status, OPERATOR)
    _tigera_status(state, "calico", degraded, ready)
    _tigera_status(state, "ippools", degraded, degraded is None)


def _tigera_status(state: ClusterState, name: str, degraded: str | None, available: bool) -> None:
    ts_type = state.kind("operator.tigera.io/v1", "TigeraStatus")
    if ts_type is None:
        return
    live = state.get(ts_type, "", name) or state.create(
        ts_type,
        {
            "apiVersion": "operator.tigera.io/v1",
            "kind": "TigeraStatus",
            "metadata": {"name": name},
            "spec": {},
        },
        manager=OPERATOR,
    )
    now = state.timestamp()
    conditions = [
        {
            "type": "Available",
            "status": "True" if available else "False",
            "reason": "AllObjectsAvailable" if available else "ResourceNotReady",
            "message": "All objects available" if available else "",
            "lastTransitionTime": now,
        },
        {
            "type": "Progressing",
            "status": "False" if available or degraded else "True",
            "reason": "AllObjectsAvailable" if available else "ResourceNotReady",
            "message": "" if available or degraded else "Waiting for calico-node to be ready",
            "lastTransitionTime": now,
        },
        {
            "type": "Degraded",
            "status": "True" if degraded else "False",
            "reason": "ResourceValidationError" if degraded else "AllObjectsAvailable",
            "message": degraded or "",
            "lastTransitionTime": now,
        },
    ]
    state.set_status(ts_type, live, {"conditions": _keep_times(live, conditions)}, OPERATOR)


def _keep_times(obj: Obj, conditions: list[Obj]) -> list[Obj]:
    """Keep lastTransitionTime of conditions whose status did not change (no churn)."""
    old = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    for condition in conditions:
        before = old.get(condition["type"])
        if before and before.get("status") == condition["status"]:
            condition["lastTransitionTime"] = before.get("lastTransitionTime")
    return conditions
