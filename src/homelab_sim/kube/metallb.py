"""The MetalLB controller of a simulated cluster (L2 mode, v0.14).

Once its Deployment runs, a Service of type LoadBalancer gets ``status.loadBalancer.ingress[0]``
from the first IPAddressPool (by creation, in ``metallb-system``) with a free address, or the
address/pool it asks for by annotation or ``spec.loadBalancerIP``; an address held by another
Service is never handed out. With no pool or no free address the Service stays pending and a
warning Event says why, as MetalLB's does. A Service no longer of type LoadBalancer loses its
address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from homelab_sim.kube.calico import deployment_running
from homelab_sim.kube.nodes import record_event
from homelab_sim.kube.state import ClusterState

Obj = dict[str, Any]
METALLB = "metallb-controller"


def pool_addresses(pool: Obj) -> list[str]:
    """Every address of an IPAddressPool, in order (ranges ``a-b`` and CIDRs)."""
    out: list[str] = []
    avoid = bool((pool.get("spec") or {}).get("avoidBuggyIPs"))
    for entry in (pool.get("spec") or {}).get("addresses") or []:
        text = str(entry).strip()
        if "-" in text:
            first, last = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
            out += [str(ipaddress.ip_address(i)) for i in range(int(first), int(last) + 1)]
        else:
            network = ipaddress.ip_network(text, strict=False)
            out += [str(a) for a in network if not (avoid and str(a).endswith((".0", ".255")))]
    return out


def _lb_ips(svc: Obj) -> list[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [str(i.get("ip")) for i in ingress if i.get("ip")]


def run_metallb(state: ClusterState) -> None:
    pool_type = state.kind("metallb.io/v1beta1", "IPAddressPool")
    if pool_type is None or deployment_running(state, "metallb-system", "controller") is None:
        return
    svc_type = state.rt("v1", "Service")
    pools = sorted(
        state.items(pool_type, "metallb-system"),
        key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]),
    )
    services = state.items(svc_type)
    used = {ip for svc in services for ip in _lb_ips(svc)}
    for svc in services:
        is_lb = (svc.get("spec") or {}).get("type") == "LoadBalancer"
        if not is_lb and _lb_ips(svc):
            state.set_status(svc_type, svc, {"loadBalancer": {}}, METALLB)
        if not is_lb or _lb_ips(svc):
            continue
        found = _allocate(svc, pools, used)
        if found is None:
            _warn(state, svc)
            continue
        pool_name, ip = found
        used.add(ip)
        annotated = {
            **svc,
            "metadata": {
                **svc["metadata"],
                "annotations": {
                    **(svc["metadata"].get("annotations") or {}),
                    "metallb.io/ip-allocated-from-pool": pool_name,
                },
            },
        }
        svc = state.update(svc_type, annotated, manager=METALLB)
        state.set_status(
            svc_type, svc, {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}, METALLB
        )


def _allocate(svc: Obj, pools: list[Obj], used: set[str]) -> tuple[str, str] | None:
    annotations = svc["metadata"].get("annotations") or {}
    wanted_pool = annotations.get("metallb.universe.tf/address-pool") or annotations.get(
        "metallb.io/address-pool"
    )
    requested = (
        (svc.get("spec") or {}).get("loadBalancerIP")
        or annotations.get("metallb.universe.tf/loadBalancerIPs")
        or annotations.get("metallb.io/loadBalancerIPs")
    )
    for pool in pools:
        name = pool["metadata"]["name"]
        if wanted_pool and name != wanted_pool:
            continue
        if (
            not wanted_pool
            and not requested
            and (pool.get("spec") or {}).get("autoAssign", True) is False
        ):
            continue
        addresses = pool_addresses(pool)
        if requested:
            if requested in addresses and requested not in used:
                return name, str(requested)
            continue
        free = next((a for a in addresses if a not in used), None)
        if free is not None:
            return name, free
    return None


def _warn(state: ClusterState, svc: Obj) -> None:
    meta = svc["metadata"]
    message = f'Failed to allocate IP for "{meta["namespace"]}/{meta["name"]}": no available IPs'
    record_event(state, svc, "AllocationFailed", message, component=METALLB)
