"""The plan's hotplug decisions (pure): a growth PVE plugs into the running VM is in place with
no restart (so no drain); everything else about cores and memory is a restart."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from homelab.core.desired import DesiredVm, desired_vms
from homelab.core.doctor import required_privileges
from homelab.core.observed import ObservedVm
from homelab.core.plan.actions import Change, CreateVm
from homelab.core.plan.capacity import (
    GIB,
    NodeCapacity,
    check_capacity,
    demands_from_plan,
    demands_from_spec,
)
from homelab.core.plan.diff import diff_hardware, hot_growth
from homelab.core.pve_reply import MalformedReply, parse_config, parse_hotplug
from homelab.engine.proxmox.privileges import LAB_ROLE, SEED_ROLE, role_privileges
from tests.plan.labs import make_spec, seeds_for, spec_data

HOTPLUG = "network,disk,usb,cpu,memory"


def desired(**fields: Any) -> DesiredVm:
    data = spec_data()
    data["vms"]["k8s-worker-2"].update(fields)
    spec = make_spec(data)
    return desired_vms(spec, seeds_for(spec))["k8s-worker-2"]


def observed(status: str = "running", cpus: int = 2, memory: int = 4096) -> ObservedVm:
    return ObservedVm(
        vmid=201, name="k8s-worker-2", node="pve", status=status, template=False, lock=None,
        tags=(), maxmem_mib=memory, cores=cpus, disk_gib=32,
    )  # fmt: skip


def config(**raw: Any) -> Any:
    base: dict[str, Any] = {"cores": 4, "vcpus": 2, "sockets": 1, "memory": "4096"}
    base.update(hotplug=HOTPLUG, numa=1, agent="1")
    base.update(raw)
    return parse_config({k: v for k, v in base.items() if v is not None})


def changes(want: DesiredVm, vm: ObservedVm, cfg: Any) -> set[tuple[str, Any, Any, bool]]:
    return {(c.key, c.old, c.new, c.restart) for c in diff_hardware(want, vm, cfg)}


HOT = {"hotplug": ["cpu", "memory"], "max_cores": 4}


def test_a_growth_with_hotplug_is_in_place_without_restart() -> None:
    want = desired(cores=3, memory=6144, **HOT)
    assert changes(want, observed(), config()) == {
        ("vcpus (hotplug)", 2, 3, False),
        ("memory (hotplug)", 4096, 6144, False),
    }


def test_growing_to_max_cores_is_still_hotplug() -> None:
    want = desired(cores=4, **HOT)
    assert changes(want, observed(), config()) == {("vcpus (hotplug)", 2, 4, False)}


def test_a_stopped_vm_takes_everything_at_its_start() -> None:
    want = desired(cores=3, memory=6144, **HOT)
    assert changes(want, observed("stopped"), config()) == {
        ("vcpus", 2, 3, False),
        ("memory", 4096, 6144, False),
    }


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"hotplug": "network,disk,usb,cpu"}, "memory"),  # started without memory hotplug
        ({"numa": 0}, "memory"),  # no DIMMs without NUMA
        ({"hotplug": "network,disk,usb,memory"}, "vcpus"),  # started without CPU hotplug
    ],
)
def test_a_growth_without_the_feature_is_a_restart(raw: dict[str, Any], key: str) -> None:
    want = desired(cores=3, memory=6144, **HOT)
    found = {c.key: c for c in diff_hardware(want, observed(), config(**raw))}
    assert found[key].restart and key in found
    assert {k for k, c in found.items() if not c.restart} <= {"vcpus (hotplug)", "memory (hotplug)"}


def test_a_value_left_pending_is_a_restart() -> None:
    # memory 6144 was written but not plugged (PVE shows it in /config, runs 4096)
    want = desired(cores=2, memory=8192, **HOT)
    assert changes(want, observed(), config(memory="6144")) == {("memory", 4096, 8192, True)}
    assert changes(desired(cores=3, **HOT), observed(cpus=2), config(vcpus=3)) == {
        ("vcpus", 2, 3, True)
    }


def test_a_shrink_is_a_restart() -> None:
    want = desired(cores=2, memory=4096, **HOT)
    cfg = config(vcpus=3, memory="6144")
    assert changes(want, observed(cpus=3, memory=6144), cfg) == {
        ("vcpus", 3, 2, True),
        ("memory", 6144, 4096, True),
    }


def test_more_than_the_running_cores_is_a_restart() -> None:
    want = desired(cores=6, hotplug=["cpu"], max_cores=8)
    assert changes(want, observed(), config(hotplug="network,disk,usb,cpu")) == {
        ("cores", 4, 8, True),
        ("vcpus", 2, 6, True),
    }


def test_enabling_hotplug_is_a_restart() -> None:
    want = desired(cores=2, memory=4096, **HOT)
    cfg = parse_config({"cores": 2, "sockets": 1, "memory": "4096", "agent": "1"})
    assert changes(want, observed(), cfg) == {
        ("cores", 2, 4, True),  # 2 of them run (vcpus), not a change to the running count
        ("hotplug", "disk,network,usb", "cpu,disk,memory,network,usb", True),
        ("numa", False, True, True),
    }


def test_disabling_hotplug_keeps_the_users_features_and_runs_every_core() -> None:
    want = desired(cores=2, memory=4096)
    assert changes(want, observed(), config(hotplug="network,disk,cpu,memory")) == {
        ("cores", 4, 2, True),
        ("hotplug", "cpu,disk,memory,network", "disk,network", True),
    }


def test_without_hotplug_nothing_new_is_compared() -> None:
    want = desired(cores=2, memory=4096)
    cfg = parse_config({"cores": 2, "sockets": 1, "memory": "4096", "agent": "1", "hotplug": "0"})
    assert diff_hardware(want, observed(), cfg) == ()
    assert hot_growth(cfg, "cpu") is False


def test_the_digest_changes_only_with_hotplug() -> None:
    plain = desired()
    assert "hotplug" not in plain.settings() and "hotplug" not in plain.to_dict()
    hot = desired(**HOT)
    assert hot.settings()["hotplug"] == ["cpu", "memory"] and hot.digest != plain.digest
    assert DesiredVm.from_dict(hot.to_dict()) == hot
    assert DesiredVm.from_dict(plain.to_dict()) == plain
    assert replace(hot, max_cores=None).topology_cores == hot.cores


def test_change_is_the_plans_type() -> None:
    (change,) = diff_hardware(desired(cores=3, **HOT), observed(), config())
    assert isinstance(change, Change)


def test_max_cores_counts_against_the_nodes_cpus() -> None:
    # PVE starts the VM with max_cores (sockets*cores) and refuses more than the node has
    data = spec_data()
    data["vms"]["k8s-worker-2"].update(cores=2, hotplug=["cpu"], max_cores=16)
    spec = make_spec(data)
    node = NodeCapacity("pve", 8, 64 * GIB)
    (issue,) = check_capacity(demands_from_spec(spec), {"pve": node})
    assert "vm k8s-worker-2: 16 cores, but node pve has 8 CPUs" in issue.message
    want = desired_vms(spec, seeds_for(spec))
    create = CreateVm("k8s-worker-2", "pve", "not found", want["k8s-worker-2"])
    assert [d.cores for d in demands_from_plan([create], want)] == [16]


@pytest.mark.parametrize(
    ("value", "features"),
    [
        (None, ("disk", "network", "usb")),
        ("1", ("disk", "network", "usb")),
        (1, ("disk", "network", "usb")),
        ("0", ()),
        (0, ()),
        ("memory,cpu,network", ("cpu", "memory", "network")),
    ],
)
def test_hotplug_reads_as_qemu_server_parses_it(value: Any, features: tuple[str, ...]) -> None:
    assert parse_hotplug(value) == features


def test_an_unknown_hotplug_feature_is_a_malformed_reply() -> None:
    with pytest.raises(MalformedReply, match="unknown feature gpu"):
        parse_hotplug("cpu,gpu")


def test_doctor_asks_for_hwtype_only_in_a_lab_with_hotplug() -> None:
    roles = (role_privileges(8, LAB_ROLE), role_privileges(8, SEED_ROLE))
    data = spec_data()
    plain = {(r.path, r.name) for r in required_privileges(make_spec(data), *roles)}
    assert ("/vms", "VM.Config.HWType") not in plain
    data["vms"]["k8s-worker-2"]["hotplug"] = ["memory"]
    hot = {(r.path, r.name) for r in required_privileges(make_spec(data), *roles)}
    assert hot - plain == {("/vms", "VM.Config.HWType")}
