"""The built-in controllers on the virtual clock: nodes, scheduler, kubelet, workloads.

- Nodes: Ready once a CNI pod (calico-node) runs on them, NotReady before, with kubelet's
  message; NotReady and cordoned nodes carry the taints the node controller adds.
- Scheduler: a Pending pod goes to the least-loaded node whose taints it tolerates and whose
  labels match its nodeSelector, or stays Pending with the scheduler's "0/N nodes are
  available" message.
- Kubelet: a scheduled pod runs ``POD_START`` virtual seconds later, if its node is Ready or the
  pod uses the host network (no CNI needed); it gets an IP from its node's podCIDR.
- Deployment -> ReplicaSet (named by pod-template hash) -> Pods; DaemonSet -> one pod per
  eligible node; status fields as the controllers write them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from typing import Any

from homelab.sim.kube.selectors import match_label_selector
from homelab.sim.kube.state import ClusterState

Obj = dict[str, Any]
POD_START = 2.0  # virtual seconds from scheduling to Running (image pull + start)
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
CNI_LABEL = ("k8s-app", "calico-node")
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_DS_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]
KCM, SCHEDULER, KUBELET = "kube-controller-manager", "kube-scheduler", "kubelet"


def short_hash(data: Any, length: int = 10) -> str:
    digest = int(hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest(), 16)
    return "".join(_ALPHABET[(digest // 27**i) % 27] for i in range(length))


def _labels(obj: Obj) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("labels") or {})


def _condition(kind: str, status: bool, reason: str, message: str, since: str) -> Obj:
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
        if _labels(p).get(CNI_LABEL[0]) == CNI_LABEL[1] and running(p)
    }
    for node in state.items(node_type):
        ready = node["metadata"]["name"] in cni_nodes
        status = dict(node.get("status") or {})
        status["conditions"] = _node_conditions(
            status.get("conditions") or [], ready, state.timestamp()
        )
        node = state.set_status(node_type, node, status, KUBELET)
        taints = [
            t
            for t in node.get("spec", {}).get("taints") or []
            if t.get("key") not in (NOT_READY_TAINT["key"], UNSCHEDULABLE_TAINT["key"])
        ]
        if not ready:
            taints.append(dict(NOT_READY_TAINT))
        if node.get("spec", {}).get("unschedulable"):
            taints.append(dict(UNSCHEDULABLE_TAINT))
        if taints != (node.get("spec", {}).get("taints") or []):
            new = {**node, "spec": {**node.get("spec", {}), "taints": taints}}
            state.update(node_type, new, manager=KCM)


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
        condition = _condition(kind, status, reason, message, since)
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
    labels = _labels(node)
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


def schedule_pods(state: ClusterState) -> None:
    pod_type = state.rt("v1", "Pod")
    nodes = state.objects("v1", "Node")
    load: dict[str, int] = {}
    for pod in state.items(pod_type):
        node = pod.get("spec", {}).get("nodeName")
        if node:
            load[node] = load.get(node, 0) + 1
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
            condition = _condition(
                "PodScheduled", False, "Unschedulable", message, state.timestamp()
            )
            new["status"]["conditions"] = [condition]
            _save_if_changed(state, pod, new, SCHEDULER)
            continue
        chosen = min(
            candidates, key=lambda n: (load.get(n["metadata"]["name"], 0), n["metadata"]["name"])
        )
        load[chosen["metadata"]["name"]] = load.get(chosen["metadata"]["name"], 0) + 1
        new["spec"]["nodeName"] = chosen["metadata"]["name"]
        new["status"]["conditions"] = [_condition("PodScheduled", True, "", "", state.timestamp())]
        new["metadata"].setdefault("annotations", {})
        state.update(pod_type, new, manager=SCHEDULER)


def _save_if_changed(state: ClusterState, old: Obj, new: Obj, manager: str) -> None:
    def brief(obj: Obj) -> list[tuple[Any, ...]]:
        conditions = (obj.get("status") or {}).get("conditions") or []
        return [(c.get("type"), c.get("status"), c.get("message")) for c in conditions]

    if brief(old) != brief(new):
        state.update(state.rt("v1", "Pod"), new, manager=manager, subresource="status")


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
        new = json.loads(json.dumps(pod))
        new["status"] = _running_status(state, pod, node)
        state.update(pod_type, new, manager=KUBELET, subresource="status")


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
            _condition(t, True, "", "", now)
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


# --- workloads ---------------------------------------------------------------------------


def owner_ref(owner: Obj) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(state: ClusterState, owner: Obj, api_version: str, kind: str) -> list[Obj]:
    uid = owner["metadata"]["uid"]
    return [
        o
        for o in state.objects(api_version, kind, owner["metadata"].get("namespace", ""))
        if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
    ]


def _new_pod(owner: Obj, template: Obj, name: str, extra_labels: dict[str, str]) -> Obj:
    meta = json.loads(json.dumps(template.get("metadata") or {}))
    meta["labels"] = {**(meta.get("labels") or {}), **extra_labels}
    meta.update(
        name=name, namespace=owner["metadata"]["namespace"], ownerReferences=[owner_ref(owner)]
    )
    spec = json.loads(json.dumps(template.get("spec") or {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def reconcile_deployments(state: ClusterState) -> None:
    rs_type = state.rt("apps/v1", "ReplicaSet")
    for deploy in state.objects("apps/v1", "Deployment"):
        spec = deploy.get("spec") or {}
        template = spec.get("template") or {}
        pod_hash = short_hash(template)
        name = f"{deploy['metadata']['name']}-{pod_hash}"
        hashed = {"pod-template-hash": pod_hash}
        selector = json.loads(json.dumps(spec.get("selector") or {}))
        selector.setdefault("matchLabels", {}).update(hashed)
        tmpl = json.loads(json.dumps(template))
        tmpl.setdefault("metadata", {})["labels"] = {**_labels(tmpl), **hashed}
        replicas = int(spec.get("replicas", 1))
        state.ensure(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": name,
                    "namespace": deploy["metadata"]["namespace"],
                    "labels": {**_labels(tmpl)},
                    "ownerReferences": [owner_ref(deploy)],
                },
                "spec": {"replicas": replicas, "selector": selector, "template": tmpl},
            },
            manager=KCM,
        )
        for rs in owned_by(state, deploy, "apps/v1", "ReplicaSet"):
            if rs["metadata"]["name"] != name and rs["spec"].get("replicas", 0):
                state.update(rs_type, {**rs, "spec": {**rs["spec"], "replicas": 0}}, manager=KCM)
        _deployment_status(state, deploy, replicas)


def _deployment_status(state: ClusterState, deploy: Obj, replicas: int) -> None:
    pods = [
        p
        for rs in owned_by(state, deploy, "apps/v1", "ReplicaSet")
        for p in owned_by(state, rs, "v1", "Pod")
    ]
    ready = sum(running(p) for p in pods)
    available = ready >= replicas
    old = {c["type"]: c for c in (deploy.get("status") or {}).get("conditions") or []}
    since = state.timestamp()
    before = old.get("Available")
    if before and before.get("status") == ("True" if available else "False"):
        since = before.get("lastTransitionTime", since)
    status: Obj = {
        "observedGeneration": deploy["metadata"].get("generation", 1),
        "replicas": len(pods),
        "updatedReplicas": len(pods),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [
            _condition(
                "Available",
                available,
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
                since,
            )
        ],
    }
    if ready < len(pods):
        status["unavailableReplicas"] = len(pods) - ready
    state.set_status(state.rt("apps/v1", "Deployment"), deploy, status, KCM)


def reconcile_replicasets(state: ClusterState) -> None:
    pod_type, rs_type = state.rt("v1", "Pod"), state.rt("apps/v1", "ReplicaSet")
    for rs in state.items(rs_type):
        spec = rs.get("spec") or {}
        want = int(spec.get("replicas", 1))
        pods = owned_by(state, rs, "v1", "Pod")
        pods.sort(key=lambda p: (running(p), p["metadata"]["name"]), reverse=True)
        for pod in pods[want:]:
            state.delete(pod_type, pod["metadata"]["namespace"], pod["metadata"]["name"])
        for i in range(len(pods), want):
            suffix = short_hash([rs["metadata"]["uid"], i, state.store.revision], 5)
            pod = _new_pod(rs, spec.get("template") or {}, f"{rs['metadata']['name']}-{suffix}", {})
            state.create(pod_type, pod, manager=KCM)
        pods = owned_by(state, rs, "v1", "Pod")
        ready = sum(running(p) for p in pods)
        state.set_status(
            rs_type,
            rs,
            {
                "observedGeneration": rs["metadata"].get("generation", 1),
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
            },
            KCM,
        )


def reconcile_daemonsets(state: ClusterState) -> None:
    pod_type, ds_type = state.rt("v1", "Pod"), state.rt("apps/v1", "DaemonSet")
    nodes = state.objects("v1", "Node")
    for ds in state.items(ds_type):
        template = (ds.get("spec") or {}).get("template") or {}
        revision = short_hash(template)
        extra = list(_DS_TOLERATIONS)
        eligible = {
            n["metadata"]["name"] for n in nodes if fits(n, template.get("spec") or {}, extra)
        }
        have: dict[str, Obj] = {}
        for pod in owned_by(state, ds, "v1", "Pod"):
            node = pod.get("spec", {}).get("nodeName", "")
            stale = _labels(pod).get("controller-revision-hash") != revision
            if node not in eligible or stale or node in have:
                state.delete(pod_type, pod["metadata"]["namespace"], pod["metadata"]["name"])
            else:
                have[node] = pod
        for node in sorted(eligible - set(have)):
            suffix = short_hash([ds["metadata"]["uid"], node, revision], 5)
            pod = _new_pod(
                ds,
                template,
                f"{ds['metadata']['name']}-{suffix}",
                {"controller-revision-hash": revision},
            )
            pod["spec"]["nodeName"] = node
            pod["spec"]["tolerations"] = [*(pod["spec"].get("tolerations") or []), *extra]
            pod["status"] = {
                "phase": "Pending",
                "conditions": [_condition("PodScheduled", True, "", "", state.timestamp())],
            }
            have[node] = state.create(pod_type, pod, manager=KCM)
        ready = sum(running(p) for p in have.values())
        state.set_status(
            ds_type,
            ds,
            {
                "observedGeneration": ds["metadata"].get("generation", 1),
                "desiredNumberScheduled": len(eligible),
                "currentNumberScheduled": len(have),
                "updatedNumberScheduled": len(have),
                "numberReady": ready,
                "numberAvailable": ready,
                "numberMisscheduled": 0,
                **({"numberUnavailable": len(eligible) - ready} if ready < len(eligible) else {}),
            },
            KCM,
        )


def matches(selector: Obj | None, obj: Obj) -> bool:
    return match_label_selector(selector, _labels(obj))
