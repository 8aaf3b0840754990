"""Aliases: names, contents per type, get/search shapes, renames, deleting one in use."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from homelab_sim.opnsense import OpnsenseSimulator

Fw = tuple[OpnsenseSimulator, httpx.Client]
NAME_RULE = (
    "The name must start with a letter or single underscore, be less than 32 characters and "
    "only consist of alphanumeric characters or underscores."
)


def add(client: httpx.Client, **alias: Any) -> dict[str, Any]:
    reply: dict[str, Any] = client.post("/api/firewall/alias/addItem", json={"alias": alias}).json()
    return reply


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ({"name": "1st", "type": "host"}, {"alias.name": NAME_RULE}),
        ({"name": "a" * 32, "type": "host"}, {"alias.name": NAME_RULE}),
        ({"name": "__x", "type": "host"}, {"alias.name": NAME_RULE}),
        (
            {"name": "https", "type": "host"},
            {"alias.name": "Reserved protocol or service names may not be used"},
        ),
        ({"name": "ok"}, {"alias.type": "Option [alert] not in list."}),
        ({"type": "host"}, {"alias.name": "A value is required."}),
        (
            {"name": "h", "type": "host", "content": "10.0.0.1\nnot a host"},
            {"alias.content": 'Entry "not a host" is not a valid hostname, IP address or range.'},
        ),
        (
            {"name": "h", "type": "host", "content": "10.0.0.1-banana"},
            {
                "alias.content": 'Entry "10.0.0.1-banana" is not a valid hostname, IP address or range.'  # noqa: E501
            },
        ),
        (
            {"name": "n", "type": "network", "content": "10.0.0.0/33"},
            {"alias.content": 'Entry "10.0.0.0/33" is not a network.'},
        ),
        (
            {"name": "p", "type": "port", "content": "70000"},
            {"alias.content": 'Entry "70000" is not a valid port number.'},
        ),
        (
            {"name": "g", "type": "networkgroup", "content": "nope"},
            {"alias.content": 'Entry "nope" is not a valid alias.'},
        ),
        (
            {"name": "d", "type": "host", "description": "x" * 300},
            {"alias.description": "Description should be a string between 1 and 255 characters."},
        ),
    ],
)
def test_invalid_aliases(fw: Fw, alias: dict[str, str], expected: dict[str, str]) -> None:
    sim, client = fw
    assert add(client, **alias) == {"result": "failed", "validations": expected}
    assert sim.configured("alias") == {}


def test_valid_contents_per_type(fw: Fw) -> None:
    _, client = fw
    assert (
        add(
            client,
            name="hosts",
            type="host",
            content="10.0.10.10\n10.0.10.20-10.0.10.30\n!10.0.10.15\nnode1.lab.example",
        )["result"]
        == "saved"
    )
    assert (
        add(
            client,
            name="nets",
            type="network",
            content="10.0.10.0/24\n!10.0.10.128/25\nhosts\n10.0.0.1-10.0.0.9",
        )["result"]
        == "saved"
    )
    assert add(client, name="ports", type="port", content="22\n30000:32767")["result"] == "saved"
    assert (
        add(client, name="grp", type="networkgroup", content=["hosts", "nets"])["result"] == "saved"
    )
    assert add(client, name="_under", type="host", content="hosts")["result"] == "saved"


def test_names_are_unique(fw: Fw) -> None:
    _, client = fw
    add(client, name="lab", type="host", content="10.0.0.1")
    assert add(client, name="lab", type="network", content="10.0.0.0/8")["validations"] == {
        "alias.name": "An alias with this name already exists."
    }


def test_get_lists_content_and_every_alias(fw: Fw) -> None:
    _, client = fw
    uuid = add(
        client, name="hosts", type="host", content="10.0.10.10\n10.0.10.11", description="lab hosts"
    )["uuid"]
    add(client, name="other", type="network", content="10.0.0.0/8")
    alias = client.get(f"/api/firewall/alias/getItem/{uuid}").json()["alias"]
    assert alias["name"] == "hosts"
    assert alias["type"]["host"] == {"value": "Host(s)", "selected": 1}
    assert alias["content"]["10.0.10.10"] == {"value": "10.0.10.10", "selected": 1}
    assert alias["content"]["other"] == {"selected": 0, "value": "other", "description": ""}
    assert alias["content"]["hosts"]["description"] == "lab hosts"
    assert client.get("/api/firewall/alias/getItem/nope").json() == []
    assert client.get("/api/firewall/alias/getAliasUUID/hosts").json() == {"uuid": uuid}
    assert client.get("/api/firewall/alias/getAliasUUID/none").json() == []
    rows = client.get("/api/firewall/alias/searchItem").json()["rows"]
    assert [r["name"] for r in rows] == ["hosts", "other"]
    assert rows[0]["%type"] == "Host(s)"
    assert rows[0]["categories_uuid"] == []


def test_an_alias_in_use_cannot_be_deleted(fw: Fw) -> None:
    sim, client = fw
    used = add(client, name="k8s_api", type="host", content="10.0.10.10")["uuid"]
    client.post("/api/firewall/filter/addRule", json={"rule": {"destination_net": "k8s_api"}})
    reply = client.post(f"/api/firewall/alias/delItem/{used}", json={})
    assert reply.status_code == 500
    assert reply.json() == {
        "errorMessage": "Cannot delete alias k8s_api. Currently in use by \n"
        "[OPNsense.Firewall.Filter.rules.rule.0/destination_net] ",
        "errorTitle": "Alias in use",
        "errorLevel": "error",
    }
    nested = add(client, name="inner", type="host", content="10.0.10.11")["uuid"]
    outer = add(
        client, name="outer", type="networkgroup", content="inner", description="the group"
    )["uuid"]
    reply = client.post(f"/api/firewall/alias/delItem/{nested}", json={})
    assert reply.json()["errorMessage"].endswith(f"\n[aliases.alias.{outer}] the group")
    assert client.post(f"/api/firewall/alias/delItem/{outer}", json={}).json() == {
        "result": "deleted"
    }
    assert client.post(f"/api/firewall/alias/delItem/{nested}", json={}).json() == {
        "result": "deleted"
    }
    assert client.post(f"/api/firewall/alias/delItem/{nested}", json={}).json() == {
        "result": "not found"
    }
    assert used in sim.configured("alias")


def test_a_rename_follows_into_rules_and_aliases(fw: Fw) -> None:
    sim, client = fw
    uuid = add(client, name="old", type="host", content="10.0.10.10")["uuid"]
    assert add(client, name="group", type="networkgroup", content="old")["validations"] == {
        "alias.name": 'The name cannot be the internally reserved keyword "%s".'
    }
    add(client, name="grp", type="networkgroup", content="old")
    client.post("/api/firewall/filter/addRule", json={"rule": {"source_net": "old"}})
    body = {"alias": {"name": "new"}}
    assert client.post(f"/api/firewall/alias/setItem/{uuid}", json=body).json() == {
        "result": "saved"
    }
    assert [r["source_net"] for r in sim.configured("rule").values()] == ["new"]
    assert {r["content"] for r in sim.configured("alias").values()} == {"10.0.10.10", "new"}


def test_search_filters_by_type_arrays(fw: Fw) -> None:
    sim, client = fw
    lab = sim.seed("category", {"name": "lab"})
    unknown = add(client, name="other", type="host", content="10.0.10.9", categories="c1")
    assert unknown["validations"] == {"alias.categories": "Related category not found."}
    add(client, name="hosts", type="host", content="10.0.10.10", categories=lab)
    add(client, name="ports", type="port", content="22")
    by_query = client.get("/api/firewall/alias/searchItem?type[]=port").json()
    assert [r["name"] for r in by_query["rows"]] == ["ports"]
    by_body = client.post("/api/firewall/alias/searchItem", json={"type": ["host", "port"]}).json()
    assert by_body["total"] == 2
    by_category = client.post("/api/firewall/alias/searchItem", json={"category": [lab]}).json()
    assert [r["name"] for r in by_category["rows"]] == ["hosts"]
    plain = client.get("/api/firewall/alias/searchItem", params={"type": "host"})
    assert plain.status_code == 500
    assert plain.json() == {"errorMessage": "Unexpected error, check log for details"}
