"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...`` and prints the
cells it gets back, so the columns (``kubectl get nodes``: NAME STATUS ROLES AGE VERSION, wide
adds INTERNAL-IP...) are the API server's. The common kinds have their columns here; a CRD's
``additionalPrinterColumns`` (simple ``.a.b`` JSONPaths) are honoured; anything else is NAME
and AGE. Ages are measured on the virtual clock, as the server's own clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from homelab_sim.kube.resources import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj, float], Any]]  # name, type, priority, cell
NONE = "<none>"


def human_duration(seconds: float) -> str:
    """Go's ``duration.HumanDuration`` (k8s.io/apimachinery), as kubectl shows ages."""
    if seconds < -1:
        return "<invalid>"
    s = max(int(seconds), 0)
    minutes, hours = s // 60, s // 3600
    if s < 120:
        return f"{s}s"
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // (24 * 365), (hours // 24) % 365
    if hours < 24 * 365 * 8:
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{years}y"


def _epoch(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


def _age(obj: Obj, now: float) -> str:
    created = obj.get("metadata", {}).get("creationTimestamp")
    return human_duration(now - _epoch(created)) if created else "<unknown>"


def _name(obj: Obj, now: float) -> str:
    return str(obj["metadata"]["name"])


_STEP = re.compile(
    r"\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_]+)==['\"]([^'\"]*)['\"]\)\]"
)


def _get(obj: Any, path: str) -> Any:
    """A JSONPath of printer columns: ``.a.b``, ``[0]``, ``[?(@.type=='Ready')]``."""
    path = path if path.startswith((".", "[")) else "." + path
    position = 0
    while position < len(path):
        step = _STEP.match(path, position)
        if step is None:
            return None
        key, index, field, value = step.groups()
        if key is not None:
            obj = obj.get(key) if isinstance(obj, dict) else None
        elif index is not None:
            obj = obj[int(index)] if isinstance(obj, list) and int(index) < len(obj) else None
        else:
            found = [o for o in obj or [] if isinstance(o, dict) and str(o.get(field)) == value]
            obj = found[0] if found else None
        position = step.end()
    return obj


def _node_status(node: Obj, now: float) -> str:
    conditions = node.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    text = "Ready" if ready else "NotReady" if conditions else "Unknown"
    return text + (",SchedulingDisabled" if node.get("spec", {}).get("unschedulable") else "")


def _node_roles(node: Obj, now: float) -> str:
    prefix = "node-role.kubernetes.io/"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(k[len(prefix) :] for k in labels if k.startswith(prefix))
    return ",".join(roles) or NONE


def _node_ip(node: Obj, now: float) -> str:
    for address in node.get("status", {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return NONE


def _pod_ready(pod: Obj, now: float) -> str:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    total = len(pod.get("spec", {}).get("containers") or [])
    return f"{sum(bool(s.get('ready')) for s in statuses)}/{total}"


def _service_external(svc: Obj, now: float) -> str:
    ingress = (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
    ips = [str(i.get("ip") or i.get("hostname")) for i in ingress]
    if ips:
        return ",".join(ips)
    return "<pending>" if svc.get("spec", {}).get("type") == "LoadBalancer" else NONE


def _service_ports(svc: Obj, now: float) -> str:
    ports = []
    for port in svc.get("spec", {}).get("ports") or []:
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        ports.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
    return ",".join(ports) or NONE


def _status(path: str, default: Any = 0) -> Callable[[Obj, float], Any]:
    return lambda obj, now: _get(obj, path) if _get(obj, path) is not None else default


def _or_none(path: str) -> Callable[[Obj, float], Any]:
    return lambda obj, now: _get(obj, path) or NONE


def _ratio(ready: str, want: str) -> Callable[[Obj, float], str]:
    return lambda obj, now: f"{_get(obj, ready) or 0}/{_get(obj, want) or 0}"


def _selector(obj: Obj, now: float) -> str:
    found = _get(obj, "spec.nodeSelector") or _get(obj, "spec.template.spec.nodeSelector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(found.items())) or NONE


_AGE: Column = ("Age", "string", 0, _age)
_NAME: Column = ("Name", "string", 0, _name)
COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "Node"): [
        _NAME,
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        _AGE,
        ("Version", "string", 0, _or_none("status.nodeInfo.kubeletVersion")),
        ("Internal-IP", "string", 1, _node_ip),
        ("External-IP", "string", 1, lambda o, n: NONE),
        ("OS-Image", "string", 1, _or_none("status.nodeInfo.osImage")),
        ("Kernel-Version", "string", 1, _or_none("status.nodeInfo.kernelVersion")),
        ("Container-Runtime", "string", 1, _or_none("status.nodeInfo.containerRuntimeVersion")),
    ],
    ("", "Pod"): [
        _NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _or_none("status.phase")),
        ("Restarts", "string", 0, lambda o, n: "0"),
        _AGE,
        ("IP", "string", 1, _or_none("status.podIP")),
        ("Node", "string", 1, _or_none("spec.nodeName")),
        ("Nominated Node", "string", 1, lambda o, n: NONE),
        ("Readiness Gates", "string", 1, lambda o, n: NONE),
    ],
    ("", "Namespace"): [_NAME, ("Status", "string", 0, _or_none("status.phase")), _AGE],
    ("", "Service"): [
        _NAME,
        ("Type", "string", 0, _or_none("spec.type")),
        ("Cluster-IP", "string", 0, _or_none("spec.clusterIP")),
        ("External-IP", "string", 0, _service_external),
        ("Port(s)", "string", 0, _service_ports),
        _AGE,
        (
            "Selector",
            "string",
            1,
            lambda o, n: (
                ",".join(f"{k}={v}" for k, v in sorted((_get(o, "spec.selector") or {}).items()))
                or NONE
            ),
        ),
    ],
    ("apps", "Deployment"): [
        _NAME,
        ("Ready", "string", 0, _ratio("status.readyReplicas", "spec.replicas")),
        ("Up-to-date", "integer", 0, _status("status.updatedReplicas")),
        ("Available", "integer", 0, _status("status.availableReplicas")),
        _AGE,
    ],
    ("apps", "ReplicaSet"): [
        _NAME,
        ("Desired", "integer", 0, _status("spec.replicas")),
        ("Current", "integer", 0, _status("status.replicas")),
        ("Ready", "integer", 0, _status("status.readyReplicas")),
        _AGE,
    ],
    ("apps", "DaemonSet"): [
        _NAME,
        ("Desired", "integer", 0, _status("status.desiredNumberScheduled")),
        ("Current", "integer", 0, _status("status.currentNumberScheduled")),
        ("Ready", "integer", 0, _status("status.numberReady")),
        ("Up-to-date", "integer", 0, _status("status.updatedNumberScheduled")),
        ("Available", "integer", 0, _status("status.numberAvailable")),
        ("Node Selector", "string", 0, _selector),
        _AGE,
    ],
    ("apiextensions.k8s.io", "CustomResourceDefinition"): [
        _NAME,
        ("Created At", "date", 0, lambda o, n: o["metadata"].get("creationTimestamp")),
    ],
}


def _crd_columns(crd: Obj | None, version: str) -> list[Column]:
    if crd is None:
        return [_NAME, _AGE]
    for served in crd.get("spec", {}).get("versions") or []:
        if served.get("name") == version and served.get("additionalPrinterColumns"):
            columns: list[Column] = [_NAME]
            for col in served["additionalPrinterColumns"]:
                path = str(col.get("jsonPath", ""))
                cell = _age if path == ".metadata.creationTimestamp" else _or_none(path)
                columns.append(
                    (col["name"], col.get("type", "string"), col.get("priority", 0), cell)
                )
            return columns
    return [_NAME, _AGE]


def to_table(
    rt: ResourceType,
    items: list[Obj],
    *,
    now: float,
    crd: Obj | None,
    include: str,
    resource_version: str,
) -> Obj:
    """The Table of ``items`` (one object or a list) with ``include`` = Object/Metadata/None."""
    columns = COLUMNS.get((rt.group, rt.kind)) or _crd_columns(crd, rt.version)
    rows = []
    for obj in items:
        row: Obj = {"cells": [cell(obj, now) for _, _, _, cell in columns]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata", {}),
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": priority,
            }
            for name, kind, priority, _ in columns
        ],
        "rows": rows,
    }


def wants_table(accept: str) -> bool:
    return "as=Table" in accept and "g=meta.k8s.io" in accept
