"""Admission webhooks: the API server calls them before it stores a matching write.

A Validating- or MutatingWebhookConfiguration whose rule matches the write (group, version,
resource, operation) is called through its Service: with no ready endpoint behind that Service
(MetalLB's controller not yet running, say) a ``failurePolicy: Fail`` webhook fails the write
with the API server's 500 "failed calling webhook ... no endpoints available for service", the
error users of ``kubectl apply`` right after installing MetalLB know. When it is reachable the
MetalLB webhooks check what the real ones check for address pools: each entry is a CIDR or an
``a-b`` range and no two pools overlap (403, "admission webhook ... denied the request").
"""

from __future__ import annotations

import ipaddress
from typing import Any

from homelab_sim.kube.resources import ResourceType
from homelab_sim.kube.state import ClusterState
from homelab_sim.kube.status import ApiError

Obj = dict[str, Any]
_API = "admissionregistration.k8s.io/v1"


def _matches(hook: Obj, rt: ResourceType, operation: str) -> bool:
    def has(values: list[str] | None, value: str) -> bool:
        return bool(values) and ("*" in values or value in values)  # type: ignore[operator]

    return any(
        has(rule.get("apiGroups"), rt.group)
        and has(rule.get("apiVersions"), rt.version)
        and has(rule.get("resources"), rt.name)
        and has(rule.get("operations"), operation)
        for rule in hook.get("rules") or []
    )


def _unreachable(state: ClusterState, hook: Obj) -> str | None:
    service = (hook.get("clientConfig") or {}).get("service")
    if not service:
        return None  # a URL outside the cluster: assumed to answer
    name, namespace = service.get("name", ""), service.get("namespace", "default")
    url = (
        f'Post "https://{name}.{namespace}.svc:{service.get("port", 443)}'
        f'{service.get("path", "")}?timeout=10s"'
    )
    if state.get(state.rt("v1", "Service"), namespace, name) is None:
        return f'failed to call webhook: {url}: service "{name}" not found'
    endpoints = state.get(state.rt("v1", "Endpoints"), namespace, name) or {}
    if not any(s.get("addresses") for s in endpoints.get("subsets") or []):
        return f'failed to call webhook: {url}: no endpoints available for service "{name}"'
    return None


def call_webhooks(state: ClusterState, rt: ResourceType, operation: str, obj: Obj | None) -> None:
    """Run the webhooks matching this write; raise the API server's error if one fails."""
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for config in state.objects(_API, kind):
            for hook in config.get("webhooks") or []:
                if _matches(hook, rt, operation):
                    _call(state, rt, hook, obj)


def _call(state: ClusterState, rt: ResourceType, hook: Obj, obj: Obj | None) -> None:
    name = hook["name"]
    failure = _unreachable(state, hook)
    if failure is not None:
        if hook.get("failurePolicy", "Fail") != "Fail":
            return
        cause = f'failed calling webhook "{name}": {failure}'
        message = f"Internal error occurred: {cause}"
        raise ApiError(500, "InternalError", message, {"causes": [{"message": cause}]})
    denial = _validate(state, rt, obj) if obj is not None else None
    if denial is not None:
        message = f'admission webhook "{name}" denied the request: {denial}'
        raise ApiError(403, "Forbidden", message)


def _networks(pool: Obj) -> list[tuple[str, int, int]]:
    out = []
    for entry in (pool.get("spec") or {}).get("addresses") or []:
        text = str(entry).strip()
        if "-" in text:
            first, last = (int(ipaddress.ip_address(p.strip())) for p in text.split("-", 1))
        else:
            network = ipaddress.ip_network(text, strict=False)
            first, last = int(network.network_address), int(network.broadcast_address)
        if last < first:
            raise ValueError(text)
        out.append((text, first, last))
    return out


def _validate(state: ClusterState, rt: ResourceType, obj: Obj) -> str | None:
    if (rt.group, rt.kind) != ("metallb.io", "IPAddressPool"):
        return None
    try:
        mine = _networks(obj)
    except ValueError as exc:
        return f"invalid CIDR or range: {exc}"
    name = obj.get("metadata", {}).get("name")
    for other in state.objects(rt.group_version, rt.kind):
        if other["metadata"]["name"] == name:
            continue
        for text, first, last in mine:
            for other_text, o_first, o_last in _networks(other):
                if first <= o_last and o_first <= last:
                    return (
                        f"CIDR {text!r} in pool {name!r} overlaps with already defined CIDR "
                        f"{other_text!r}"
                    )
    return None
