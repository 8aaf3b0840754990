"""Input that Proxmox or common sense would refuse is refused by validate, with a position.

Types are strict (no boolean where a number is wanted, no text read as a number, no YAML tag that
makes bytes, dates or sets), and sizes stay inside what Proxmox VE accepts.
"""

from __future__ import annotations

import pytest

from homelab.core.spec.units import (
    DISK_MAX_GIB,
    MEMORY_MAX_MIB,
    parse_disk_gib,
    parse_memory_mib,
)
from tests.spec.helpers import check, example_text, find, mutate

M1 = "k8s-master-1: {role: control-plane, cores: 2, memory: 4GiB, disk: 32GiB"
W2 = "k8s-worker-2: {role: worker, cores: 2, memory: 4GiB, disk: 32GiB"


def only_error_at(text: str, path: str) -> tuple[int, int, str]:
    """The spec is refused with exactly one error, at ``path``; its line, column and message."""
    result = check(text)
    assert result.spec is None, result.lines()
    errors = result.errors
    assert len(errors) == 1, result.lines()
    assert errors[0].dotted == path, result.lines()
    return errors[0].line, errors[0].col, errors[0].message


def test_cores_true_is_not_one_core() -> None:
    text = mutate(example_text(), [(M1, M1.replace("cores: 2", "cores: true"))])
    line, col, message = only_error_at(text, "vms.k8s-master-1.cores")
    assert (line, col) == (24, 46)
    assert message == "expected a whole number, got the boolean true"


@pytest.mark.parametrize(
    ("written", "shown"),
    [("'4'", "'4'"), ("4.0", "4.0"), ("yes", "the boolean true")],
)
def test_cores_take_a_written_whole_number_only(written: str, shown: str) -> None:
    text = mutate(example_text(), [(M1, M1.replace("cores: 2", f"cores: {written}"))])
    _, _, message = only_error_at(text, "vms.k8s-master-1.cores")
    assert message == f"expected a whole number, got {shown}"


def test_template_true_is_neither_a_name_nor_a_vmid() -> None:
    text = mutate(example_text(), [("template: ubuntu-2404-cloudinit", "template: true")])
    _, _, message = only_error_at(text, "proxmox.template")
    assert message == "expected text or a whole number, got the boolean true"


def test_vlan_and_mtu_refuse_booleans_and_text() -> None:
    text = mutate(
        example_text(),
        [("mgmt: {vlan: 10,", "mgmt: {vlan: true, mtu: '9000',")],
    )
    result = check(text)
    assert result.spec is None
    assert find(result, "networks.mgmt.vlan", "got the boolean true")
    assert find(result, "networks.mgmt.mtu", "got '9000'")


def test_name_binary_is_refused_where_it_is_written() -> None:
    text = mutate(example_text(), [("name: home-lab", "name: !!binary aG9tZS1sYWI=")])
    line, col, message = only_error_at(text, "name")
    assert (line, col) == (3, 7)
    assert "!!binary" in message and "bytes" in message


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("2024-01-01", "reads as a date in YAML; quote it"),
        ("2024-01-01 10:00:00", "reads as a date in YAML; quote it"),
        ("!!timestamp 2024-01-01", "reads as a date in YAML; quote it"),
        ("!!set {a, b}", "unsupported tag tag:yaml.org,2002:set"),
        ("!!omap [a: 1]", "unsupported tag tag:yaml.org,2002:omap"),
        ("!!python/name:os.system ''", "cannot read this value"),
        ("!local x", "cannot read this value"),
    ],
)
def test_tags_other_than_plain_data_are_refused_once(written: str, fragment: str) -> None:
    text = mutate(example_text(), [("name: home-lab", f"name: {written}")])
    line, _, message = only_error_at(text, "name")
    assert line == 3
    assert fragment in message


