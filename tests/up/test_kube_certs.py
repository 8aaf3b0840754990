"""Reading the API server's certificate: verified against the lab CA, never blindly."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from homelab.core.cluster import ClusterSecrets
from homelab.engine.kube.certs import not_after, server_certificate
from homelab.errors import KubeError
from tests.up.tlsserver import serve_api

ENDPOINT = "10.0.20.10"


def test_the_certificate_of_a_server_the_lab_ca_signed(lab_secrets: ClusterSecrets) -> None:
    with serve_api(lab_secrets, [ENDPOINT]) as fake:
        cert = server_certificate(fake.url, ca_pem=lab_secrets.ca_cert, server_name=ENDPOINT)
    left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < left <= dt.timedelta(days=1)  # tlsserver signs for 1 day


def test_another_ca_or_another_name_does_not_verify(
    lab_secrets: ClusterSecrets, other_secrets: ClusterSecrets
) -> None:
    with serve_api(other_secrets, [ENDPOINT]) as fake:
        with pytest.raises(KubeError, match="does not verify"):
            server_certificate(fake.url, ca_pem=lab_secrets.ca_cert, server_name=ENDPOINT)
        with pytest.raises(KubeError, match="does not verify"):
            server_certificate(fake.url, ca_pem=other_secrets.ca_cert, server_name="10.0.20.11")


def test_no_server_and_no_https_are_clear_errors(lab_secrets: ClusterSecrets) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(KubeError, match=f"no TLS handshake with 127.0.0.1:{port}"):
        server_certificate(f"https://127.0.0.1:{port}", ca_pem=lab_secrets.ca_cert)
    with pytest.raises(KubeError, match="not an https URL"):
        server_certificate("http://127.0.0.1:1", ca_pem=lab_secrets.ca_cert)
    with pytest.raises(KubeError, match="not a valid certificate"):
        server_certificate("https://127.0.0.1:1", ca_pem="junk")


def test_not_after_reads_a_pem(lab_secrets: ClusterSecrets) -> None:
    assert not_after(lab_secrets.ca_cert).year >= dt.datetime.now(dt.UTC).year + 9
    with pytest.raises(KubeError, match="not a PEM certificate"):
        not_after("-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n")
