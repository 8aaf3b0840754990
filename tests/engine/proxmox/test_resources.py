"""Tolerant parsing of API replies: numbers as strings, 0/1 booleans, missing or odd fields."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from homelab.engine.proxmox.resources import (
    ClusterResource,
    NodeInfo,
    NodeStatus,
    StorageItem,
    StorageStatus,
    VmStatus,
    as_bool,
    as_int,
    parse_config,
    parse_interfaces,
    split_list,
)

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "id",
        "type",
        "node",
        "vmid",
        "name",
        "status",
        "template",
        "tags",
        "lock",
        "maxmem",
        "ha",
        "memory",
        "cpuinfo",
        "current-kernel",
        "content",
        "size",
        "digest",
        "result",
        "agent",
    ]
)
REPLIES = st.dictionaries(FIELDS, JSON, max_size=8)


@settings(max_examples=60, deadline=None)
@given(REPLIES)
def test_parsers_never_crash_on_odd_replies(raw: dict[str, Any]) -> None:
    ClusterResource.parse(raw)
    NodeInfo.parse(raw)
    NodeStatus.parse(raw, "pve1")
    StorageItem.parse(raw)
    StorageStatus.parse(raw, "local")
    VmStatus.parse(raw, 201)
    parse_config(raw)
    parse_interfaces(raw)


def test_numbers_arrive_as_strings_or_numbers() -> None:
    assert [as_int(v) for v in ("100", 100, 100.0, " 7 ", True)] == [100, 100, 100, 7, 1]
    odd: tuple[Any, ...] = ("1.5", "abc", None, [], 1.5)
    assert [as_int(v) for v in odd] == [None] * 5


def test_booleans_arrive_as_integers_or_strings() -> None:
    assert [as_bool(v) for v in (1, "1", True, "true")] == [True] * 4
    assert [as_bool(v) for v in (0, "0", None, "", False)] == [False] * 5


def test_lists_split_on_any_proxmox_separator() -> None:
    assert split_list("homelab;lab-home, role-worker  x") == (
        "homelab",
        "lab-home",
        "role-worker",
        "x",
    )
    assert split_list(None) == ()


def test_vm_status_reads_ha_lock_and_template() -> None:
    status = VmStatus.parse(
        {"status": "stopped", "lock": "clone", "template": "1", "ha": {"managed": 1}}, 201
    )
    assert status.vmid == 201 and status.lock == "clone" and status.template and status.ha_managed
    assert not status.running
