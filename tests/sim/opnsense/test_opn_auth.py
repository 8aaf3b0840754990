"""Authentication, privileges, routing and bodies, as ApiControllerBase and api.php answer."""

from __future__ import annotations

import base64

import pytest

from homelab_sim.errors import SimError
from homelab_sim.opnsense import OpnRequest
from homelab_sim.secret import Secret
from tests.sim.opnsense.support import Factory, client_for

ALIAS = {"alias": {"name": "lab_hosts", "type": "host", "content": "10.0.10.10"}}


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def test_no_authorization_header_is_a_bare_401(make: Factory) -> None:
    sim, _ = make()
    answer = sim.handle(OpnRequest("GET", "/api/core/firmware/status"))
    assert (answer.status, answer.body) == (401, b"")


def test_a_wrong_secret_is_401_authentication_failed(make: Factory) -> None:
    sim, _ = make()
    with client_for(sim, authorization=basic(sim.api_key, "not-the-secret")) as client:
        reply = client.get("/api/core/firmware/status")
    assert reply.status_code == 401
    assert reply.json() == {"status": 401, "message": "Authentication Failed"}


@pytest.mark.parametrize("header", ["Basic", "Basic !!!notbase64", "Bearer abc"])
def test_malformed_credentials_are_401(make: Factory, header: str) -> None:
    sim, _ = make()
    with client_for(sim, authorization=header) as client:
        assert client.get("/api/core/firmware/status").status_code == 401


def test_a_key_without_the_page_privilege_is_403(make: Factory) -> None:
    sim, _ = make()
    sim.add_user("netops", ["page-firewall-aliases"])
    key, secret = sim.add_key("netops")
    with client_for(sim, authorization=basic(key, secret.reveal())) as client:
        assert client.get("/api/firewall/alias/searchItem").status_code == 200
        denied = client.post("/api/firewall/alias/addItem", json=ALIAS)
        assert denied.status_code == 403
        assert denied.json() == {"status": 403, "message": "Forbidden"}
        assert client.get("/api/firewall/filter/searchRule").status_code == 403
    assert sim.configured("alias") == {}


def test_acl_patterns_match_the_uri_literally(make: Factory) -> None:
    """The overrides page lists snake_case URLs: a camelCase call needs the whole Unbound page."""
    sim, _ = make()
    sim.add_user("dns", ["page-services-dnsresolver-overrides"])
    key, secret = sim.add_key("dns")
    with client_for(sim, authorization=basic(key, secret.reveal())) as client:
        assert client.get("/api/unbound/settings/search_host_override").status_code == 200
        assert client.get("/api/unbound/settings/searchHostOverride").status_code == 403
        assert client.post("/api/unbound/service/reconfigure", json={}).status_code == 403


def test_unknown_users_and_privileges_are_refused() -> None:
    from homelab_sim.opnsense import OpnsenseSimulator

    sim = OpnsenseSimulator()
    with pytest.raises(SimError, match="unknown privilege 'page-everything'"):
        sim.add_user("x", ["page-everything"])
    with pytest.raises(SimError, match="no such user"):
        sim.add_key("nobody")


def test_secrets_do_not_print(make: Factory) -> None:
    sim, _ = make()
    assert isinstance(sim.api_secret, Secret)
    assert sim.api_secret.reveal() not in repr(sim.keys)


@pytest.mark.parametrize(
    "path",
    [
        "/api/firewall/nothing/here",
        "/api/firewall/alias/noSuchAction",
        "/api/firewall/alias",
        "/ui/x/y/z",
    ],
)
def test_unknown_endpoints_are_404_endpoint_not_found(make: Factory, path: str) -> None:
    _, client = make()
    reply = client.get(path)
    assert reply.status_code == 404
    assert reply.json() == {"errorMessage": "Endpoint not found"}


def test_missing_required_parameters_are_404(make: Factory) -> None:
    _, client = make()
    assert client.post("/api/firewall/alias/setItem", json=ALIAS).status_code == 404
    assert client.post("/api/firewall/alias/setItem/x", json=ALIAS).status_code == 200


