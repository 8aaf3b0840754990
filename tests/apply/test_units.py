"""Small parts of the engine on their own: config keys, VMIDs, progress sinks, observation."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console

from homelab.core.desired import DesiredVm, desired_vms
from homelab.engine.apply.progress import LiveTable, PlainLines, ProgressEvent
from homelab.engine.apply.runtime import Limits, Runtime
from homelab.engine.apply.steps import clone_vm, find_vm_template
from homelab.engine.apply.vmconfig import config_changes, desired_tags, net0_value
from homelab.engine.apply.vmids import VmidAllocator, VmidExhausted
from homelab.engine.observe import observe_lab
from homelab.engine.proxmox.tasks import TaskResult, TaskWaits
from tests.apply.support import FAST, Lab, guests, inprocess, new_sim


@pytest.fixture
def want(lab: Lab) -> DesiredVm:
    return desired_vms(lab.ctx.spec, lab.ctx.seed_digests)["k8s-worker-2"]


def test_net0_keeps_model_mac_and_options_and_sets_bridge_and_tag(want: DesiredVm) -> None:
    current = "virtio=BC:24:11:00:00:01,bridge=vmbr9,firewall=1,rate=10"
    assert (
        net0_value(current, want)
        == "virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=20,firewall=1,rate=10"
    )
    assert net0_value(current, want, "02:aa:bb:cc:dd:ee").startswith("virtio=02:AA:BB:CC:DD:EE,")
    assert net0_value(None, want) == "virtio,bridge=vmbr0,tag=20"


def test_config_changes_are_empty_once_in_place(want: DesiredVm) -> None:
    raw = {
        "name": "k8s-worker-2",
        "cores": "1",
        "memory": "2048",
        "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0",
        "tags": "Mine",
    }
    changes = config_changes(want, raw)
    assert set(changes) == {"cores", "memory", "agent", "onboot", "tags", "description", "net0"}
    assert changes["tags"] == "homelab;lab-home-lab;Mine;role-worker"
    applied = {**raw, **changes}
    assert config_changes(want, applied) == {}


def test_user_tags_survive(want: DesiredVm) -> None:
    assert (
        desired_tags(want, "zeta;HomeLab;lab-old;alpha")
        == "alpha;homelab;lab-home-lab;role-worker;zeta"
    )


def test_vmid_allocator_hands_out_distinct_ids_under_threads() -> None:
    allocator = VmidAllocator(range(200, 300), taken=[200, 203])
    got: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        vmid = allocator.take()
        with lock:
            got.append(vmid)

    threads = [threading.Thread(target=take) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(got)) == 50 and not {200, 203} & set(got)
    assert allocator.take(pinned=555) == 555


def test_vmid_allocator_says_when_the_range_is_used_up() -> None:
    allocator = VmidAllocator(range(200, 202), taken=[200])
    assert allocator.take() == 201
    with pytest.raises(VmidExhausted, match="200-201"):
        allocator.take()


def test_a_vmid_collision_moves_to_the_next_free_one(lab: Lab) -> None:
    """Proxmox cannot reserve a VMID: one taken after the observation makes the clone fail with
    'already exists'; the clone moves on and the VM at the taken VMID is left alone."""
    sim = new_sim()
    conn = inprocess(sim)
    observed = observe_lab(conn.client, lab.ctx.spec)
    conn.client.wait_task(conn.client.clone("pve", 9000, 200, name="someone-else", full=False))
    rt = Runtime(
        client=conn.client,
        journal=lab.ctx.store.intents(lab.ctx.lab),
        lab=lab.ctx.lab,
        iso_storage="local",
        seeds=lab.ctx.artifacts.seeds,
        allocator=VmidAllocator(range(200, 300), taken=[vm.vmid for vm in observed.vms]),
        limits=FAST,
        clock=conn.clock,
    )
    want = desired_vms(lab.ctx.spec, lab.ctx.seed_digests)["k8s-worker-2"]
    ref = clone_vm(rt, want, find_vm_template(observed, want))
    assert ref.vmid == 201
    assert {vm.vmid: str(vm.config["name"]) for vm in guests(sim)} == {
        200: "someone-else",
        201: "k8s-worker-2",
    }
    assert lab.ctx.store.intents(lab.ctx.lab).all()["vm/k8s-worker-2"]["vmid"] == 201


def test_apply_waits_for_tasks_through_the_client_with_its_own_limits(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One task path: apply's tasks are the client's run_task/wait_task, with apply's waits."""
    conn = inprocess(new_sim())
    waited: list[TaskWaits | None] = []
    wait_task = conn.client.wait_task

    def spy(upid: str, waits: TaskWaits | None = None) -> TaskResult:
        waited.append(waits)
        return wait_task(upid, waits)

    monkeypatch.setattr(conn.client, "wait_task", spy)
    rt = Runtime(
        client=conn.client,
        journal=lab.ctx.store.intents(lab.ctx.lab),
        lab=lab.ctx.lab,
        iso_storage="local",
        seeds=lab.ctx.artifacts.seeds,
        allocator=VmidAllocator(range(200, 300), taken=[]),
        limits=Limits(task_timeout=99.0, poll=0.1, poll_cap=0.2),
        clock=conn.clock,
    )
    result = rt.run_task(lambda: conn.client.clone("pve", 9000, 250, name="a", full=False), "x")
    assert result is not None and result.upid.type == "qmclone"
    assert waited == [TaskWaits(timeout=99.0, poll=0.1, poll_cap=0.2)]


def test_plain_lines_and_the_live_table_show_events() -> None:
    lines: list[str] = []
    sink = PlainLines(lines.append)
    sink(ProgressEvent("k8s-master-1", "clone", "running"))
    sink(ProgressEvent("k8s-master-1", "clone", "done", "vmid 200"))
    sink(ProgressEvent("k8s-master-1", "start", "skipped"))
    assert lines == ["k8s-master-1: clone running", "k8s-master-1: clone done (vmid 200)"]
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with LiveTable(["k8s-master-1", "k8s-worker-2"], console) as table:
        table(ProgressEvent("k8s-master-1", "clone", "done"))
        table(ProgressEvent("k8s-worker-2", "seed", "failed", "upload refused"))
    text = buffer.getvalue()
    assert "k8s-worker-2" in text and "upload refused" in text and "✓" in text and "✗" in text
