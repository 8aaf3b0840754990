"""The lab's Kubernetes API with the admin certificate the tool mints from the lab CA.

``admin_api(conn, ctx)`` is None when the Site says the API address does not exist (the
simulator never started an API server there: the lab has no cluster yet); otherwise a KubeApi
on the address the Site gives (a real lab: the control-plane endpoint itself). It does not
connect: the first request does, and says so if it cannot.
"""

from __future__ import annotations

from homelab.core.render.kubeadm import API_PORT
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.kubeconfig import credentials_of
from homelab.engine.pki import mint_admin_kubeconfig
from homelab.verbs.connection import Connection
from homelab.verbs.lab import LabContext
from homelab.verbs.secrets import cluster_secrets

__all__ = ["admin_api", "api_endpoint"]


def api_endpoint(ctx: LabContext) -> str:
    """``host:port`` of the lab's API server, for messages."""
    return f"{ctx.spec.api_endpoint()}:{API_PORT}"


def admin_api(conn: Connection, ctx: LabContext, *, timeout: float = 10.0) -> KubeApi | None:
    """An admin client of the lab's cluster, or None when there is no cluster to reach."""
    reach = conn.site.reach(str(ctx.spec.api_endpoint()), API_PORT)
    if reach is None:
        return None
    secrets = cluster_secrets(ctx.store, ctx.lab)
    text = mint_admin_kubeconfig(
        secrets, cluster=ctx.lab, server=reach.url, tls_server_name=reach.server_name
    )
    return KubeApi(credentials_of(text), timeout=timeout)
