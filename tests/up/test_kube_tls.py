"""The API client's TLS: the lab CA only, the client certificate, tls-server-name; errors."""

from __future__ import annotations

import pytest

from homelab.core.cluster import ClusterSecrets
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.kubeconfig import credentials_of
from homelab.engine.pki import mint_admin_kubeconfig
from homelab.errors import KubeError
from tests.up.tlsserver import serve_api

ENDPOINT = "10.0.20.10"


def api_for(secrets: ClusterSecrets, url: str, server_name: str | None) -> KubeApi:
    text = mint_admin_kubeconfig(secrets, cluster="t-lab", server=url, tls_server_name=server_name)
    return KubeApi(credentials_of(text), timeout=5)


def test_tls_server_name_verifies_the_endpoint_certificate_on_a_loopback_address(
    lab_secrets: ClusterSecrets,
) -> None:
    with serve_api(lab_secrets, [ENDPOINT]) as fake:
        fake.routes["/readyz"] = (200, "ok")
        fake.routes["/version"] = (200, {"gitVersion": "v1.29.15"})
        with api_for(lab_secrets, fake.url, ENDPOINT) as api:
            assert api.readyz() == (True, "ok")
            assert api.version()["gitVersion"] == "v1.29.15"
    # the server saw our admin client certificate
    assert ("GET", "/readyz", "kubernetes-admin") in fake.seen


def test_without_the_server_name_the_loopback_address_does_not_match(
    lab_secrets: ClusterSecrets,
) -> None:
    with (
        serve_api(lab_secrets, [ENDPOINT]) as fake,
        api_for(lab_secrets, fake.url, None) as api,
        pytest.raises(KubeError, match="TLS verification failed") as caught,
    ):
        api.readyz()
    assert "127.0.0.1" in str(caught.value)
    assert fake.seen == []  # nothing was sent to a server we could not verify


def test_a_server_signed_by_another_ca_is_refused(
    lab_secrets: ClusterSecrets, other_secrets: ClusterSecrets
) -> None:
    with serve_api(other_secrets, [ENDPOINT]) as fake:
        with (
            api_for(lab_secrets, fake.url, ENDPOINT) as api,
            pytest.raises(KubeError, match="TLS verification failed"),
        ):
            api.readyz()
        assert fake.seen == []


def test_api_status_errors_become_kube_errors_with_the_server_message(
    lab_secrets: ClusterSecrets,
) -> None:
    with serve_api(lab_secrets, [ENDPOINT]) as fake:
        fake.routes["/api/v1/nodes"] = (
            403,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "code": 403,
                "reason": "Forbidden",
                "message": 'nodes is forbidden: User "x" cannot list',
            },
        )
        with api_for(lab_secrets, fake.url, ENDPOINT) as api, pytest.raises(KubeError) as caught:
            api.nodes()
    assert str(caught.value) == (
        'list nodes: the API server answered 403: nodes is forbidden: User "x" cannot list'
    )


def test_an_unreachable_server_is_one_clear_error(lab_secrets: ClusterSecrets) -> None:
    with serve_api(lab_secrets, [ENDPOINT]) as fake:
        url = fake.url
    with api_for(lab_secrets, url, ENDPOINT) as api, pytest.raises(KubeError) as caught:
        api.readyz()
    assert f"cannot reach the API server at {url}" in str(caught.value)
