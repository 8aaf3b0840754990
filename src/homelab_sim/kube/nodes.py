"""Nodes, the scheduler and the kubelets of a simulated cluster, on the virtual clock.

- Nodes: Ready once a CNI pod (calico-node) runs on them, NotReady before with the kubelet's
  message; NotReady and cordoned nodes carry the taints the node controller adds. A node whose
  kubelet stopped posting (its VM stopped) keeps its last status for the node controller's
  grace period (``NODE_MONITOR_GRACE``, 40 s), then every condition turns Unknown
  ("Kubelet stopped posting node status.") and it gets the ``unreachable`` taints; it is Ready
  again ``KUBELET_START`` seconds after its VM booted.
- Scheduler: a Pending pod goes to the least-loaded node whose taints it tolerates and whose
  labels match its nodeSelector, or stays Pending with the scheduler's "0/N nodes are
  available" message.
- Kubelet: a scheduled pod runs ``POD_START`` virtual seconds later if its node is Ready or the
  pod uses the host network (no CNI needed), with an IP from its node's podCIDR; a pod whose
  image no registry has (``catalogue.pullable``) stays Pending with ``ErrImagePull``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from typing import Any

from homelab_sim import catalogue
from homelab_sim.kube.state import ClusterState

Obj = dict[str, Any]
POD_START = 2.0  # virtual seconds from scheduling to Running (image pull + start)
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
CNI_LABEL = ("k8s-app", "calico-node")
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
DS_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]
UNREACHABLE_TAINTS = [
    {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
]
NODE_MONITOR_GRACE = 40.0  # kube-controller-manager --node-monitor-grace-period (<= 1.31)
KUBELET_START = 15.0  # from the VM's boot to the kubelet posting Ready again
KCM, SCHEDULER, KUBELET = "kube-controller-manager", "kube-scheduler", "kubelet"


def kubelet_posting(state: ClusterState, node: str, now: float) -> bool | None:
    """True when the node's kubelet posts status now; False once the node controller has
    given up on it (grace period over); None in between (its last status stands)."""
    down = state.kubelet_down.get(node)
    if down is None:
        return True
    since, back = down
    if now >= back:
        del state.kubelet_down[node]
        return True
    return None if now - since < NODE_MONITOR_GRACE else False


def next_kubelet_change(state: ClusterState, now: float) -> float:
    """When a node's status changes by time alone (grace period over, kubelet back)."""
    times = [
        t
        for since, back in state.kubelet_down.values()
        for t in (since + NODE_MONITOR_GRACE, back)
        if t > now
    ]
    return min(times, default=float("inf"))


