"""The workload controllers of a simulated cluster: Deployment -> ReplicaSet -> Pods, and
DaemonSet -> one pod per eligible node, with the status fields the real controllers write.

A Deployment's ReplicaSet is named by the hash of its pod template, so a template change makes
a new ReplicaSet and scales the old one to zero; a DaemonSet replaces pods whose
``controller-revision-hash`` is stale and adds the tolerations the DaemonSet controller adds.
"""

from __future__ import annotations

import json
from typing import Any

from homelab_sim.kube.nodes import (
    DS_TOLERATIONS,
    KCM,
    fits,
    labels_of,
    make_condition,
    running,
    short_hash,
)
from homelab_sim.kube.selectors import match_label_selector
from homelab_sim.kube.state import ClusterState

Obj = dict[str, Any]


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
        tmpl.setdefault("metadata", {})["labels"] = {**labels_of(tmpl), **hashed}
        replicas = int(spec.get("replicas", 1))
        state.ensure(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": name,
                    "namespace": deploy["metadata"]["namespace"],
                    "labels": {**labels_of(tmpl)},
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
            make_condition(
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
        extra = list(DS_TOLERATIONS)
        eligible = {
            n["metadata"]["name"] for n in nodes if fits(n, template.get("spec") or {}, extra)
        }
        have: dict[str, Obj] = {}
        for pod in owned_by(state, ds, "v1", "Pod"):
            node = pod.get("spec", {}).get("nodeName", "")
            stale = labels_of(pod).get("controller-revision-hash") != revision
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
                "conditions": [make_condition("PodScheduled", True, "", "", state.timestamp())],
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
    return match_label_selector(selector, labels_of(obj))
