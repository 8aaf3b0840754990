"""`homelab guest exec|cat`: a command or a file in one of the lab's VMs, through the guest
agent and the API token only (``homelab.engine.guest``)."""

from __future__ import annotations

from homelab.core.ownership import lab_vms
from homelab.engine.guest.channel import ExecResult
from homelab.errors import LabError
from homelab.verbs.connection import Connection
from homelab.verbs.guest_log import lab_channel
from homelab.verbs.lab import LabContext

__all__ = ["guest_cat", "guest_exec"]


def _locate(conn: Connection, ctx: LabContext, vm: str) -> tuple[str, int]:
    """(node, vmid) of the lab's VM ``vm``; LabError naming the lab's VMs otherwise."""
    if vm not in ctx.spec.vms:
        raise LabError(
            f"lab {ctx.lab} has no VM {vm!r}", hint=f"its VMs: {', '.join(ctx.spec.vms)}"
        )
    found = [g for g in lab_vms(ctx.lab, conn.client.cluster_vms()) if g.name == vm]
    if not found:
        raise LabError(f"VM {vm} of lab {ctx.lab} does not exist on Proxmox", hint="apply first")
    return found[0].node, found[0].vmid


def guest_exec(
    conn: Connection, ctx: LabContext, vm: str, argv: list[str], *, timeout: float
) -> ExecResult:
    node, vmid = _locate(conn, ctx, vm)
    return lab_channel(conn, ctx).run(node, vmid, argv, timeout=timeout)


def guest_cat(conn: Connection, ctx: LabContext, vm: str, path: str) -> bytes:
    node, vmid = _locate(conn, ctx, vm)
    return lab_channel(conn, ctx).read_file(node, vmid, path)
