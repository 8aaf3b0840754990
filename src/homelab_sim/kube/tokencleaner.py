"""kube-controller-manager's tokencleaner, and kubeadm's late admin binding, on the virtual clock.

tokencleaner (``pkg/controller/bootstrap/tokencleaner.go``): every Secret of type
``bootstrap.kubernetes.io/token`` in ``kube-system`` whose ``expiration`` (RFC 3339) has passed
is deleted; a join with that token then finds no JWS signature for its id in ``cluster-info``.

kubeadm (>= 1.29) gives the admin certificate's group ``kubeadm:cluster-admins`` its rights by
creating the ClusterRoleBinding ``kubeadm:cluster-admins`` a moment after the API server
answers ``/readyz`` (``EnsureAdminClusterRoleBinding``): until then that group may do nothing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from homelab_sim.kube.state import ClusterState

Obj = dict[str, Any]
TOKEN_TYPE = "bootstrap.kubernetes.io/token"  # noqa: S105  (a Secret type, not a password)
ADMINS_BINDING_DELAY = 4.0  # virtual seconds between /readyz answering and the binding


def token_expiry(secret: Obj) -> float | None:
    """The ``expiration`` of a bootstrap-token Secret as epoch seconds (None: never, or unreadable,
    which the cleaner leaves alone as the real one does)."""
    raw = (secret.get("stringData") or {}).get("expiration")
    if raw is None:
        encoded = (secret.get("data") or {}).get("expiration")
        if encoded is None:
            return None
        try:
            raw = base64.b64decode(str(encoded)).decode()
        except (ValueError, binascii.Error):
            return None
    try:
        stamp = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None
    return stamp.timestamp()


def clean_tokens(state: ClusterState, now: float) -> None:
    """Delete the expired bootstrap tokens."""
    rt = state.rt("v1", "Secret")
    for secret in state.items(rt, "kube-system"):
        if secret.get("type") != TOKEN_TYPE:
            continue
        expires = token_expiry(secret)
        if expires is not None and now >= expires:
            state.delete(rt, "kube-system", secret["metadata"]["name"])


def next_expiry(state: ClusterState, now: float) -> float:
    """When the next bootstrap token expires (``inf`` when none will)."""
    times = [
        t
        for s in state.items(state.rt("v1", "Secret"), "kube-system")
        if s.get("type") == TOKEN_TYPE
        for t in (token_expiry(s),)
        if t is not None and t > now
    ]
    return min(times, default=float("inf"))
