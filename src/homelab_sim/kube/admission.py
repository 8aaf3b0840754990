"""Validation and defaulting on every write, as the API server's registry strategies do.

``validate`` returns the 422 causes for what the simulator checks (object names, a Pod without
containers or images, a bad Service type, immutable Service cluster IPs); ``admit`` fills the
defaults clients expect to read back (Namespace phase and finalizer, Pod phase Pending, Service
cluster IP / node ports from their ranges, replicas 1, CRD Established/NamesAccepted);
``after_write`` serves the kinds of an Established CRD.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any

from homelab_sim.kube.flux_schema import helmrelease_causes
from homelab_sim.kube.resources import ResourceType
from homelab_sim.kube.status import invalid
from homelab_sim.kube.store import clone

if TYPE_CHECKING:
    from homelab_sim.kube.state import ClusterState

Obj = dict[str, Any]
Cause = tuple[str, str, str]
NODE_PORTS = range(30000, 32768)
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_TEXT = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    f"used for validation is '{_SUBDOMAIN}')"
)
_LABEL_TEXT = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    f"used for validation is '{_LABEL}')"
)
_LABEL_NAMED = {"Namespace", "Service"}


def _name_causes(rt: ResourceType, name: str) -> list[Cause]:
    if not name:
        return [
            (
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required",
            )
        ]
    if rt.kind in _LABEL_NAMED and rt.group == "":
        if len(name) > 63 or not re.fullmatch(_LABEL, name):
            return [
                ("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {_LABEL_TEXT}')
            ]
    elif not rt.kind.endswith(("Role", "RoleBinding")) and (
        len(name) > 253 or not re.fullmatch(_SUBDOMAIN, name)
    ):
        return [
            (
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{name}": {_SUBDOMAIN_TEXT}',
            )
        ]
    return []


def _pod_spec_causes(spec: Any, prefix: str) -> list[Cause]:
    containers = (spec or {}).get("containers") if isinstance(spec, dict) else None
    if not containers:
        return [(f"{prefix}.containers", "FieldValueRequired", "Required value")]
    causes = []
    for i, container in enumerate(containers):
        if not container.get("name"):
            causes.append(
                (f"{prefix}.containers[{i}].name", "FieldValueRequired", "Required value")
            )
        if not container.get("image"):
            causes.append(
                (f"{prefix}.containers[{i}].image", "FieldValueRequired", "Required value")
            )
    return causes


def validate(rt: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    causes = _name_causes(rt, str(obj.get("metadata", {}).get("name", "")))
    spec = obj.get("spec") or {}
    if rt.group == "" and rt.kind == "Pod":
        causes += _pod_spec_causes(spec, "spec")
    if rt.group == "apps" and rt.kind in ("Deployment", "DaemonSet", "ReplicaSet", "StatefulSet"):
        causes += _pod_spec_causes((spec.get("template") or {}).get("spec"), "spec.template.spec")
        if not spec.get("selector"):
            causes.append(("spec.selector", "FieldValueRequired", "Required value"))
    if rt.group == "" and rt.kind == "Service":
        causes += _service_causes(spec, old)
    if rt.group == "helm.toolkit.fluxcd.io" and rt.kind == "HelmRelease":
        causes += helmrelease_causes(spec)
    return causes


def _service_causes(spec: Obj, old: Obj | None) -> list[Cause]:
    kind = spec.get("type", "ClusterIP")
    if kind not in SERVICE_TYPES:
        supported = ", ".join(f'"{t}"' for t in SERVICE_TYPES)
        message = f'Unsupported value: "{kind}": supported values: {supported}'
        return [("spec.type", "FieldValueNotSupported", message)]
    before = (old or {}).get("spec", {}).get("clusterIP")
    now = spec.get("clusterIP")
    if old is not None and now and before and now != before:
        return [
            (
                "spec.clusterIPs[0]",
                "FieldValueInvalid",
                f'Invalid value: []string{{"{now}"}}: may not change once set',
            )
        ]
    return []


def admit(state: ClusterState, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    """Validate (raising 422) and fill defaults, in place."""
    causes = validate(rt, obj, old)
    if causes:
        raise invalid(rt.kind, str(obj.get("metadata", {}).get("name", "")), causes, rt.group)
    if old is not None and rt.has_status and "status" not in obj and "status" in old:
        obj["status"] = clone(old["status"])
    if rt.group == "":
        _admit_core(state, rt, obj, old)
    elif rt.group == "apps" and rt.kind != "DaemonSet":
        obj.setdefault("spec", {}).setdefault("replicas", 1)
    elif rt.kind == "CustomResourceDefinition":
        _establish(obj)


def _admit_core(state: ClusterState, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    meta = obj["metadata"]
    if rt.kind == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif rt.kind == "Pod":
        obj.setdefault("status", {}).setdefault("phase", "Pending")
        spec = obj["spec"]
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
    elif rt.kind == "Service":
        _admit_service(state, obj, old)


def _admit_service(state: ClusterState, obj: Obj, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    before = (old or {}).get("spec", {})
    if spec["type"] != "ExternalName":
        ip = spec.get("clusterIP") or before.get("clusterIP") or _free_cluster_ip(state)
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    old_ports = {p.get("port"): p for p in before.get("ports") or []}
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
        if spec["type"] in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
            port["nodePort"] = old_ports.get(port.get("port"), {}).get("nodePort") or (
                _free_node_port(state)
            )
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _services(state: ClusterState) -> list[Obj]:
    return state.objects("v1", "Service")


def _free_cluster_ip(state: ClusterState) -> str:
    network = ipaddress.ip_network(state.config.service_cidr, strict=False)
    used = {s.get("spec", {}).get("clusterIP") for s in _services(state)}
    used |= {state.config.api_service_ip, state.config.dns_service_ip}
    for offset in range(100, network.num_addresses - 1):
        candidate = str(network.network_address + offset)
        if candidate not in used:
            return candidate
    raise invalid(
        "Service",
        "",
        [
            (
                "spec.clusterIPs",
                "FieldValueInvalid",
                "Internal error: failed to allocate a serviceIP: range is full",
            )
        ],
    )


def _free_node_port(state: ClusterState) -> int:
    used = {
        p.get("nodePort") for s in _services(state) for p in s.get("spec", {}).get("ports") or []
    }
    for port in NODE_PORTS:
        if port not in used:
            return port
    raise invalid(
        "Service",
        "",
        [("spec.ports[0].nodePort", "FieldValueInvalid", "Internal error: range is full")],
    )


def _establish(crd: Obj) -> None:
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    stored = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    conditions = [
        {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
        },
        {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
        },
    ]
    crd["status"] = {"acceptedNames": names, "conditions": conditions, "storedVersions": stored}


def after_write(state: ClusterState, rt: ResourceType, stored: Obj) -> None:
    if rt.kind == "CustomResourceDefinition":
        state.catalog.add_crd(stored)
