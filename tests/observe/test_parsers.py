"""The PVE reply parsers (homelab.core.pve_reply): every form PVE 8/9 sends is read, and
anything else is a MalformedReply, never another exception."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Interface
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homelab.core import observed
from homelab.core import pve_reply as pve
from homelab.core.desired import DescriptionRecord, description_text
from homelab.errors import LabError, ProxmoxError


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"data": {"vmid": 1}}, "not a list"),
        ({"data": ["qemu/100"]}, "not an object"),
        ({"data": [{"type": "qemu", "node": "pve"}]}, "without 'vmid'"),
        ({"data": [{"type": "qemu", "vmid": "abc", "node": "pve"}]}, "vmid='abc'"),
        ({"data": [{"type": "qemu", "vmid": 100, "node": "pve", "tags": 5}]}, "tags=5"),
    ],
)
def test_bad_resources_raise_malformed_reply(payload: Any, message: str) -> None:
    with pytest.raises(pve.MalformedReply, match=message) as info:
        pve.parse_resources(payload)
    assert isinstance(info.value, LabError) and not isinstance(info.value, ProxmoxError)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([], "not an object"),
        ({"scsi0": "local-lvm:vm-1-disk-0,size=lots"}, "disk size 'lots'"),
        ({"memory": "much"}, "memory='much'"),
        ({"net0": "virtio,bridge=vmbr0,oops"}, "property string"),
        ({"onboot": "maybe"}, "onboot='maybe'"),
        ({"ide2": {"file": "cdrom"}}, "ide2="),
    ],
)
def test_bad_configs_raise_malformed_reply(config: Any, message: str) -> None:
    with pytest.raises(pve.MalformedReply, match=message):
        pve.parse_config({"data": config})


def test_storage_items_need_a_volid() -> None:
    with pytest.raises(pve.MalformedReply, match="without 'volid'"):
        pve.parse_storage_content({"data": [{"content": "iso", "size": 1}]})


@pytest.mark.parametrize(
    ("size", "gib"),
    [("32G", 32), ("32768M", 32), ("2252M", 3), ("1T", 1024), ("34359738368", 32), ("512K", 1)],
)
def test_sizes_round_up_to_whole_gib(size: str, gib: int) -> None:
    assert pve.ceil_gib(pve.parse_size_bytes(size)) == gib


def test_envelope_or_bare_content_both_parse() -> None:
    bare = [{"type": "qemu", "vmid": 100, "node": "pve", "name": "a"}]
    assert pve.parse_resources(bare) == pve.parse_resources({"data": bare})


def test_description_record_round_trips_and_survives_user_text() -> None:
    record = DescriptionRecord(lab="home-lab", template="9000", seed="a" * 64, digest="b" * 64)
    text = description_text(record) + "\n\nnotes: rack 2, ask Bob"
    config = pve.parse_config({"data": {"description": text, "digest": "x"}})
    assert config.record == record
    partial = "homelab-lab: home-lab\nhomelab-template: 9000"
    assert pve.parse_config({"data": {"description": partial}}).record is None


def test_with_configs_attaches_by_vmid() -> None:
    vms = pve.parse_resources([{"type": "qemu", "vmid": 100, "node": "pve", "name": "a"}])
    state = observed.Observed(vms=vms, seed_volumes={"pve": ()}, nodes=("pve",))
    config = pve.parse_config({"data": {"cores": 3, "digest": "d"}})
    assert state.with_configs({100: config}).vms[0].config == config
    assert state.with_configs({}).vms[0].config is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("100", 100), (100, 100), (100.0, 100), (" 7 ", 7), ("7.0", 7), (True, 1), ("-1", -1)],
)
def test_numbers_arrive_as_strings_or_numbers(value: Any, expected: int) -> None:
    assert pve.pve_int(value, "n") == expected


@pytest.mark.parametrize("value", ["1.5", "abc", None, [], 1.5, {}, ""])
def test_anything_else_is_not_a_number(value: Any) -> None:
    with pytest.raises(pve.MalformedReply, match=r"n=.*expected an integer"):
        pve.pve_int(value, "n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(1, True), ("1", True), (True, True), ("true", True), ("on", True), (2, True)],
        *[(0, False), ("0", False), (False, False), ("false", False), ("no", False)],
    ],
)
def test_booleans_arrive_as_integers_or_strings(value: Any, expected: bool) -> None:
    assert pve.pve_bool(value, "b") is expected


@pytest.mark.parametrize("value", [None, "", "maybe", [1], 0.5])
def test_anything_else_is_not_a_boolean(value: Any) -> None:
    with pytest.raises(pve.MalformedReply):
        pve.pve_bool(value, "b")


def test_tags_split_on_any_proxmox_separator_sorted_as_pve_does() -> None:
    assert pve.pve_tags("role-worker;Homelab, lab-home  x;lab-home") == (
        "Homelab",
        "lab-home",
        "role-worker",
        "x",
    )
    assert pve.pve_tags(None) == () and pve.pve_tags("") == ()
    with pytest.raises(pve.MalformedReply, match="tags=5"):
        pve.pve_tags(5)


def test_vm_status_reads_lock_and_template() -> None:
    status = pve.parse_vm_status(
        {"data": {"status": "stopped", "lock": "clone", "template": "1", "agent": 0}}, 201
    )
    assert status == pve.VmStatus(vmid=201, status="stopped", lock="clone", template=True)
    assert not status.running


def test_storage_replies() -> None:
    items = pve.parse_storage_items(
        [{"volid": "local:iso/a.iso", "content": "iso", "size": "69632"}, {"volid": "local:x"}]
    )
    assert items == (pve.StorageItem("local:iso/a.iso", "iso", 69632), pve.StorageItem("local:x"))
    status = pve.parse_storage_status({"content": "iso,vztmpl", "active": 1, "shared": "0"}, "l")
    assert status.content == ("iso", "vztmpl") and status.active and status.enabled
    assert not status.shared


def test_agent_interfaces_keep_global_ipv4_per_interface() -> None:
    reply = {
        "result": [
            {
                "name": "lo",
                "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "127.0.0.1"}],
            },
            {
                "name": "eth0",
                "ip-addresses": [
                    {"ip-address-type": "ipv4", "ip-address": "10.0.20.11", "prefix": 24},
                    {"ip-address-type": "ipv4", "ip-address": "169.254.3.4", "prefix": 16},
                    {"ip-address-type": "ipv6", "ip-address": "fe80::1", "prefix": 64},
                ],
            },
            {"name": "eth1"},
        ]
    }
    assert pve.parse_interfaces({"data": reply}) == {
        "eth0": (IPv4Interface("10.0.20.11/24"),),
        "eth1": (),
    }
    with pytest.raises(pve.MalformedReply, match=r"10\.0\.20\.999"):
        pve.parse_interfaces({"result": [{"name": "e", "ip-addresses": [
            {"ip-address-type": "ipv4", "ip-address": "10.0.20.999"}]}]})  # fmt: skip


def test_task_log_page() -> None:
    log = pve.parse_task_log({"data": [{"n": 1, "t": "start"}, {"n": 2}], "total": "2"})
    assert log == pve.TaskLog(total=2, lines=("start", ""))


# ---- the contract: the typed value, or MalformedReply; nothing else ---------------------------

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
        "type", "node", "vmid", "name", "status", "template", "tags", "lock", "maxmem", "maxcpu",
        "maxdisk", "cores", "sockets", "memory", "net0", "scsi0", "ide2", "boot", "bootdisk",
        "agent", "onboot", "description", "digest", "volid", "content", "size", "active",
        "shared", "enabled", "result", "name", "ip-addresses", "exitstatus", "total", "t",
    ]
)  # fmt: skip
OBJECTS = st.dictionaries(FIELDS, JSON, max_size=8)
QEMU = OBJECTS.map(lambda raw: {**raw, "type": "qemu"})
REPLIES = st.one_of(
    JSON,
    OBJECTS,
    st.lists(st.one_of(OBJECTS, QEMU), max_size=3),
    st.one_of(OBJECTS, st.lists(OBJECTS, max_size=3)).map(lambda data: {"data": data}),
)

#: Each parser and the type of what it returns.
PARSERS: list[tuple[Callable[[Any], Any], type | tuple[type, ...]]] = [
    (pve.parse_resources, tuple),
    (pve.parse_cluster_resources, pve.ClusterResources),
    (pve.parse_config, observed.VmConfig),
    (pve.config_values, dict),
    (lambda reply: pve.parse_vm_status(reply, 201), pve.VmStatus),
    (pve.parse_storage_items, tuple),
    (pve.parse_storage_content, tuple),
    (lambda reply: pve.parse_storage_status(reply, "local"), pve.StorageStatus),
    (pve.parse_interfaces, dict),
    (pve.parse_upid, pve.Upid),
    (pve.parse_task_status, pve.TaskStatus),
    (pve.parse_task_log, pve.TaskLog),
]


@settings(max_examples=300, deadline=None)
@given(REPLIES)
def test_every_parser_returns_its_type_or_raises_malformed_reply(reply: Any) -> None:
    for parse, kind in PARSERS:
        try:
            value = parse(reply)
        except pve.MalformedReply as error:
            assert error.message.strip(), "a MalformedReply says what was wrong"
            continue
        assert isinstance(value, kind), (parse, value)


def test_unfiltered_cluster_resources_give_guests_capacities_and_taken_vmids() -> None:
    """One unfiltered /cluster/resources (PVE 8 forms): QEMU guests only as VMs, LXC VMIDs still
    taken, node CPUs/memory and storages with their shared flag (offline nodes not judged)."""
    reply = {
        "data": [
            {"id": "qemu/201", "type": "qemu", "vmid": 201, "node": "pve", "name": "a",
             "status": "running", "template": 0, "maxmem": 2 * 1024**3, "maxcpu": 2},
            {"id": "lxc/202", "type": "lxc", "vmid": "202", "node": "pve", "name": "ct",
             "status": "running"},
            {"id": "node/pve", "type": "node", "node": "pve", "status": "online",
             "maxcpu": 16, "maxmem": 68719476736, "mem": 8 * 1024**3, "cpu": 0.05},
            {"id": "node/pve2", "type": "node", "node": "pve2", "status": "offline"},
            {"id": "storage/pve/local-lvm", "type": "storage", "node": "pve",
             "storage": "local-lvm", "status": "available", "shared": 0,
             "maxdisk": 400 * 1024**3, "disk": 100 * 1024**3, "plugintype": "lvmthin"},
            {"id": "storage/pve/ceph", "type": "storage", "node": "pve", "storage": "ceph",
             "status": "available", "shared": 1, "maxdisk": "1099511627776", "disk": 0},
            {"id": "sdn/pve/localnetwork", "type": "sdn", "node": "pve", "sdn": "localnetwork"},
        ]
    }  # fmt: skip
    got = pve.parse_cluster_resources(reply)
    assert [vm.vmid for vm in got.vms] == [201]
    assert got.guest_vmids == frozenset({201, 202})
    assert set(got.capacities) == {"pve"}
    node = got.capacities["pve"]
    assert (node.cpus, node.memory_bytes) == (16, 64 * 1024**3)
    assert node.storages["local-lvm"] == observed.StorageSpace(
        400 * 1024**3, 300 * 1024**3, shared=False
    )
    assert node.storages["ceph"] == observed.StorageSpace(1024**4, 1024**4, shared=True)
