"""The reconcile loop of a simulated cluster: every controller, on the virtual clock.

``reconcile`` runs, until nothing changes (bounded by ``MAX_PASSES``): the node lifecycle, the
addon operators (``calico.py``, ``flux.py``, ``metallb.py``), the workload controllers, the
scheduler and the kubelets (``workloads.py``, ``nodes.py``), the endpoints controller (below)
and the garbage collector. Every write goes through ``ClusterState``, so an unchanged cluster
is not rewritten (resourceVersions stay put).
"""

from __future__ import annotations

from typing import Any

from homelab_sim.kube import calico, flux, metallb, nodes, workloads
from homelab_sim.kube.nodes import running
from homelab_sim.kube.selectors import match_service_selector
from homelab_sim.kube.state import ClusterState

Obj = dict[str, Any]
MAX_PASSES = 12


def reconcile(state: ClusterState, now: float) -> None:
    """Run every controller until the cluster is stable (or ``MAX_PASSES`` passes)."""
    for _ in range(MAX_PASSES):
        before = state.store.revision
        nodes.reconcile_nodes(state)
        calico.run_tigera_operator(state)
        flux.run_flux(state)
        metallb.run_metallb(state)
        workloads.reconcile_deployments(state)
        workloads.reconcile_replicasets(state)
        workloads.reconcile_daemonsets(state)
        nodes.schedule_pods(state)
        nodes.run_kubelets(state, now)
        reconcile_endpoints(state)
        while state.collect_garbage():
            pass
        if state.store.revision == before:
            return


def next_event(state: ClusterState, now: float) -> float:
    """When the controllers next have something to do with no write in between: a scheduled
    pod starting, a silent kubelet's grace period ending or it coming back (``inf`` when
    nothing is due)."""
    return min(nodes.next_pod_start(state, now), nodes.next_kubelet_change(state, now))


def reconcile_endpoints(state: ClusterState) -> None:
    pods = [p for p in state.objects("v1", "Pod") if running(p)]
    for svc in state.objects("v1", "Service"):
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            continue
        meta = svc["metadata"]
        ready = [
            p
            for p in pods
            if p["metadata"]["namespace"] == meta["namespace"]
            and match_service_selector(selector, p["metadata"].get("labels") or {})
        ]
        addresses = [
            {
                "ip": p["status"]["podIP"],
                "nodeName": p["spec"].get("nodeName"),
                "targetRef": {
                    "kind": "Pod",
                    "namespace": meta["namespace"],
                    "name": p["metadata"]["name"],
                    "uid": p["metadata"]["uid"],
                },
            }
            for p in ready
        ]
        ports = [
            {
                "name": p.get("name", ""),
                "port": _target_port(p),
                "protocol": p.get("protocol", "TCP"),
            }
            for p in (svc.get("spec") or {}).get("ports") or []
        ]
        subsets = [{"addresses": addresses, "ports": ports}] if addresses else []
        endpoints = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "labels": dict(meta.get("labels") or {}),
            },
            "subsets": subsets,
        }
        live = state.get(state.rt("v1", "Endpoints"), meta["namespace"], meta["name"])
        if live is None or live.get("subsets") != subsets:
            if live is not None:
                endpoints = {**live, "subsets": subsets}
                state.update(state.rt("v1", "Endpoints"), endpoints, manager="endpoint-controller")
            else:
                state.create(state.rt("v1", "Endpoints"), endpoints, manager="endpoint-controller")


def _target_port(port: Obj) -> int:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or str(target).isdigit():
        return int(str(target))
    return int(port.get("port") or 0)
