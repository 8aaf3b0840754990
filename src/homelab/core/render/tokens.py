"""The bootstrap token as the Secret kubeadm keeps it in: ``kube-system/bootstrap-token-<id>``.

``kubeadm init`` creates the token with a 24 h TTL. A node added later (scale-out, replacing a
VM) has the same token in its user-data, so before booting it the tool re-arms the token by
applying this Secret with a fresh expiration, through the API with the admin kubeconfig. The
result holds the token secret in clear: send it to the API server, never print it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from homelab.core.cluster import ClusterSecrets
from homelab.core.render.kubeadm import TOKEN_GROUP


def bootstrap_token_secret(secrets: ClusterSecrets, *, expires: dt.datetime) -> dict[str, Any]:
    """The Secret that makes the lab's bootstrap token valid until ``expires`` (aware datetime)."""
    if expires.tzinfo is None:
        raise ValueError("expires must be timezone-aware")
    stamp = expires.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"bootstrap-token-{secrets.bootstrap_token_id}",
            "namespace": "kube-system",
        },
        "type": "bootstrap.kubernetes.io/token",
        "stringData": {
            "description": f"homelab: joins the nodes of lab {secrets.lab}",
            "token-id": secrets.bootstrap_token_id,
            "token-secret": secrets.bootstrap_token_secret.reveal(),
            "expiration": stamp,
            "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true",
            "auth-extra-groups": TOKEN_GROUP,
        },
    }
