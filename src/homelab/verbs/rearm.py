"""Re-arming the join token before a new node of an existing cluster boots.

``kubeadm init`` gives the bootstrap token a 24 h TTL and kube-controller-manager's tokencleaner
deletes its ``kube-system/bootstrap-token-<id>`` Secret once expired, so a worker added a day
later would never join. Before apply boots any new VM (a create or a replace) of a lab whose
cluster already exists (a control plane that stays), the tool server-side applies that Secret
with an expiration 24 h after the API server's own time (its ``Date``), through the API with
the admin certificate.

When the API server cannot be reached (connection refused, timeout, TLS) or refuses the write,
apply stops BEFORE anything changes and says so (``TokenNotRearmed``): booting nodes that cannot
join would leave VMs that only fail. A brand-new lab (no control plane staying in the plan), or
one whose API address the Site says does not exist yet (``reach`` is None: the simulator never
started an API server there), needs nothing: ``kubeadm init`` creates a fresh token.
"""

from __future__ import annotations

import datetime as dt

from homelab.core.plan.actions import CreateVm, NoOp, Plan, ReplaceVm, UpdateVm
from homelab.core.render.tokens import bootstrap_token_secret
from homelab.engine.kube.client import KubeApi
from homelab.errors import KubeError
from homelab.verbs.cluster_api import admin_api, api_endpoint
from homelab.verbs.connection import Connection
from homelab.verbs.lab import LabContext
from homelab.verbs.secrets import cluster_secrets

__all__ = [
    "TOKEN_LIFETIME",
    "TokenNotRearmed",
    "new_nodes_joining",
    "rearm_join_token",
    "renew_token",
]

TOKEN_LIFETIME = dt.timedelta(hours=24)


class TokenNotRearmed(KubeError):
    """The join token could not be renewed, so no new node was booted."""


def new_nodes_joining(plan: Plan, control_planes: list[str]) -> list[str]:
    """The VMs the plan boots anew that must join an existing cluster (none for a new lab)."""
    booting = [a.vm for a in plan.actions if isinstance(a, CreateVm | ReplaceVm)]
    staying = {a.vm for a in plan.actions if isinstance(a, NoOp | UpdateVm)}
    if not booting or not staying.intersection(control_planes):
        return []
    return booting


def rearm_join_token(conn: Connection, ctx: LabContext, plan: Plan) -> list[str]:
    """Renew the bootstrap token if the plan boots nodes into an existing cluster; returns them."""
    joining = new_nodes_joining(plan, ctx.spec.control_planes)
    if not joining:
        return []
    endpoint = api_endpoint(ctx)
    refused = (
        f"not booting {', '.join(joining)}: they join with the lab's bootstrap token, which "
        "expires 24 h after it was last renewed, and it could not be renewed now because"
    )
    api = admin_api(conn, ctx)
    if api is None:
        # The Site says the address does not exist (the simulator: no API server was ever
        # started there): no cluster yet, so kubeadm init will make a fresh token.
        return []
    try:
        with api:
            renew_token(api, ctx)
    except KubeError as exc:
        raise TokenNotRearmed(
            f"{refused} the API server at {endpoint} refused or did not answer: {exc.message}; "
            "nothing was changed"
        ) from exc
    return joining


def renew_token(api: KubeApi, ctx: LabContext) -> None:
    """The lab's bootstrap token Secret, valid ``TOKEN_LIFETIME`` from the API server's time."""
    secrets = cluster_secrets(ctx.store, ctx.lab)
    api.apply(bootstrap_token_secret(secrets, expires=api.server_time() + TOKEN_LIFETIME))
