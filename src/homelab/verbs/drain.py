"""Giving apply a way to drain the lab's nodes, only when it needs one.

Apply needs the cluster when its plan drains a node (``core.plan.disruption``) or when an
interrupted run left a drain in the journal. ``attach_drainer`` then opens the admin API (the
tool mints the certificate from the lab CA) and checks it answers: a plan that must drain while
the API server does not answer stops before anything changes (``DrainRefused``), unless the user
forces it (``--force``: the VMs are then changed undrained, and the run says so). A lab with no
cluster (the Site says the API address does not exist) needs no drain.
"""

from __future__ import annotations

import contextlib

from homelab.core.plan.actions import Plan, drains
from homelab.engine.apply.drains import DRAIN_PREFIX
from homelab.engine.apply.runtime import Runtime
from homelab.engine.kube.drain import NodeDrainer
from homelab.errors import KubeError
from homelab.verbs.cluster_api import admin_api, api_endpoint
from homelab.verbs.connection import Connection
from homelab.verbs.lab import LabContext

__all__ = ["DrainRefused", "attach_drainer", "needs_drainer"]


class DrainRefused(KubeError):
    """The plan drains nodes, and the cluster's API server does not answer: nothing changed."""


def needs_drainer(rt: Runtime, plan: Plan | None) -> bool:
    """Whether apply must reach the cluster: a drain planned, or one left in the journal."""
    planned = plan is not None and any(drains(action) for action in plan.changes)
    return planned or any(key.startswith(DRAIN_PREFIX) for key in rt.journal.all())


def attach_drainer(
    conn: Connection, ctx: LabContext, rt: Runtime, stack: contextlib.ExitStack
) -> list[str]:
    """Give ``rt`` the lab's NodeDrainer (closed with ``stack``); returns warnings."""
    if rt.nodes is not None:
        return []
    api = admin_api(conn, ctx)
    if api is None:
        return []
    stack.enter_context(api)
    force = rt.steward.flags.force_drain
    try:
        ready, said = api.readyz()
        if not ready:
            raise KubeError(f"/readyz answered: {said or 'not ready'}")
    except KubeError as exc:
        text = (
            f"the plan drains nodes, and the API server at {api_endpoint(ctx)} does not "
            f"answer: {exc.message}"
        )
        if not force:
            raise DrainRefused(
                f"{text}; nothing was changed",
                hint="bring the control plane back first, or pass --force to change the VMs "
                "without draining them",
            ) from exc
        return [f"{text}; --force: the VMs are changed without draining"]
    rt.nodes = NodeDrainer(api, conn.clock, timeout=rt.limits.drain_timeout, force=force)
    return []
