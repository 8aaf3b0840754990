"""CPU and memory hotplug on the simulated PVE, with qemu-server's refusals and texts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sim.support import Api

VM = "/nodes/pve/qemu/101"
HOTPLUG = "network,disk,usb,cpu,memory"
MIB = 1024**2


def config(api: Api, **params: Any) -> dict[str, Any]:
    data: dict[str, Any] = api.ok("GET", f"{VM}/config", params=params)
    return data


def pending(api: Api) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in api.ok("GET", f"{VM}/pending")}


def status(api: Api) -> dict[str, Any]:
    data: dict[str, Any] = api.ok("GET", f"{VM}/status/current")
    return data


def listed(api: Api) -> dict[str, Any]:
    return next(e for e in api.ok("GET", "/cluster/resources") if e.get("vmid") == 101)


def running_vm(api: Api, **settings: Any) -> None:
    api.finish(api.clone(101))
    api.ok("PUT", f"{VM}/config", data=settings)
    api.finish(api.ok("POST", f"{VM}/status/start"))
    assert status(api)["status"] == "running"


@pytest.fixture
def hot(api: Api) -> Api:
    running_vm(api, hotplug=HOTPLUG, numa=1, cores=4, vcpus=2, memory="4096")
    return api


def test_vcpus_and_memory_are_plugged_into_the_running_vm(hot: Api) -> None:
    hot.ok("PUT", f"{VM}/config", data={"vcpus": 3, "memory": "6144"})
    current = config(hot, current=1)
    assert (current["vcpus"], current["memory"]) == (3, "6144")
    assert "pending" not in pending(hot)["vcpus"] and "pending" not in pending(hot)["memory"]
    assert (status(hot)["cpus"], status(hot)["maxmem"]) == (3, 6144 * MIB)
    assert (listed(hot)["maxcpu"], listed(hot)["maxmem"]) == (3, 6144 * MIB)


def test_memory_grows_by_whole_dimms(hot: Api) -> None:
    hot.ok("PUT", f"{VM}/config", data={"memory": "5000"})
    assert config(hot, current=1)["memory"] == "5120"  # 1024 + 8 DIMMs of 512 MiB
    hot.ok("PUT", f"{VM}/config", data={"memory": "5120"})  # the same: nothing to plug
    assert "pending" not in pending(hot)["memory"]


def test_more_vcpus_than_sockets_times_cores_fails_the_key(hot: Api) -> None:
    refused = hot.call("PUT", f"{VM}/config", data={"vcpus": 5, "name": "renamed"})
    assert (refused.status_code, refused.reason_phrase) == (400, "Parameter verification failed.")
    assert refused.json()["errors"] == {
        "vcpus": "hotplug problem - you can't add more vcpus than maxcpus"
    }
    assert pending(hot)["vcpus"] == {"key": "vcpus", "value": 2, "pending": 5}
    assert config(hot, current=1)["name"] == "renamed"  # the other keys are written
    assert status(hot)["cpus"] == 2


def test_a_failed_hotplug_in_a_task_is_its_exit_status(hot: Api) -> None:
    upid = hot.ok("POST", f"{VM}/config", data={"vcpus": 8})
    assert hot.finish(upid)["exitstatus"] == (
        "400 Parameter verification failed. "
        "vcpus: hotplug problem - you can't add more vcpus than maxcpus"
    )


def test_cores_and_sockets_stay_pending(hot: Api) -> None:
    hot.ok("PUT", f"{VM}/config", data={"cores": 8, "sockets": 1})
    assert pending(hot)["cores"]["pending"] == 8
    assert status(hot)["cpus"] == 2


@pytest.mark.parametrize(
    ("memory", "text"),
    [
        ("600000", "you cannot add more memory than max mem 524288 MB!"),
        ("512", "memory can't be lower than 1024 MB"),
        ("2048", "400 Parameter verification failed.\ndimm5: error unplug memory module"),
    ],
)
def test_memory_beyond_the_limits_or_an_unplug_fails(hot: Api, memory: str, text: str) -> None:
    refused = hot.call("PUT", f"{VM}/config", data={"memory": memory})
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"memory": f"hotplug problem - {text}"}
    assert pending(hot)["memory"]["pending"] == memory
    assert status(hot)["maxmem"] == 4096 * MIB


def test_a_change_of_hotplug_naming_cpu_or_memory_waits_for_a_restart(api: Api) -> None:
    running_vm(api, memory="4096")
    api.ok("PUT", f"{VM}/config", data={"hotplug": HOTPLUG, "numa": 1, "memory": "6144"})
    waiting = pending(api)
    assert waiting["hotplug"]["pending"] == HOTPLUG and "value" not in waiting["hotplug"]
    assert waiting["numa"]["pending"] == 1 and waiting["memory"]["pending"] == "6144"
    assert status(api)["maxmem"] == 4096 * MIB
    api.finish(api.ok("POST", f"{VM}/status/reboot"))
    assert status(api)["maxmem"] == 6144 * MIB
    api.ok("PUT", f"{VM}/config", data={"memory": "8192"})  # now started with it: plugged
    assert status(api)["maxmem"] == 8192 * MIB


def test_a_change_of_hotplug_without_cpu_or_memory_applies_at_once(api: Api) -> None:
    running_vm(api)
    api.ok("PUT", f"{VM}/config", data={"hotplug": "network,disk"})
    assert config(api, current=1)["hotplug"] == "network,disk"


def test_without_the_features_vcpus_and_memory_stay_pending(api: Api) -> None:
    running_vm(api, cores=4, memory="4096")
    api.ok("PUT", f"{VM}/config", data={"vcpus": 2, "memory": "8192"})
    assert pending(api)["vcpus"]["pending"] == 2 and pending(api)["memory"]["pending"] == "8192"
    assert (status(api)["cpus"], status(api)["maxmem"]) == (4, 4096 * MIB)


@pytest.mark.parametrize(
    ("settings", "text"),
    [
        ({"hotplug": "memory"}, "NUMA needs to be enabled for memory hotplug"),
        ({"hotplug": "memory", "numa": 1, "memory": "512"}, "minimum memory must be 1024MB"),
        (
            {"hotplug": "memory", "numa": 1, "memory": "600000"},
            "Total memory is bigger than 524288MB",
        ),
    ],
)
def test_a_memory_hotplug_vm_starts_only_with_numa_and_1024_mib(
    api: Api, settings: dict[str, Any], text: str
) -> None:
    api.finish(api.clone(101))
    api.ok("PUT", f"{VM}/config", data=settings)
    assert api.finish(api.ok("POST", f"{VM}/status/start"))["exitstatus"] == text
    assert status(api)["status"] == "stopped"
