"""Apply's hotplug path against the simulated PVE: a refused hotplug and one that did not take
effect are errors naming the VM and the key (nothing restarted); a restart holds back what the
running VM would unplug and writes it while the VM is stopped."""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from homelab.core.desired import DesiredVm, desired_vms
from homelab.core.plan.actions import Change, UpdateVm
from homelab.engine.apply import hotplug, steps
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import VmRef
from homelab.engine.apply.vmconfig import held_for_restart, hotplug_value
from homelab.engine.clock import Clock
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.errors import ApiError
from homelab.engine.proxmox.privileges import (
    HOTPLUG_ROLE,
    PVE_MAJORS,
    TOKEN_ID,
    backup_commands,
    grants,
    role_privileges,
)
from homelab.errors import LabError
from homelab.simulated.access import least_privileged
from homelab_sim.pve.simulator import PveSimulator
from homelab_sim.transport import SimTransport
from tests.apply.support import Lab, new_sim, root_client, settings_for

README = Path(__file__).resolve().parents[2] / "README.md"
REF = VmRef("k8s-worker-2", "pve", 201)
HOTPLUG = "network,disk,usb,cpu,memory"
_TOKENS = itertools.count(1)


def runtime(lab: Lab, sim: PveSimulator) -> Runtime:
    """The tool's client with exactly the documented grants of a lab with hotplug."""
    transport = SimTransport(sim)
    settings = least_privileged(
        settings_for(sim),
        "local",
        transport=transport,
        tokenid=f"{TOKEN_ID.split('!')[0]}!hotplug{next(_TOKENS)}",
        hotplug=True,
    )
    client = PveClient(settings, transport=transport)
    return lab.runtime(client, Clock.scaled(sim.clock.time_scale))


def running_vm(sim: PveSimulator, want: DesiredVm, **settings: Any) -> None:
    root = root_client(sim)
    root.wait_task(root.clone("pve", 9000, 201, name=want.name, full=False))
    root.update_config("pve", 201, description=want.description, **settings)
    root.wait_task(root.start("pve", 201))
    root.close()


def update(want: DesiredVm, *changes: Change) -> UpdateVm:
    return UpdateVm(REF.name, "pve", "settings differ", 201, changes, False, want, "")


def wanted(lab: Lab, **fields: Any) -> DesiredVm:
    want = desired_vms(lab.ctx.spec, lab.ctx.seed_digests)["k8s-worker-2"]
    return dataclasses.replace(want, **fields)


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> list[VmRef]:
    """The guests given the udev rule (these VMs boot without a seed, so without an agent; the
    rule's way into a real guest is tested on the simulated lab, test_hotplug_sim.py)."""
    written: list[VmRef] = []
    monkeypatch.setattr(hotplug, "write_online_rule", lambda _rt, ref: written.append(ref))
    return written


def test_a_refused_hotplug_names_the_vm_and_the_key(lab: Lab, rules: list[VmRef]) -> None:
    sim = new_sim()
    want = wanted(lab, cores=3, max_cores=4, hotplug=("cpu", "memory"))
    # it runs 2 of 2 cores: PVE cannot plug a third before the restart that makes them 4
    running_vm(sim, want, hotplug=HOTPLUG, numa=1, cores=2, vcpus=2, memory="4096")
    action = update(want, Change("vcpus (hotplug)", 2, 3))
    with pytest.raises(LabError) as caught:
        hotplug.configure(runtime(lab, sim), REF, action)
    assert caught.value.message == (
        "vm k8s-worker-2: Proxmox refused to hotplug vcpus (vcpus: hotplug problem - you can't "
        "add more vcpus than maxcpus); the new value stays pending in Proxmox, so the next run "
        "plans it as a restart with drain"
    )
    vm = sim.state.vms[201]
    assert vm.pending["vcpus"] == 3 and vm.status == "running"
    assert rules == [REF]  # before the hotplug


def test_a_hotplug_that_did_not_take_effect_is_an_error(lab: Lab, rules: list[VmRef]) -> None:
    sim = new_sim()
    want = wanted(lab, memory_mib=6144, hotplug=("memory",))
    # started without memory hotplug (the plan could not tell: /config shows pending values)
    running_vm(sim, want, numa=1, memory="4096")
    sim_vm = sim.state.vms[201]
    sim_vm.pending["hotplug"] = "network,disk,usb,memory"
    action = update(want, Change("memory (hotplug)", 4096, 6144))
    with pytest.raises(LabError, match=r"the hotplug did not take effect \(memory: it runs "):
        hotplug.configure(runtime(lab, sim), REF, action)
    assert sim_vm.pending["memory"] == "6144" and sim_vm.status == "running"