def test_routing_ignores_underscores_and_case(make: Factory) -> None:
    _, client = make()
    assert client.post("/api/firewall/alias/add_item", json=ALIAS).json()["result"] == "saved"
    assert client.get("/api/Firewall/Alias/SEARCHITEM").json()["total"] == 1


def test_an_empty_json_body_is_400_invalid_json_syntax(make: Factory) -> None:
    sim, _ = make()
    headers = {**sim.auth_header(), "content-type": "application/json"}
    answer = sim.handle(OpnRequest("POST", "/api/firewall/filter/apply", headers=headers))
    assert answer.status == 400
    assert answer.json() == {"status": 400, "message": "Invalid JSON syntax"}


def test_a_body_without_json_content_type_is_not_read(make: Factory) -> None:
    sim, client = make()
    reply = client.post(
        "/api/firewall/alias/addItem",
        content=b'{"alias": {"name": "lab_hosts", "type": "host", "content": "10.0.10.10"}}',
        headers={"content-type": "text/plain"},
    )
    assert reply.json() == {"result": "failed"}
    assert sim.configured("alias") == {}


def test_unparsable_json_is_an_empty_post(make: Factory) -> None:
    _, client = make()
    reply = client.post(
        "/api/firewall/alias/addItem",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert reply.json() == {"result": "failed"}


def test_form_bodies_are_phps_post(make: Factory) -> None:
    sim, client = make()
    form = {"alias[name]": "lab_hosts", "alias[type]": "host", "alias[content]": "10.0.10.10"}
    assert client.post("/api/firewall/alias/addItem", data=form).json()["result"] == "saved"
    assert [r["name"] for r in sim.configured("alias").values()] == ["lab_hosts"]


def test_an_item_that_is_not_an_object_is_an_unexpected_error(make: Factory) -> None:
    _, client = make()
    reply = client.post("/api/firewall/alias/addItem", json={"alias": "lab_hosts"})
    assert reply.status_code == 500
    assert reply.json() == {"errorMessage": "Unexpected error, check log for details"}


def test_firmware_status_reports_the_version(make: Factory) -> None:
    _, client = make(version="26.7.1")
    status = client.get("/api/core/firmware/status").json()
    assert status["product"]["product_version"] == "26.7.1"
    assert status["product"]["product_series"] == "26.7"
    assert client.get("/api/core/firmware/info").json()["product_version"] == "26.7.1"


@pytest.mark.parametrize(
    ("kwargs", "text"), [({"dhcp": "udhcpd"}, "DHCP"), ({"version": "next"}, "version")]
)
def test_bad_simulator_settings_are_refused(kwargs: dict[str, str], text: str) -> None:
    from homelab_sim.opnsense import OpnsenseSimulator

    with pytest.raises(SimError, match=text):
        OpnsenseSimulator(**kwargs)  # type: ignore[arg-type]


def test_seeded_objects_are_validated_and_may_keep_their_uuid(make: Factory) -> None:
    sim, client = make()
    uuid = "0b9f3d1e-1c1a-4a43-9d8e-3c7d5b0f6a11"
    fields = {"name": "user_nas", "type": "host", "content": "10.0.10.50"}
    assert sim.seed("alias", fields, uuid=uuid) == uuid
    assert sim.running("alias")[uuid]["name"] == "user_nas"
    with pytest.raises(SimError, match="exists already"):
        sim.seed("alias", fields, uuid=uuid)
    with pytest.raises(SimError, match="the seeded alias is invalid"):
        sim.seed("alias", {**fields, "name": "other", "content": "not a host!"})
    staged = sim.seed("rule", {"interface": "opt1"}, running=False)
    assert staged in sim.configured("rule")
    assert staged not in sim.running("rule")
    assert client.get(f"/api/firewall/alias/getItem/{uuid}").json()["alias"]["name"] == "user_nas"
