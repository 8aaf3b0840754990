"""Storage replication, read side: GET /nodes/{node}/replication[/{id}[/status]]
(pve-manager ``API2/Replication.pm``).

Replication needs ZFS volumes on two nodes; the simulated storages are LVM-thin and
directories, so no replication job can exist (``POST /cluster/replication`` is not served)
and every node's list is empty. The job read refuses an unknown id with pve-manager's text;
with no job there is no guest whose ``VM.Audit`` the reads would check.
"""

from __future__ import annotations

from typing import Any

from homelab_sim.pve.context import Ctx
from homelab_sim.pve.errors import fail


def job_list(ctx: Ctx, p: dict[str, Any]) -> Any:
    ctx.node(p["node"])
    return []


def _missing(ctx: Ctx, p: dict[str, Any]) -> Any:
    ctx.node(p["node"])
    raise fail(f"no such replication job '{p['id']}'")


def job_index(ctx: Ctx, p: dict[str, Any]) -> Any:
    """The directory index answers for any id (pve-manager reads no job for it)."""
    return [{"name": "schedule_now"}, {"name": "log"}, {"name": "status"}]


ROUTES = {
    ("GET", "/nodes/{node}/replication"): job_list,
    ("GET", "/nodes/{node}/replication/{id}"): job_index,
    ("GET", "/nodes/{node}/replication/{id}/status"): _missing,
    ("GET", "/nodes/{node}/replication/{id}/log"): _missing,
}
