"""The generated schema table: up to date with apidoc.json, deterministic, complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripts import gen_pve_schema

from homelab_sim.pve import schema, schema_formats
from tests.support.paths import REPO
from tests.support.upstream import upstream_file

TABLE = REPO / "src" / "homelab_sim" / "pve" / "schema_table.json"

# Every endpoint issue 3 lists, as (method, path template).
ISSUE_ENDPOINTS = [
    ("GET", "/version"),
    ("GET", "/cluster/status"),
    ("GET", "/cluster/resources"),
    ("GET", "/cluster/nextid"),
    ("GET", "/nodes"),
    ("GET", "/nodes/{node}/status"),
    ("GET", "/nodes/{node}/qemu"),
    ("POST", "/nodes/{node}/qemu"),
    ("POST", "/nodes/{node}/qemu/{vmid}/clone"),
    ("GET", "/nodes/{node}/qemu/{vmid}/config"),
    ("POST", "/nodes/{node}/qemu/{vmid}/config"),
    ("PUT", "/nodes/{node}/qemu/{vmid}/config"),
    ("GET", "/nodes/{node}/qemu/{vmid}/pending"),
    ("PUT", "/nodes/{node}/qemu/{vmid}/resize"),
    ("GET", "/nodes/{node}/qemu/{vmid}/status/current"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/start"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/stop"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/reboot"),
    ("DELETE", "/nodes/{node}/qemu/{vmid}"),
    ("POST", "/nodes/{node}/qemu/{vmid}/template"),
    ("POST", "/nodes/{node}/qemu/{vmid}/agent/ping"),
    ("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces"),
    ("GET", "/nodes/{node}/qemu/{vmid}/agent/get-osinfo"),
    ("GET", "/nodes/{node}/storage"),
    ("GET", "/nodes/{node}/storage/{storage}/status"),
    ("GET", "/nodes/{node}/storage/{storage}/content"),
    ("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}"),
    ("POST", "/nodes/{node}/storage/{storage}/upload"),
    ("GET", "/nodes/{node}/tasks"),
    ("GET", "/nodes/{node}/tasks/{upid}/status"),
    ("GET", "/nodes/{node}/tasks/{upid}/log"),
    ("POST", "/nodes/{node}/vzdump"),
    ("GET", "/cluster/backup"),
    ("POST", "/cluster/backup"),
    ("GET", "/cluster/backup/{id}"),
    ("PUT", "/cluster/backup/{id}"),
    ("DELETE", "/cluster/backup/{id}"),
    ("GET", "/storage"),
    ("GET", "/pools"),
    ("POST", "/access/ticket"),
    ("GET", "/access/permissions"),
    ("GET", "/access/domains"),
]


@pytest.fixture(scope="module")
def apidoc() -> Path:
    """PVE's apidoc.json (1.9 MB, not vendored): from ../shared; skipped without (not in CI)."""
    return upstream_file("pve-api/apidoc.json")


@pytest.fixture(scope="module")
def generated(apidoc: Path) -> str:
    return gen_pve_schema.render_table(apidoc)


def test_committed_table_is_up_to_date(generated: str) -> None:
    assert TABLE.read_text(encoding="utf-8") == generated, "rerun scripts/gen_pve_schema.py"


def test_generator_is_deterministic(generated: str, apidoc: Path) -> None:
    assert gen_pve_schema.render_table(apidoc) == generated


def test_generator_check_mode_reports_a_stale_table(tmp_path: Path, apidoc: Path) -> None:
    stale = tmp_path / "table.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert gen_pve_schema.main([str(apidoc), "--output", str(stale), "--check"]) == 1
    assert gen_pve_schema.main([str(apidoc), "--output", str(stale)]) == 0
    assert gen_pve_schema.main([str(apidoc), "--output", str(stale), "--check"]) == 0


def test_generator_refuses_a_missing_apidoc(tmp_path: Path) -> None:
    assert gen_pve_schema.main([str(tmp_path / "nope.json"), "--output", str(tmp_path / "t")]) == 2


@pytest.mark.parametrize(("method", "template"), ISSUE_ENDPOINTS)
def test_every_issue_endpoint_is_served(method: str, template: str) -> None:
    served = {(e.method, e.template) for e in schema.endpoints()}
    assert (method, template) in served


def test_endpoint_attributes_come_from_the_schema() -> None:
    found = schema.match("PUT", "/nodes/pve/qemu/100/config")
    assert found is not None
    endpoint, _ = found
    assert endpoint.name == "update_vm"
    assert endpoint.protected is True
    assert endpoint.allowtoken is True
    assert endpoint.proxyto == "node"
    assert endpoint.permissions is not None and "check" in endpoint.permissions


def test_ticket_login_is_not_allowed_with_a_token() -> None:
    found = schema.match("POST", "/access/ticket")
    assert found is not None
    assert found[0].allowtoken is False


def test_every_format_in_the_table_is_implemented() -> None:
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    used: set[str] = set()

    def collect(prop: dict[str, object]) -> None:
        if isinstance(prop.get("format"), str):
            used.add(str(prop["format"]))
        if isinstance(prop.get("items"), dict):
            collect(prop["items"])  # type: ignore[arg-type]

    for methods in table["endpoints"].values():
        for method in methods.values():
            for prop in method["params"].values():
                collect(prop)
    for subkeys in table["property_strings"].values():
        for prop in subkeys.values():
            collect(prop)
    missing = sorted(name for name in used if not schema_formats.known(name))
    assert missing == []
    assert "pve-vmid" in used and "pve-tag-list" in used


def test_indexed_options_stay_compact_with_their_range() -> None:
    found = schema.match("POST", "/nodes/pve/qemu/100/config")
    assert found is not None
    params = found[0].params
    assert params["net[n]"]["index"] == [0, 31]
    assert params["scsi[n]"]["index"] == [0, 30]
    assert params["ide[n]"]["index"] == [0, 3]
    assert params["unused[n]"]["index"] == [0, 255]
    assert not any(name.startswith("net") and name[3:].isdigit() for name in params)


def test_perl_regexes_are_rewritten_for_python() -> None:
    perl = r"(?^:^(?^:[^\s:/]+)\@(?^i:[a-z][a-z0-9\.\-_]+)$)"
    assert (
        gen_pve_schema.perl_to_python_regex(perl) == r"(?:^(?:[^\s:/]+)\@(?i:[a-z][a-z0-9\.\-_]+)$)"
    )
    with pytest.raises(gen_pve_schema.SchemaError):
        gen_pve_schema.perl_to_python_regex("(?<unbalanced")


def test_named_format_drift_fails_loudly() -> None:
    prop = {"type": "string", "format": "pve-qm-ipconfig", "typetext": "[ip=<IPv4>] [,mtu=<n>]"}
    with pytest.raises(gen_pve_schema.SchemaError, match="pve-qm-ipconfig"):
        gen_pve_schema.compact_property(prop, {}, gen_pve_schema.PropertyStrings(), "ipconfig[n]")


def test_index_range_must_agree_with_the_description() -> None:
    assert gen_pve_schema.index_range("scsi[n]", {"description": "SCSI (n is 0 to 30)."}) == [0, 30]
    with pytest.raises(gen_pve_schema.SchemaError, match="scsi"):
        gen_pve_schema.index_range("scsi[n]", {"description": "SCSI (n is 0 to 13)."})
    with pytest.raises(gen_pve_schema.SchemaError, match="INDEX_RANGES"):
        gen_pve_schema.index_range("floppy[n]", {})
