"""Fixtures for the simulated Kubernetes API: a cluster on a frozen virtual clock, an in-process
client speaking the handler's request/response types, and the cluster PKI minted once."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homelab.core.cluster import ClusterSecrets
from homelab.engine.pki import generate_cluster_secrets, mint_admin_kubeconfig
from homelab_sim.clock import VirtualClock
from homelab_sim.kube import KubeRegistry
from tests.sim.kube.support import Kube, new_cluster


@pytest.fixture(scope="session")
def cluster_secrets() -> ClusterSecrets:
    return generate_cluster_secrets("home")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(base=1_780_000_000.0, time_scale=0)


@pytest.fixture
def registry(clock: VirtualClock) -> Any:
    registry = KubeRegistry(clock)
    yield registry
    registry.close()


@pytest.fixture
def kube(registry: KubeRegistry, clock: VirtualClock, cluster_secrets: ClusterSecrets) -> Kube:
    return Kube(new_cluster(registry, cluster_secrets), clock)


@pytest.fixture
def served(registry: KubeRegistry, kube: Kube) -> str:
    registry.serve()
    return registry.endpoints()["10.0.20.10:6443"]


@pytest.fixture
def kubeconfig(served: str, cluster_secrets: ClusterSecrets) -> Iterator[Path]:
    text = mint_admin_kubeconfig(
        cluster_secrets, cluster="home", server=served, tls_server_name="10.0.20.10"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "admin.conf"
        path.write_text(text)
        path.chmod(0o600)
        yield path
