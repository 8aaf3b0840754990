"""The lab's guest channel with its commands kept in the lab's history
(``homelab.engine.guest.record``), and ``homelab guest log`` reading them back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homelab.core.cluster import ClusterSecrets
from homelab.core.ownership import lab_vms
from homelab.core.secret import Secret
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.record import (
    EXEC_EVENT,
    WRITE_EVENT,
    CommandLog,
    GuestRecord,
    guest_records,
)
from homelab.verbs.connection import Connection
from homelab.verbs.lab import LabContext
from homelab.verbs.secrets import SECRET_NAME

__all__ = ["command_log", "guest_history", "lab_channel"]

KEEP = 5000  # guest events kept (the newest: a year of weekly patch runs on a 20-node lab)
SCAN = KEEP


def command_log(conn: Connection, ctx: LabContext) -> CommandLog:
    """A log of ``ctx``'s lab: its secrets masked, its VMs named from Proxmox's inventory."""

    def names() -> Mapping[int, str]:
        return {vm.vmid: vm.name or "" for vm in lab_vms(ctx.lab, conn.client.cluster_vms())}

    history = ctx.store.history(ctx.lab)
    history.prune((EXEC_EVENT, WRITE_EVENT), KEEP)
    return CommandLog(history, _lab_secrets(ctx), names)


def lab_channel(conn: Connection, ctx: LabContext, **options: Any) -> GuestChannel:
    """A guest channel whose commands are kept in the lab's history."""
    return GuestChannel(conn.client, conn.clock, log=command_log(conn, ctx), **options)


def _lab_secrets(ctx: LabContext) -> list[Secret]:
    """The lab's cluster secrets if it has them (never made here: a log must not create
    a PKI)."""
    raw = ctx.store.secrets(ctx.lab).get(SECRET_NAME)
    if raw is None:
        return []
    pki = ClusterSecrets.from_json(raw)
    held = [value for value in vars(pki).values() if isinstance(value, Secret)]
    return [*held, pki.bootstrap_token()]


def guest_history(ctx: LabContext, *, vm: str | None = None, last: int = 50) -> list[GuestRecord]:
    """The newest ``last`` commands and writes homelab did in the lab's guests, oldest first."""
    events = ctx.store.history(ctx.lab).recent(SCAN, events=(EXEC_EVENT, WRITE_EVENT))
    return guest_records(events, vm=vm, last=last)
