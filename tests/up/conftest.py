"""Fixtures of the up tests: one lab PKI per session (RSA key generation is the slow part)."""

from __future__ import annotations

import pytest

from homelab.core.cluster import ClusterSecrets
from homelab.engine.pki import generate_cluster_secrets


@pytest.fixture(scope="session")
def lab_secrets() -> ClusterSecrets:
    return generate_cluster_secrets("t-lab")


@pytest.fixture(scope="session")
def other_secrets() -> ClusterSecrets:
    return generate_cluster_secrets("t-lab")
