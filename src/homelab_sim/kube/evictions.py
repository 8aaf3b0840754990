"""Pod evictions (``POST .../pods/<name>/eviction``), honouring PodDisruptionBudgets.

As the API server's eviction REST does: a pod covered by a PDB whose disruptions allowed are
used up answers 429 TooManyRequests with the budget named in the cause; otherwise the pod is
deleted and the answer is a 201 Success Status. Pods not yet Running never count as healthy,
and evicting a pod that is not Running is always allowed (nothing to disrupt).
"""

from __future__ import annotations

import math
from typing import Any

from homelab_sim.kube.selectors import match_label_selector
from homelab_sim.kube.state import ClusterState
from homelab_sim.kube.status import bad_request, not_found, too_many_requests
from homelab_sim.kube.wire import KubeResponse, respond

Obj = dict[str, Any]


def _running(pod: Obj) -> bool:
    return bool(pod.get("status", {}).get("phase") == "Running")


def _threshold(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        share = total * int(value[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value)


def disruptions_allowed(pdb: Obj, pods: list[Obj]) -> tuple[int, int, int]:
    """(allowed, desired healthy, currently healthy) for ``pdb`` over its matching ``pods``."""
    spec = pdb.get("spec") or {}
    matched = [p for p in pods if _selected(spec.get("selector"), p)]
    healthy = sum(_running(p) for p in matched)
    if "minAvailable" in spec:
        desired = _threshold(spec["minAvailable"], len(matched), round_up=True)
    else:
        unavailable = _threshold(spec.get("maxUnavailable", 0), len(matched), round_up=True)
        desired = max(len(matched) - unavailable, 0)
    return max(healthy - desired, 0), desired, healthy


def _selected(selector: Obj | None, pod: Obj) -> bool:
    if selector is None:
        return False
    return match_label_selector(selector, pod.get("metadata", {}).get("labels") or {})


def evict(state: ClusterState, namespace: str, name: str, body: Obj) -> KubeResponse:
    """Evict one pod, or refuse with 429 when a disruption budget forbids it."""
    if body.get("kind") not in (None, "Eviction"):
        raise bad_request(f"invalid object kind {body.get('kind')!r} for an eviction")
    pod_type = state.rt("v1", "Pod")
    pod = state.get(pod_type, namespace, name)
    if pod is None:
        raise not_found(pod_type, name)
    if _running(pod):
        pods = state.items(pod_type, namespace)
        for pdb in state.objects("policy/v1", "PodDisruptionBudget", namespace):
            if not _selected((pdb.get("spec") or {}).get("selector"), pod):
                continue
            allowed, desired, healthy = disruptions_allowed(pdb, pods)
            if allowed <= 0:
                budget = pdb["metadata"]["name"]
                raise too_many_requests(
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    [
                        {
                            "reason": "DisruptionBudget",
                            "message": f"The disruption budget {budget} needs {desired} "
                            f"healthy pods and has {healthy} currently",
                        }
                    ],
                )
    state.delete(pod_type, namespace, name)
    return respond(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        201,
    )
