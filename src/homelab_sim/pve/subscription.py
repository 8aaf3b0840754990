"""A node's subscription: GET /nodes/{node}/subscription (pve-manager ``API2/Subscription.pm``).

A home lab runs without a subscription key, so every simulated node answers as pve-manager
does when ``/etc/subscription`` holds none: ``status: notfound`` with its message and the shop
URL; the server ID (the node's hardware address digest, 32 upper-case hex digits) only for a
caller with ``Sys.Audit`` on ``/nodes/<node>``. The endpoint itself is open to every user.
"""

from __future__ import annotations

import hashlib
from typing import Any

from homelab_sim.pve.context import Ctx

SHOP_URL = "https://www.proxmox.com/en/proxmox-virtual-environment/pricing"


def server_id(node: str) -> str:
    return hashlib.md5(f"homelab-sim:{node}".encode(), usedforsecurity=False).hexdigest().upper()


def get_subscription(ctx: Ctx, p: dict[str, Any]) -> Any:
    node = ctx.node(p["node"]).node
    info: dict[str, Any] = {
        "status": "notfound",
        "message": "There is no subscription key",
        "url": SHOP_URL,
    }
    if ctx.can(f"/nodes/{node}", "Sys.Audit"):
        info["serverid"] = server_id(node)
    return info


ROUTES = {("GET", "/nodes/{node}/subscription"): get_subscription}
