"""Pydantic errors as users see them: positions, suggestions, merged union messages."""

from __future__ import annotations

import pytest

from homelab.core.spec.model_errors import model_at, suggest_key
from homelab.core.spec.models import AccessSpec, NetworkSpec, VmSpec
from tests.spec.helpers import check, example_text, find, mutate, position_of

CASES = [
    # (edits, path, where: the finding is at the '|' of this text, found once; fragment)
    ([("  nodes: [pve]", "  nodez: [pve]")], "proxmox.nodez", "|nodez:", "(did you mean 'nodes'?)"),
    ([("  nodes: [pve]", "  nodez: [pve]")], "proxmox.nodes", "|proxmox:", "missing required key"),
    (
        [("  storage: local-lvm", "  Storage: local-lvm")],
        "proxmox.Storage",
        "|Storage:",
        "'storage'",
    ),
    (
        [("  iso_storage: local", "  iso_storage: local\n  pod_cidr: 10.1.0.0/16")],
        "proxmox.pod_cidr",
        "|pod_cidr: 10.1.0.0/16",
        "unknown key 'pod_cidr' (it belongs under kubernetes)",
    ),
    ([("name: home-lab", "nam: home-lab")], "nam", "|nam: home-lab", "(did you mean 'name'?)"),
    (
        [("name: home-lab", "nam: home-lab")],
        "name",
        "|nam: home-lab",
        "missing required key 'name'",
    ),
    (
        [("template: ubuntu-2404-cloudinit", "template: [a]")],
        "proxmox.template",
        "|template: [a]",
        "expected text or a whole number, got a list",
    ),
    (
        [("cidr: 10.0.20.0/24", "cidr: 10.0.20.7/24")],
        "networks.apps.cidr",
        "cidr: |10.0.20.7/24",
        "host bits are set: did you mean 10.0.20.0/24?",
    ),
    (
        [("cidr: 10.0.20.0/24", "cidr: 'fd00::/64'")],
        "networks.apps.cidr",
        "cidr: |'fd00::/64'",
        "only IPv4 is supported",
    ),
    (
        [("role: control-plane", "role: master")],
        "vms.k8s-master-1.role",
        "role: |master",
        "must be one of 'control-plane' or 'worker', not 'master'",
    ),
    (
        [("role: control-plane", "role: controlplane")],
        "vms.k8s-master-1.role",
        "role: |controlplane",
        "(did you mean 'control-plane'?)",
    ),
    (
        [
            (
                "memory: 4GiB, disk: 32GiB, network: apps, ip: 10.0.20.10",
                "memory: lots, disk: 32GiB, network: apps, ip: 10.0.20.10",
            )
        ],
        "vms.k8s-master-1.memory",
        "memory: |lots",
        "memory 'lots' is not a size",
    ),
    (
        [("vmid_range: 200-299", "vmid_range: 200")],
        "proxmox.vmid_range",
        "vmid_range: |200\n",
        "first-last",
    ),
    (
        [("endpoint: https", "endpoint: http")],
        "proxmox.endpoint",
        "endpoint: |http:",
        "an https:// URL",
    ),
    (
        [("vms:\n", "vms: []\nold_vms:\n")],
        "vms",
        "|vms: []",
        "expected a mapping (key: value), got a list",
    ),
    (
        [("  mgmt: {", "  mgmt: null\n  old: {")],
        "networks.mgmt",
        "mgmt: |null",
        "got nothing (null)",
    ),
    (
        [("ip: 10.0.20.10}", "ip: 10.0.20.10/24}")],
        "vms.k8s-master-1.ip",
        "ip: |10.0.20.10/24",
        "drop the /prefix",
    ),
    ([("user: ubuntu", "user: Admin")], "access.user", "user: |Admin", "a Linux user name"),
]


@pytest.mark.parametrize(("edits", "path", "where", "fragment"), CASES)
def test_model_errors_are_placed_and_explained(
    edits: list[tuple[str, str]], path: str, where: str, fragment: str
) -> None:
    text = mutate(example_text(), edits)
    result = check(text)
    finding = find(result, path, fragment)
    assert (finding.line, finding.col) == position_of(text, where)
    assert finding.severity == "error"
    assert result.spec is None


def test_a_pasted_api_secret_is_never_echoed() -> None:
    secret = "homelab@pve!apply=0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
    result = check(mutate(example_text(), [("token_id: homelab@pve!apply", f"token_id: {secret}")]))
    finding = find(result, "proxmox.token_id", "user@realm!tokenid")
    assert "0a1b2c3d" not in finding.message
    assert all("0a1b2c3d" not in line for line in result.lines())


def test_a_wrongly_typed_section_skips_the_semantic_checks_but_reports_all_model_errors() -> None:
    result = check(
        mutate(
            example_text(),
            [
                ("vlan: 20", "vlan: twenty"),
                (
                    "cores: 2, memory: 4GiB, disk: 32GiB, network: apps, ip: 10.0.20.22",
                    "cores: x, memory: 4GiB, disk: 32GiB, network: apps, ip: 10.0.20.22",
                ),
            ],
        )
    )
    assert [f.dotted for f in result.findings] == ["networks.apps.vlan", "vms.k8s-worker-3.cores"]


def test_model_at_walks_models_dicts_and_optionals() -> None:
    assert model_at(("networks", "apps")) is NetworkSpec
    assert model_at(("vms", "web")) is VmSpec
    assert model_at(("access",)) is AccessSpec
    assert model_at(("vms", "web", "ip")) is None
    assert model_at(("nothing",)) is None


def test_suggest_key_lists_valid_keys_when_nothing_is_close() -> None:
    assert suggest_key("zzzz", ("access",)) == " (valid keys: user, ssh_authorized_keys)"
    assert suggest_key("ssh_keys", ("access",)) == " (did you mean 'ssh_authorized_keys'?)"
    assert suggest_key("vlan", ()) == " (it belongs under networks.<name>)"
