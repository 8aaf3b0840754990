"""Path matching against the served endpoints, as PVE's RESTHandler resolves URIs."""

from __future__ import annotations

import pytest

from homelab_sim.pve import schema

UPID = "UPID:pve:0003A1F2:01B2C3D4:66A1B2C3:qmclone:9000:root@pam!sim:"

MATCHES: list[tuple[str, str, str, str, dict[str, str]]] = [
    ("GET", "/version", "/version", "version", {}),
    ("GET", "/api2/json/version", "/version", "version", {}),
    ("GET", "/api2/json/nodes", "/nodes", "index", {}),
    ("GET", "/nodes/pve/qemu", "/nodes/{node}/qemu", "vmlist", {"node": "pve"}),
    ("POST", "/nodes/pve/qemu", "/nodes/{node}/qemu", "create_vm", {"node": "pve"}),
    ("GET", "/nodes/pve/qemu/", "/nodes/{node}/qemu", "vmlist", {"node": "pve"}),
    ("GET", "//nodes//pve/qemu", "/nodes/{node}/qemu", "vmlist", {"node": "pve"}),
    ("GET", "/cluster/resources?type=vm", "/cluster/resources", "resources", {}),
    (
        "POST",
        "/nodes/pve2/qemu/9001/clone",
        "/nodes/{node}/qemu/{vmid}/clone",
        "clone_vm",
        {"node": "pve2", "vmid": "9001"},
    ),
    (
        "POST",
        "/nodes/pve/qemu/101/config",
        "/nodes/{node}/qemu/{vmid}/config",
        "update_vm_async",
        {"node": "pve", "vmid": "101"},
    ),
    (
        "PUT",
        "/nodes/pve/qemu/101/config",
        "/nodes/{node}/qemu/{vmid}/config",
        "update_vm",
        {"node": "pve", "vmid": "101"},
    ),
    (
        "DELETE",
        "/nodes/pve/qemu/101",
        "/nodes/{node}/qemu/{vmid}",
        "destroy_vm",
        {"node": "pve", "vmid": "101"},
    ),
    (
        "POST",
        "/nodes/pve/qemu/101/status/start",
        "/nodes/{node}/qemu/{vmid}/status/start",
        "vm_start",
        {"node": "pve", "vmid": "101"},
    ),
    (
        "GET",
        "/nodes/pve/qemu/101/agent/network-get-interfaces",
        "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
        "network-get-interfaces",
        {"node": "pve", "vmid": "101"},
    ),
    (
        "GET",
        f"/nodes/pve/tasks/{UPID}/status",
        "/nodes/{node}/tasks/{upid}/status",
        "read_task_status",
        {"node": "pve", "upid": UPID},
    ),
    (
        "GET",
        "/nodes/pve/tasks/UPID%3Apve%3A0003A1F2%3A01B2C3D4%3A66A1B2C3%3Aqmclone%3A9000"
        "%3Aroot%40pam%21sim%3A/log",
        "/nodes/{node}/tasks/{upid}/log",
        "read_task_log",
        {"node": "pve", "upid": UPID},
    ),
    (
        "GET",
        "/nodes/pve/storage/local/content",
        "/nodes/{node}/storage/{storage}/content",
        "index",
        {"node": "pve", "storage": "local"},
    ),
    (
        "DELETE",
        "/nodes/pve/storage/local/content/local:iso/seed-k8s-master-1.iso",
        "/nodes/{node}/storage/{storage}/content/{volume}",
        "delete",
        {"node": "pve", "storage": "local", "volume": "local:iso/seed-k8s-master-1.iso"},
    ),
    (
        "GET",
        "/nodes/pve/storage/local/content/local%3Aiso%2Fseed.iso",
        "/nodes/{node}/storage/{storage}/content/{volume}",
        "info",
        {"node": "pve", "storage": "local", "volume": "local:iso/seed.iso"},
    ),
    (
        "POST",
        "/nodes/pve/storage/local/upload",
        "/nodes/{node}/storage/{storage}/upload",
        "upload",
        {"node": "pve", "storage": "local"},
    ),
    ("PUT", "/cluster/backup/job-1", "/cluster/backup/{id}", "update_job", {"id": "job-1"}),
    ("GET", "/pools/homelab", "/pools/{poolid}", "read_pool", {"poolid": "homelab"}),
    ("POST", "/access/ticket", "/access/ticket", "create_ticket", {}),
    ("get", "/access/domains", "/access/domains", "index", {}),
]


@pytest.mark.parametrize(("method", "path", "template", "name", "params"), MATCHES)
def test_path_matches_endpoint(
    method: str, path: str, template: str, name: str, params: dict[str, str]
) -> None:
    found = schema.match(method, path)
    assert found is not None
    endpoint, path_params = found
    assert (endpoint.template, endpoint.name, path_params) == (template, name, params)


NO_MATCH: list[tuple[str, str]] = [
    ("GET", "/nodes/pve/foo"),
    ("GET", "/nodes/pve/qemu/101/config/extra"),
    ("PATCH", "/nodes"),
    ("POST", "/version"),
    ("DELETE", "/nodes/pve/qemu/101/config"),
    ("GET", "/nodes/pve/qemu/101"),  # the VM directory index is not served
    ("GET", "/nodes/p%20ve/qemu"),  # path parameters match \S+
    ("GET", "/api2/extjs/version"),
    ("GET", "/"),
    ("GET", ""),
]


@pytest.mark.parametrize(("method", "path"), NO_MATCH)
def test_unknown_path_or_method_does_not_match(method: str, path: str) -> None:
    assert schema.match(method, path) is None


def test_endpoints_are_sorted_and_unique() -> None:
    keys = [(e.template, e.method) for e in schema.endpoints()]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))
    assert len(keys) >= 49


def test_endpoints_are_hashable_singletons() -> None:
    first = schema.match("GET", "/nodes/pve/qemu")
    second = schema.match("GET", "/nodes/pve2/qemu")
    assert first is not None and second is not None
    assert first[0] is second[0]
    assert {first[0]: "vmlist"}[second[0]] == "vmlist"
