"""CPU and memory hotplug on a running node, on the simulator over the wire.

k8s-worker-2 is made with ``hotplug: [cpu, memory]`` and ``max_cores: 4``: a growth of its cores
and memory is written into the running VM (vcpus, DIMMs), with no drain and no restart; the
new size shows in /status/current and /cluster/resources, the next plan is a no-op.
k8s-worker-3 has no hotplug: the same growth is a restart with drain, and enabling hotplug on
it is one too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab.core.plan.actions import Change, NoOp, UpdateVm
from homelab.engine.apply import hotplug
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.proxmox.session import PveSession
from homelab.simulated.site import SimulatedSite
from homelab.verbs.lab import make_plan, prepare_lab
from tests.up.simlab import Upped, copy_example, ready_nodes, upped
from tests.up.workload import RECORDER, apply, node

GIB = 1024**3
HOT = "k8s-worker-2: {role: worker, cores: 2, memory: 4GiB, hotplug: [cpu, memory], max_cores: 4,"
PLAIN = "k8s-worker-3: {role: worker, cores: 2, memory: 4GiB,"


def hot_spec(folder: Path) -> Path:
    """The reference lab with hotplug on k8s-worker-2 (its token gets the hotplug role)."""
    spec = copy_example("home-lab.yaml", folder)
    respec(spec, "k8s-worker-2: {role: worker, cores: 2, memory: 4GiB,", HOT)
    return spec


@pytest.fixture(scope="module")
def home_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upped]:
    with upped(hot_spec(tmp_path_factory.mktemp("hotplug"))) as lab:
        yield lab


def respec(spec: Path, old: str, new: str) -> None:
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))


def hardware(update: UpdateVm) -> list[Change]:
    """The changes but the description (its record carries the settings digest)."""
    return [c for c in update.changes if c.key != "description"]


def pve_get(lab: Upped, path: str) -> object:
    site = lab.conn.site
    assert isinstance(site, SimulatedSite)
    session = PveSession(site.settings)
    try:
        return session.request("GET", path)["data"]
    finally:
        session.close()


def status(lab: Upped, name: str) -> dict[str, object]:
    (vm,) = [v for v in lab.conn.client.cluster_vms() if v.name == name]
    data = pve_get(lab, f"/nodes/{vm.node}/qemu/{vm.vmid}/status/current")
    assert isinstance(data, dict)
    return data


def resources(lab: Upped, name: str) -> dict[str, object]:
    data = pve_get(lab, "/cluster/resources?type=vm")
    assert isinstance(data, list)
    (entry,) = [e for e in data if e.get("name") == name]
    return dict(entry)


def test_a_grown_node_with_hotplug_is_neither_drained_nor_restarted(home_lab: Upped) -> None:
    spec = home_lab.ctx.spec_path
    before = status(home_lab, "k8s-worker-2")
    assert (before["cpus"], before["maxmem"]) == (2, 4 * GIB)
    respec(spec, HOT, HOT.replace("cores: 2, memory: 4GiB", "cores: 3, memory: 6GiB"))
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(home_lab.conn, ctx)
        (update,) = [a for a in plan.actions if not isinstance(a, NoOp)]
        assert isinstance(update, UpdateVm) and update.vm == "k8s-worker-2"
        assert not update.restart and not update.drain
        assert {(c.key, c.old, c.new, c.restart) for c in hardware(update)} == {
            ("vcpus (hotplug)", 2, 3, False),
            ("memory (hotplug)", 4096, 6144, False),
        }
        RECORDER.events.clear()
        outcome = apply(home_lab, ctx)
        assert outcome.report is not None and outcome.report.ok, outcome.report
        phases = {e.phase for e in RECORDER.events if e.vm == "k8s-worker-2"}
        assert "drain" not in phases and "ready" not in phases, phases
        after = status(home_lab, "k8s-worker-2")
        assert (after["cpus"], after["maxmem"]) == (3, 6 * GIB)
        assert after["pid"] == before["pid"]
        assert int(str(after["uptime"])) >= int(str(before["uptime"])), "not restarted"
        ref = next(v for v in home_lab.conn.client.cluster_vms() if v.name == "k8s-worker-2")
        channel = GuestChannel(home_lab.conn.client, home_lab.conn.clock)
        rule = channel.read_file(ref.node, ref.vmid, hotplug.RULES_FILE).decode()
        assert rule == hotplug.ONLINE_RULE  # the guest brings what is plugged online
        listed = resources(home_lab, "k8s-worker-2")
        assert (listed["maxcpu"], listed["maxmem"]) == (3, 6 * GIB)
        with home_lab.api() as api:
            assert not node(api, "k8s-worker-2")["spec"].get("unschedulable")
        assert "k8s-worker-2" in ready_nodes(home_lab)
        again, _ = make_plan(home_lab.conn, ctx)
        assert not again.has_changes, again.actions
    finally:
        ctx.close()
    shrink_back(home_lab)


def shrink_back(lab: Upped) -> None:
    """Less memory and fewer cores even with hotplug: a restart with drain, the unplug written
    while the VM is stopped (sent to the running VM, the simulated guest keeps its DIMMs and
    PVE answers 400 "error unplug memory module")."""
    spec = lab.ctx.spec_path
    respec(spec, HOT.replace("cores: 2, memory: 4GiB", "cores: 3, memory: 6GiB"), HOT)
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(lab.conn, ctx)
        (update,) = [a for a in plan.actions if not isinstance(a, NoOp)]
        assert isinstance(update, UpdateVm), update
        assert update.vm == "k8s-worker-2" and update.restart and update.drain
        assert {(c.key, c.new, c.restart) for c in hardware(update)} == {
            ("vcpus", 2, True),
            ("memory", 4096, True),
        }
        RECORDER.events.clear()
        outcome = apply(lab, ctx)
        assert outcome.report is not None and outcome.report.ok, outcome.report
        phases = [(e.phase, e.status) for e in RECORDER.events if e.vm == "k8s-worker-2"]
        assert phases.index(("drain", "done")) < phases.index(("start", "done"))
        after = status(lab, "k8s-worker-2")
        assert (after["cpus"], after["maxmem"]) == (2, 4 * GIB)
        again, _ = make_plan(lab.conn, ctx)
        assert not again.has_changes, again.actions
    finally:
        ctx.close()


def test_without_hotplug_the_same_growth_is_a_drained_restart(home_lab: Upped) -> None:
    spec = home_lab.ctx.spec_path
    respec(spec, PLAIN, PLAIN.replace("cores: 2, memory: 4GiB", "cores: 3, memory: 6GiB"))
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(home_lab.conn, ctx)
        (update,) = [a for a in plan.actions if not isinstance(a, NoOp)]
        assert isinstance(update, UpdateVm) and update.vm == "k8s-worker-3"
        assert update.restart and update.drain
        assert {(c.key, c.restart) for c in hardware(update)} == {("cores", True), ("memory", True)}
    finally:
        ctx.close()
    respec(spec, PLAIN.replace("cores: 2, memory: 4GiB", "cores: 3, memory: 6GiB"), PLAIN)


def test_enabling_hotplug_on_a_running_node_is_a_drained_restart(tmp_path: Path) -> None:
    with upped(hot_spec(tmp_path)) as lab:
        enable_hotplug(lab)


def enable_hotplug(home_lab: Upped) -> None:
    spec = home_lab.ctx.spec_path
    respec(spec, PLAIN, PLAIN.replace("4GiB,", "4GiB, hotplug: [memory],"))
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(home_lab.conn, ctx)
        (update,) = [a for a in plan.actions if not isinstance(a, NoOp)]
        assert isinstance(update, UpdateVm) and update.vm == "k8s-worker-3"
        assert update.restart and update.drain
        assert {(c.key, c.new, c.restart) for c in hardware(update)} == {
            ("hotplug", "disk,memory,network,usb", True),
            ("numa", True, True),
        }
        outcome = apply(home_lab, ctx)
        assert outcome.report is not None and outcome.report.ok, outcome.report
        again, _ = make_plan(home_lab.conn, ctx)
        assert not again.has_changes, again.actions
    finally:
        ctx.close()
    # restarted with memory hotplug (and NUMA), it now takes DIMMs while running
    enabled = PLAIN.replace("4GiB,", "4GiB, hotplug: [memory],")
    respec(spec, enabled, enabled.replace("4GiB", "6GiB"))
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(home_lab.conn, ctx)
        (update,) = [a for a in plan.actions if not isinstance(a, NoOp)]
        assert isinstance(update, UpdateVm) and not update.restart and not update.drain
        assert [c.key for c in hardware(update)] == ["memory (hotplug)"]
        outcome = apply(home_lab, ctx)
        assert outcome.report is not None and outcome.report.ok, outcome.report
        assert status(home_lab, "k8s-worker-3")["maxmem"] == 6 * GIB
    finally:
        ctx.close()