def short_hash(data: Any, length: int = 10) -> str:
    digest = int(hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest(), 16)
    return "".join(_ALPHABET[(digest // 27**i) % 27] for i in range(length))


def labels_of(obj: Obj) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("labels") or {})


def make_condition(kind: str, status: bool, reason: str, message: str, since: str) -> Obj:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }


def running(pod: Obj) -> bool:
    return bool(pod.get("status", {}).get("phase") == "Running")


def node_ready(node: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in node.get("status", {}).get("conditions") or []
    )


def node_ip(node: Obj) -> str:
    for address in node.get("status", {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return ""


# --- nodes -------------------------------------------------------------------------------


def reconcile_nodes(state: ClusterState) -> None:
    node_type, pods = state.rt("v1", "Node"), state.objects("v1", "Pod")
    cni_nodes = {
        p.get("spec", {}).get("nodeName")
        for p in pods
        if labels_of(p).get(CNI_LABEL[0]) == CNI_LABEL[1] and running(p)
    }
    now = state.now()
    for node in state.items(node_type):
        posting = kubelet_posting(state, node["metadata"]["name"], now)
        if posting is None:
            continue  # the kubelet is silent, the node controller still waits
        ready = node["metadata"]["name"] in cni_nodes
        status = dict(node.get("status") or {})
        old = status.get("conditions") or []
        status["conditions"] = (
            _node_conditions(old, ready, state.timestamp())
            if posting
            else _unknown_conditions(old, state.timestamp())
        )
        node = state.set_status(node_type, node, status, KUBELET if posting else KCM)
        managed = (NOT_READY_TAINT["key"], UNSCHEDULABLE_TAINT["key"], UNREACHABLE_TAINTS[0]["key"])
        taints = [
            t for t in node.get("spec", {}).get("taints") or [] if t.get("key") not in managed
        ]
        if not posting:
            taints += [dict(t) for t in UNREACHABLE_TAINTS]
        elif not ready:
            taints.append(dict(NOT_READY_TAINT))
        if node.get("spec", {}).get("unschedulable"):
            taints.append(dict(UNSCHEDULABLE_TAINT))
        if taints != (node.get("spec", {}).get("taints") or []):
            new = {**node, "spec": {**node.get("spec", {}), "taints": taints}}
            state.update(node_type, new, manager=KCM)


def _unknown_conditions(old: list[Obj], now: str) -> list[Obj]:
    """What the node controller writes once the kubelet stopped posting for the grace period."""
    out = []
    for before in old:
        changed = before.get("status") != "Unknown"
        out.append(
            {
                **before,
                "status": "Unknown",
                "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.",
                "lastTransitionTime": now if changed else before.get("lastTransitionTime", now),
            }
        )
    return out


def _node_conditions(old: list[Obj], ready: bool, now: str) -> list[Obj]:
    previous = {c["type"]: c for c in old}
    wanted = [
        (
            "MemoryPressure",
            False,
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        ("DiskPressure", False, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", False, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        (
            "Ready",
            ready,
            "KubeletReady" if ready else "KubeletNotReady",
            "kubelet is posting ready status"
            if ready
            else "container runtime network not ready: "
            "NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: "
            "cni plugin not initialized",
        ),
    ]
    out = []
    for kind, status, reason, message in wanted:
        before = previous.get(kind)
        text = "True" if status else "False"
        since = before["lastTransitionTime"] if before and before["status"] == text else now
        condition = make_condition(kind, status, reason, message, since)
        condition["lastHeartbeatTime"] = (
            before.get("lastHeartbeatTime", now) if before and before["status"] == text else now
        )
        out.append(condition)
    return out


# --- scheduling and the kubelet ----------------------------------------------------------


def tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists" and not tol.get("key"):
            return True
        if tol.get("key") != taint.get("key"):
            continue
        if tol.get("operator") == "Exists" or tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def blocking_taint(node: Obj, pod_spec: Obj, extra: list[Obj] | None = None) -> Obj | None:
    tolerations = list(pod_spec.get("tolerations") or []) + list(extra or [])
    for taint in node.get("spec", {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return dict(taint)
    return None


def fits(node: Obj, pod_spec: Obj, extra: list[Obj] | None = None) -> bool:
    selector = pod_spec.get("nodeSelector") or {}
    labels = labels_of(node)
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    return blocking_taint(node, pod_spec, extra) is None


def _unschedulable_message(nodes: list[Obj], spec: Obj) -> str:
    reasons: dict[str, int] = {}
    for node in nodes:
        taint = blocking_taint(node, spec)
        if taint is not None:
            text = f"{{{taint['key']}: {taint.get('value', '')}}}"
            reason = f"node(s) had untolerated taint {text}"
        else:
            reason = "node(s) didn't match Pod's node affinity/selector"
        reasons[reason] = reasons.get(reason, 0) + 1
    detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
    tail = "preemption: 0/{0} nodes are available: {0} Preemption is not helpful for scheduling."
    return f"0/{len(nodes)} nodes are available: {detail}. {tail.format(len(nodes))}"


def _owner(pod: Obj) -> str | None:
    """The controller a pod belongs to (its ReplicaSet, StatefulSet...): kube-scheduler's
    default topology spreading counts the pods of one owner per node."""
    refs = pod.get("metadata", {}).get("ownerReferences") or []
    owner = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    return str(owner.get("uid") or owner.get("name")) if owner else None


def schedule_pods(state: ClusterState) -> None:
    """Bind each Pending pod to a node it fits on: the node with the fewest pods of the same
    owner first (kube-scheduler's default PodTopologySpread constraint on the hostname spreads
    a ReplicaSet's pods), then the fewest pods, then by name."""
    pod_type = state.rt("v1", "Pod")
    nodes = state.objects("v1", "Node")
    load: dict[str, int] = {}
    siblings: dict[tuple[str | None, str], int] = {}
    for pod in state.items(pod_type):
        node = pod.get("spec", {}).get("nodeName")
        if node:
            load[node] = load.get(node, 0) + 1
            key = (_owner(pod), node)
            siblings[key] = siblings.get(key, 0) + 1
    for pod in state.items(pod_type):
        spec = pod.get("spec") or {}
        if spec.get("nodeName") or pod.get("status", {}).get("phase") != "Pending":
            continue
        candidates = [n for n in nodes if fits(n, spec)]
        new = json.loads(json.dumps(pod))
        if not candidates:
            message = (
                _unschedulable_message(nodes, spec)
                if nodes
                else "no nodes available to schedule pods"
            )
            condition = make_condition(
                "PodScheduled", False, "Unschedulable", message, state.timestamp()
            )
            new["status"]["conditions"] = [condition]
            _save_if_changed(state, pod, new, SCHEDULER)
            continue
        owner = _owner(pod)
        chosen = min(
            candidates,
            key=lambda n: (
                siblings.get((owner, n["metadata"]["name"]), 0) if owner else 0,
                load.get(n["metadata"]["name"], 0),
                n["metadata"]["name"],
            ),
        )
        load[chosen["metadata"]["name"]] = load.get(chosen["metadata"]["name"], 0) + 1
        if owner:
            key = (owner, chosen["metadata"]["name"])
            siblings[key] = siblings.get(key, 0) + 1
        new["spec"]["nodeName"] = chosen["metadata"]["name"]
        new["status"]["conditions"] = [
            make_condition("PodScheduled", True, "", "", state.timestamp())
        ]
        new["metadata"].setdefault("annotations", {})
        state.update(pod_type, new, manager=SCHEDULER)


def _save_if_changed(state: ClusterState, old: Obj, new: Obj, manager: str) -> None:
    def brief(obj: Obj) -> list[tuple[Any, ...]]:
        conditions = (obj.get("status") or {}).get("conditions") or []
        return [(c.get("type"), c.get("status"), c.get("message")) for c in conditions]

    if brief(old) != brief(new):
        state.update(state.rt("v1", "Pod"), new, manager=manager, subresource="status")
        message = new["status"]["conditions"][0]["message"]
        record_event(state, new, "FailedScheduling", message, component="default-scheduler")


def record_event(
    state: ClusterState,
    obj: Obj,
    reason: str,
    message: str,
    *,
    component: str,
    kind: str = "Warning",
) -> None:
    """An Event about ``obj``, or one more count on the same one (as the event recorder
    aggregates repeats)."""
    meta = obj["metadata"]
    name = f"{meta['name']}.{short_hash([meta.get('uid'), reason], 16)}"
    event_type = state.rt("v1", "Event")
    namespace = meta.get("namespace", "default")
    now = state.timestamp()
    live = state.get(event_type, namespace, name)
    if live is not None:
        if live.get("message") != message:
            bumped = {
                **live,
                "message": message,
                "lastTimestamp": now,
                "count": int(live.get("count", 1)) + 1,
            }
            state.update(event_type, bumped, manager=component)
        return
    state.create(
        event_type,
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "kind": obj.get("kind"),
                "namespace": namespace,
                "name": meta["name"],
                "uid": meta.get("uid"),
                "apiVersion": obj.get("apiVersion"),
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": component},
            "reportingComponent": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        },
        manager=component,
    )


def run_kubelets(state: ClusterState, now: float) -> None:
    pod_type = state.rt("v1", "Pod")
    nodes = {n["metadata"]["name"]: n for n in state.objects("v1", "Node")}
    for pod in state.items(pod_type):
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        node = nodes.get(spec.get("nodeName", ""))
        if spec.get("nodeName") and node is None:
            state.delete(pod_type, pod["metadata"]["namespace"], pod["metadata"]["name"])
            continue
        if node is None or status.get("phase") != "Pending":
            continue
        if not (spec.get("hostNetwork") or node_ready(node)):
            continue
        if now - _scheduled_at(pod, now) < POD_START:
            continue
        missing = unpullable(pod)
        if missing is not None and _waiting_reason(pod) == "ErrImagePull":
            continue  # still pending: the image does not exist, no retry will find it
        new = json.loads(json.dumps(pod))
        if missing is None:
            new["status"] = _running_status(state, pod, node)
        else:
            new["status"] = {**status, **pull_failed_status(pod, missing)}
        state.update(pod_type, new, manager=KUBELET, subresource="status")


def unpullable(pod: Obj) -> str | None:
    """The first image of ``pod`` no registry has (``catalogue.pullable``), or None."""
    containers = (pod.get("spec") or {}).get("containers") or []
    images = [str(c.get("image", "")) for c in containers]
    return next((image for image in images if not catalogue.pullable(image)), None)


def pull_failed_status(pod: Obj, image: str) -> Obj:
    """The Pending status the kubelet reports while the image cannot be pulled."""
    containers = (pod.get("spec") or {}).get("containers") or []
    return {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": c.get("name"),
                "image": c.get("image"),
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {
                    "waiting": {"reason": "ErrImagePull", "message": catalogue.pull_error(image)}
                }
                if c.get("image") == image
                else {"waiting": {"reason": "PodInitializing"}},
            }
            for c in containers
        ],
    }


def _waiting_reason(pod: Obj) -> str | None:
    for entry in (pod.get("status") or {}).get("containerStatuses") or []:
        reason = ((entry.get("state") or {}).get("waiting") or {}).get("reason")
        if reason:
            return str(reason)
    return None


def next_pod_start(state: ClusterState, now: float) -> float:
    """The virtual time the next scheduled, Pending pod may start (``inf`` if none)."""
    ready = {n["metadata"]["name"] for n in state.objects("v1", "Node") if node_ready(n)}
    starts = [
        _scheduled_at(pod, now) + POD_START
        for pod in state.objects("v1", "Pod")
        if pod.get("status", {}).get("phase") == "Pending"
        and _waiting_reason(pod) != "ErrImagePull"
        and pod.get("spec", {}).get("nodeName")
        and (pod["spec"]["nodeName"] in ready or pod["spec"].get("hostNetwork"))
    ]
    return min(starts, default=float("inf"))


def _scheduled_at(pod: Obj, now: float) -> float:
    import datetime as dt

    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "True":
            text = str(condition.get("lastTransitionTime", ""))
            try:
                return (
                    dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
                    .replace(tzinfo=dt.UTC)
                    .timestamp()
                )
            except ValueError:
                return now - POD_START
    return now - POD_START


def _running_status(state: ClusterState, pod: Obj, node: Obj) -> Obj:
    host = node_ip(node)
    ip = host if pod.get("spec", {}).get("hostNetwork") else _pod_ip(state, node)
    now = state.timestamp()
    containers = pod.get("spec", {}).get("containers") or []
    return {
        "phase": "Running",
        "hostIP": host,
        "hostIPs": [{"ip": host}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "qosClass": "BestEffort",
        "conditions": [
            make_condition(t, True, "", "", now)
            for t in (
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled",
            )
        ],
        "containerStatuses": [
            {
                "name": c.get("name"),
                "image": c.get("image"),
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "containerID": "containerd://"
                + short_hash([pod["metadata"].get("uid"), c.get("name")], 32),
                "state": {"running": {"startedAt": now}},
            }
            for c in containers
        ],
    }


def _pod_ip(state: ClusterState, node: Obj) -> str:
    cidr = node.get("spec", {}).get("podCIDR") or state.config.pod_cidr
    network = ipaddress.ip_network(cidr, strict=False)
    used = {p.get("status", {}).get("podIP") for p in state.objects("v1", "Pod")}
    for offset in range(1, min(network.num_addresses - 1, 1 << 16)):
        candidate = str(network.network_address + offset)
        if candidate not in used:
            return candidate
    return str(network.network_address + 1)
