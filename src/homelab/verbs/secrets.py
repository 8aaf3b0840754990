"""The lab's cluster secrets: loaded from the state store, or made once and kept there."""

from __future__ import annotations

from homelab.core.cluster import ClusterSecrets
from homelab.engine.pki import generate_cluster_secrets
from homelab.engine.state import StateStore
from homelab.errors import StateError

SECRET_NAME = "cluster-pki"  # noqa: S105  (a name, not a secret)


def cluster_secrets(store: StateStore, lab: str) -> ClusterSecrets:
    """The PKI and bootstrap token of ``lab``, generated on first use and stored encrypted."""
    box = store.secrets(lab)
    data = box.get_or_create(SECRET_NAME, lambda: generate_cluster_secrets(lab).to_json())
    secrets = ClusterSecrets.from_json(data)
    if secrets.lab != lab:
        raise StateError(
            f"the state store holds the PKI of lab {secrets.lab!r} under {lab!r}",
            hint="is the spec next to the right .homelab/ directory?",
        )
    return secrets