def test_a_restart_writes_the_unplug_while_the_vm_is_stopped(lab: Lab, rules: list[VmRef]) -> None:
    sim = new_sim()
    want = wanted(lab, cores=2, memory_mib=4096, max_cores=4, hotplug=("cpu", "memory"))
    running_vm(sim, want, hotplug=HOTPLUG, numa=1, cores=4, vcpus=3, memory="6144")
    rt = runtime(lab, sim)
    action = update(want, Change("vcpus", 3, 2, True), Change("memory", 6144, 4096, True))
    assert hotplug.holds_back(action)
    hotplug.configure(rt, REF, action)  # sent now, PVE would take DIMMs from the running guest
    vm = sim.state.vms[201]
    assert (vm.config["vcpus"], vm.config["memory"]) == (3, "6144")
    assert "memory" not in vm.pending and "vcpus" not in vm.pending
    steps.restart_vm(rt, REF, want)
    assert (vm.config["vcpus"], str(vm.config["memory"])) == (2, "4096")
    assert vm.status == "running" and rules == []  # nothing hotplugged


def test_a_guest_without_an_agent_gets_nothing_plugged(lab: Lab) -> None:
    sim = new_sim()
    want = wanted(lab, cores=3, max_cores=4, hotplug=("cpu", "memory"))
    running_vm(sim, want, hotplug=HOTPLUG, numa=1, cores=4, vcpus=2, memory="4096")
    rt = runtime(lab, sim)
    rt = dataclasses.replace(rt, limits=dataclasses.replace(rt.limits, agent_timeout=1.0))
    with pytest.raises(LabError, match="the udev rule that brings hotplugged CPUs and memory"):
        hotplug.configure(rt, REF, update(want, Change("vcpus (hotplug)", 2, 3)))
    assert sim.state.vms[201].config["vcpus"] == 2


@pytest.mark.parametrize("major", PVE_MAJORS)
def test_readme_shows_the_hotplug_role(major: int) -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Using a real Proxmox VE", 1)[1].split("\n## ", 1)[0]
    blocks = [
        [line for line in block.splitlines() if line.startswith("pveum ")]
        for block in re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    ]
    assert list(backup_commands(major, HOTPLUG_ROLE)) in blocks
    assert role_privileges(major, HOTPLUG_ROLE) == {"VM.Config.HWType"}
    assert [g.role for g in grants(major, "local", hotplug=True)][-1] == HOTPLUG_ROLE
    assert HOTPLUG_ROLE not in [g.role for g in grants(major, "local")]


@pytest.mark.parametrize(
    ("current", "wanted", "value"),
    [
        (("disk", "network", "usb"), ("cpu", "memory"), "network,disk,usb,cpu,memory"),
        (("cpu", "disk", "memory"), (), "disk"),
        (("cpu",), (), "0"),
        (("disk", "network"), (), None),
        (("cpu", "network"), ("cpu",), None),
    ],
)
def test_hotplug_value_keeps_the_users_features(
    current: tuple[str, ...], wanted: tuple[str, ...], value: str | None
) -> None:
    assert hotplug_value(current, wanted) == value


@pytest.mark.parametrize(
    ("changes", "held"),
    [
        ({"vcpus": "2", "memory": "4096"}, ("vcpus", "memory")),  # unplugs
        ({"vcpus": "5"}, ("vcpus",)),  # more than the running cores (4)
        ({"vcpus": "4", "memory": "8192"}, ()),  # growths PVE plugs
        ({"cores": "8"}, ()),
    ],
)
def test_held_for_restart(changes: dict[str, str], held: tuple[str, ...]) -> None:
    raw = {"hotplug": HOTPLUG, "numa": "1", "cores": "4", "vcpus": "3", "memory": "6144"}
    assert held_for_restart(raw, changes) == held
    assert held_for_restart({**raw, "hotplug": "network,disk,usb"}, changes) == ()


def test_vcpus_left_pending_and_other_refusals(lab: Lab, rules: list[VmRef]) -> None:
    sim = new_sim()
    want = wanted(lab, cores=3, max_cores=4, hotplug=("cpu",))
    running_vm(sim, want, cores=4, vcpus=2, memory="4096")  # started without CPU hotplug
    sim.state.vms[201].pending["hotplug"] = "network,disk,usb,cpu"
    rt = runtime(lab, sim)
    action = update(want, Change("vcpus (hotplug)", 2, 3))
    with pytest.raises(LabError, match=r"did not take effect \(vcpus: it runs 2 CPUs, not 3\)"):
        hotplug.configure(rt, REF, action)
    sim.state.vms[201].config["lock"] = "backup"
    with pytest.raises(ApiError, match=r"VM is locked \(backup\)") as caught:
        hotplug.configure(rt, REF, update(wanted(lab, cores=4, max_cores=4, hotplug=("cpu",))))
    assert "hotplug" not in caught.value.message
