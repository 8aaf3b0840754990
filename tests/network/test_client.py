"""The OPNsense client and its settings: error shapes, the secret, TLS trust (served simulator)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homelab.core.secret import Secret
from homelab.core.spec.models import LabSpec
from homelab.core.spec.opnsense import ENV_SECRET
from homelab.engine.opnsense.client import OpnsenseClient
from homelab.engine.opnsense.errors import (
    OpnsenseApiError,
    OpnsenseError,
    OpnsenseSettingsError,
    OpnsenseTlsError,
    OpnsenseTransportError,
    OpnsenseValidationError,
)
from homelab.engine.opnsense.observe import read_dhcp, read_version
from homelab.engine.opnsense.settings import (
    ENV_CA_BUNDLE,
    ENV_FINGERPRINT,
    FirewallSettings,
    resolve,
)
from homelab.simulated.opnsense import new_simulator
from homelab_sim.server import RunningServer, start_opnsense_server

SETTINGS = FirewallSettings("https://10.0.10.1", "key", Secret("s3cret"))


def client_answering(
    status: int, body: bytes | str, content_type: str = "application/json"
) -> OpnsenseClient:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == SETTINGS.authorization()
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    return OpnsenseClient(SETTINGS, transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("status", "body", "text"),
    [
        (401, "{}", "401, the API key and secret were not accepted"),
        (403, "{}", "403, the key's user lacks the privilege"),
        (404, "{}", "404, this OPNsense has no such endpoint"),
        (500, '{"errorMessage": "Alias in use", "errorTitle": "x"}', "500 Alias in use"),
        (502, "<html>", "502"),
    ],
)
def test_error_statuses_become_api_errors(status: int, body: str, text: str) -> None:
    with pytest.raises(OpnsenseApiError, match=text) as caught:
        client_answering(status, body).get("firewall/alias/searchItem")
    assert caught.value.status == status


def test_a_body_that_is_not_json_is_an_error() -> None:
    with pytest.raises(OpnsenseApiError, match="the answer is not JSON"):
        client_answering(200, "<html>").get("core/firmware/status")


def test_validations_are_listed() -> None:
    body = (
        '{"result": "failed", "validations": {"alias.name": ["bad", "worse"], "alias.type": "x"}}'
    )
    with pytest.raises(
        OpnsenseValidationError, match=r"alias\.name: bad; worse, alias\.type: x"
    ) as caught:
        client_answering(200, body).save("firewall/alias/addItem", "alias", {"name": "x"})
    assert caught.value.validations["alias.type"] == "x"
    with pytest.raises(OpnsenseValidationError, match="result 'failed'"):
        client_answering(200, '{"result": "failed"}').save("firewall/alias/addItem", "alias", {})


def test_transport_errors_never_leak_httpx() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = OpnsenseClient(SETTINGS, transport=httpx.MockTransport(refuse))
    with pytest.raises(OpnsenseTransportError, match=r"no answer from 10\.0\.10\.1") as caught:
        client.get("core/firmware/status")
    assert caught.value.transient
    assert not client.probe()


def test_unreadable_version_and_dhcp_answers() -> None:
    with pytest.raises(OpnsenseError, match="did not say the OPNsense version"):
        read_version(client_answering(200, '{"status": "error"}'))
    with pytest.raises(OpnsenseApiError):
        read_dhcp(client_answering(500, "{}"))


def test_the_secret_never_shows() -> None:
    assert "s3cret" not in repr(SETTINGS)
    assert "s3cret" not in repr(OpnsenseClient(SETTINGS))


def test_settings_need_the_secret_from_the_environment(lab: LabSpec, tmp_path: Path) -> None:
    assert lab.opnsense is not None
    with pytest.raises(OpnsenseSettingsError, match=ENV_SECRET):
        resolve(lab.opnsense, {})
    pin = ":".join(["ab"] * 32)
    settings = resolve(
        lab.opnsense,
        {ENV_SECRET: "x", ENV_FINGERPRINT: pin, ENV_CA_BUNDLE: "ca.pem"},
        base_dir=tmp_path,
    )
    assert settings.fingerprint == pin.upper()
    assert settings.ca_bundle == tmp_path / "ca.pem"
    assert settings.secret.reveal() == "x"


@pytest.fixture
def served(lab: LabSpec) -> Iterator[RunningServer]:
    server = start_opnsense_server(new_simulator(lab))
    try:
        yield server
    finally:
        server.stop()


def test_the_pinned_certificate_is_the_only_one_accepted(served: RunningServer) -> None:
    good = FirewallSettings(served.endpoint, "k", Secret("s"), fingerprint=served.fingerprint)
    with OpnsenseClient(good) as client, pytest.raises(OpnsenseApiError, match="401"):
        client.get("core/firmware/status")  # TLS passed: the key is wrong
    wrong = FirewallSettings(served.endpoint, "k", Secret("s"), fingerprint=":".join(["AB"] * 32))
    with OpnsenseClient(wrong) as client, pytest.raises(OpnsenseTlsError, match="not the pinned"):
        client.get("core/firmware/status")


def test_an_untrusted_certificate_is_refused(served: RunningServer, tmp_path: Path) -> None:
    plain = FirewallSettings(served.endpoint, "k", Secret("s"))
    with OpnsenseClient(plain) as client, pytest.raises(OpnsenseTlsError, match="not trusted"):
        client.get("x/y/z")
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(served.cert_pem)
    trusted = FirewallSettings(served.endpoint, "k", Secret("s"), ca_bundle=bundle)
    with OpnsenseClient(trusted) as client, pytest.raises(OpnsenseApiError, match="401"):
        client.get("core/firmware/status")  # TLS passed (chain and name): the key is wrong
    missing = FirewallSettings(served.endpoint, "k", Secret("s"), ca_bundle=tmp_path / "no.pem")
    with OpnsenseClient(missing) as client, pytest.raises(OpnsenseSettingsError, match="CA bundle"):
        client.get("core/firmware/status")
