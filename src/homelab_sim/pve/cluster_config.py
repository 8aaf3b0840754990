"""Corosync configuration, read side: GET /cluster/config/qdevice (pve-cluster
``API2/ClusterConfig.pm``).

pve-cluster answers the QDevice status from the local corosync-qdevice socket, and an empty
object when there is none. The simulated clusters have no QDevice (a standalone node never
does; a simulated cluster of nodes has quorum by itself), so the answer is ``{}``. The
schema's check (``Sys.Audit`` on ``/``) guards it.
"""

from __future__ import annotations

from typing import Any

from homelab_sim.pve.context import Ctx


def qdevice_status(ctx: Ctx, p: dict[str, Any]) -> Any:
    return {}


ROUTES = {("GET", "/cluster/config/qdevice"): qdevice_status}