def test_plain_tags_that_make_ordinary_data_still_work() -> None:
    text = mutate(
        example_text(),
        [
            ("name: home-lab", "name: !!str home-lab"),
            (M1, M1.replace("cores: 2", "cores: !!int 2")),
        ],
    )
    result = check(text)
    assert result.ok, result.lines()


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("99999999TiB", "memory 99999999TiB is more than Proxmox VE accepts (at most 4TiB)"),
        ("4194305", "memory 4194305 is more than Proxmox VE accepts (at most 4TiB)"),
        ("9" * 5000 + "MiB", "is more than Proxmox VE accepts (at most 4TiB)"),
        ("9" * 4000, "is more than Proxmox VE accepts (at most 4TiB)"),
        ("0.5MiB", "is not a whole number of MiB"),
        ("0", "must be larger than zero"),
    ],
)
def test_memory_has_proxmox_bounds(written: str, fragment: str) -> None:
    text = mutate(example_text(), [(W2, W2.replace("memory: 4GiB", f"memory: {written}"))])
    _, _, message = only_error_at(text, "vms.k8s-worker-2.memory")
    assert fragment in message
    assert len(message) < 200


@pytest.mark.parametrize(
    "written",
    [f"{2**63}B", f"{2**63 // 2**30}GiB", f"{2**63 // 2**30}", "8388608TiB", "131073"],
)
def test_a_2_63_byte_disk_is_refused_clearly(written: str) -> None:
    text = mutate(example_text(), [(W2, W2.replace("disk: 32GiB", f"disk: {written}"))])
    _, _, message = only_error_at(text, "vms.k8s-worker-2.disk")
    assert "is more than Proxmox VE accepts (at most 128TiB)" in message


def test_bounds_are_inclusive_and_exact() -> None:
    assert parse_memory_mib("4TiB") == MEMORY_MAX_MIB == 4 * 1024 * 1024
    assert parse_disk_gib("128TiB") == DISK_MAX_GIB == 128 * 1024
    assert parse_memory_mib("1.5GiB") == 1536
    assert parse_disk_gib(f"{2**40}B") == 1024
    with pytest.raises(ValueError, match="at most 4TiB"):
        parse_memory_mib(MEMORY_MAX_MIB + 1)
    with pytest.raises(ValueError, match="at most 128TiB"):
        parse_disk_gib(DISK_MAX_GIB + 1)
    # exact arithmetic: as a float this is 1.0, and would be accepted as 1024 MiB
    with pytest.raises(ValueError, match="whole number of MiB"):
        parse_memory_mib("1.00000000000000000001GiB")


def test_cores_are_bounded_by_what_proxmox_offers() -> None:
    text = mutate(example_text(), [(M1, M1.replace("cores: 2", "cores: 257"))])
    _, _, message = only_error_at(text, "vms.k8s-master-1.cores")
    assert message == "must be at most 256, got 257"


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        ("vmid_range: 200-299", "vmid_range: 200-" + "9" * 5000, "proxmox.vmid_range", ""),
        (
            "addresses: 10.0.20.200-10.0.20.250",
            "addresses: 10.0.20.999-10.0.20.250",
            "kubernetes.load_balancer.addresses",
            "'10.0.20.999' is not an IPv4 address",
        ),
        (
            "addresses: 10.0.20.200-10.0.20.250",
            "addresses: 10.0.20." + "9" * 5000 + "-10.0.20.250",
            "kubernetes.load_balancer.addresses",
            "expected first-last, such as 10.0.20.200-10.0.20.250",
        ),
        (
            "version: 1.29.15",
            "version: 1." + "9" * 5000 + ".1",
            "kubernetes.version",
            "is not a full x.y.z version",
        ),
    ],
)
def test_huge_numbers_in_text_fields_are_findings_not_crashes(
    old: str, new: str, path: str, fragment: str
) -> None:
    result = check(mutate(example_text(), [(old, new)]))
    assert result.spec is None
    assert find(result, path, fragment)
