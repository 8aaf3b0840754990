"""The simulated control plane's clocks that bite real labs: kube-controller-manager's
tokencleaner deletes expired bootstrap tokens, and kubeadm's admins' group has no rights until
kubeadm binds it, a moment after /readyz answers."""

from __future__ import annotations

import datetime as dt

from homelab.core.cluster import ClusterSecrets
from homelab_sim.kube import KubeRegistry
from homelab_sim.kube.tokencleaner import ADMINS_BINDING_DELAY
from tests.sim.kube.support import Kube, new_cluster

SECRETS = "/api/v1/namespaces/kube-system/secrets"


def token(name: str, expires: float) -> dict[str, object]:
    stamp = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": {
            "token-id": name[-6:],
            "token-secret": "0123456789abcdef",
            "expiration": stamp,
        },
    }


def test_tokencleaner_deletes_an_expired_token_and_keeps_a_fresh_one(kube: Kube) -> None:
    now = kube.clock.now()
    kube.apply(token("bootstrap-token-abcdef", now + 24 * 3600))
    kube.apply(token("bootstrap-token-ghijkl", now + 48 * 3600))
    kube.clock.advance(24 * 3600 + 1)
    names = kube.names(SECRETS)
    assert "bootstrap-token-abcdef" not in names
    assert "bootstrap-token-ghijkl" in names
    # re-armed with a fresh expiration, the token is back and stays
    kube.apply(token("bootstrap-token-abcdef", kube.clock.now() + 24 * 3600))
    kube.clock.advance(3600)
    assert "bootstrap-token-abcdef" in kube.names(SECRETS)


def test_admins_group_is_forbidden_until_kubeadm_binds_it(
    registry: KubeRegistry, cluster_secrets: ClusterSecrets
) -> None:
    cluster = new_cluster(registry, cluster_secrets, admins_bound=False)
    kube = Kube(cluster, cluster.clock)
    ready = kube.call("GET", "/readyz")
    assert ready.status == 200
    early = kube.call("GET", "/api/v1/namespaces/kube-system/configmaps")
    assert early.status == 403
    assert early.json()["reason"] == "Forbidden"
    assert 'User "kubernetes-admin" cannot list resource "configmaps"' in early.json()["message"]
    kube.clock.advance(ADMINS_BINDING_DELAY)
    assert kube.call("GET", "/api/v1/namespaces/kube-system/configmaps").status == 200
    bindings = kube.names("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
    assert "kubeadm:cluster-admins" in bindings
