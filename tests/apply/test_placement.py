"""Against the simulator: the plan finds, before anything changes, a VM placed on a node with no
usable template, a template carrying its own cloud-init drive off ide2, and a VM bigger than its
node; and a clone Proxmox refuses is reported at once with Proxmox's reason, not retried."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from homelab.core.desired import desired_vms
from homelab.core.plan.placement import placement_problems
from homelab.engine.apply.runtime import Runtime
from homelab.engine.apply.steps import Template, clone_vm
from homelab.engine.apply.vmids import VmidAllocator
from homelab.engine.observe import observe_lab, with_templates
from homelab.engine.proxmox.errors import RefusedError
from homelab.errors import ProxmoxError
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.provision import PlanRefused, apply_lab
from homelab_sim.pve.simulator import PveSimulator
from tests.apply.support import FAST, Lab, guests, inprocess, new_sim, write_spec, yes
from tests.sim.support import CEPH

TWO_NODES = {"proxmox.nodes": ["pve", "pve2"]}


def without_template_on_pve2(sim: PveSimulator) -> None:
    api = inprocess(sim).client
    api.wait_task(str(api.session.delete("/nodes/pve2/qemu/9001")))


def add_shared_rbd(sim: PveSimulator) -> None:
    sim.state.storages.append(CEPH)


def refused_apply(tmp_path: Path, sim: PveSimulator, changes: dict[str, Any]) -> list[str]:
    """Plan and apply ``changes`` on ``sim``: the plan's errors; apply must change nothing."""
    ctx = prepare_lab(write_spec(tmp_path, changes))
    try:
        conn = inprocess(sim)
        plan, _ = make_plan(conn, ctx)
        sim.log.clear()
        with pytest.raises(PlanRefused):
            apply_lab(conn, ctx, confirm=yes, limits=FAST)
        writes = [e for e in sim.log.entries() if e.method != "GET"]
        assert writes == [] and guests(sim) == []
        return list(plan.errors)
    finally:
        ctx.close()


def test_a_vm_on_a_node_without_template_and_local_storage_is_a_plan_error(
    tmp_path: Path,
) -> None:
    sim = new_sim(nodes=("pve", "pve2"))
    without_template_on_pve2(sim)
    (error,) = refused_apply(tmp_path, sim, TWO_NODES)
    assert error.startswith("vm k8s-worker-2: placed on node pve2, which has no copy of template")
    assert "can't clone to non-shared storage 'local-lvm'" in error
    assert "one template per node" in error


def test_shared_target_storage_is_not_enough_when_the_template_is_local(tmp_path: Path) -> None:
    """Judged from the template's config, read only because the plan clones from it."""
    sim = new_sim(nodes=("pve", "pve2"))
    without_template_on_pve2(sim)
    add_shared_rbd(sim)
    (error,) = refused_apply(tmp_path, sim, {**TWO_NODES, "proxmox.storage": "ceph"})
    assert "(VM uses local storage)" in error
    assert "scsi0 (local-lvm:base-9000-disk-0)" in error


@pytest.mark.parametrize("key", ["scsi1", "ide0", "sata0"])
def test_a_template_cloudinit_drive_off_ide2_is_refused_at_plan_time(
    tmp_path: Path, key: str
) -> None:
    sim = new_sim()
    template = sim.state.vms[9000].config
    template[key] = template.pop("ide2")
    (error,) = refused_apply(tmp_path, sim, {})
    assert f"has Proxmox's cloud-init drive on {key} (local-lvm:vm-9000-cloudinit)" in error
    assert f"qm set 9000 --delete {key}" in error


def test_a_vm_bigger_than_its_node_is_a_plan_error(tmp_path: Path) -> None:
    sim = new_sim()
    (error,) = refused_apply(tmp_path, sim, {"vms.k8s-worker-2.cores": 24})
    assert error.startswith("vm k8s-worker-2: 24 cores, but node pve has 16 CPUs")


def test_a_refused_cross_node_clone_is_not_retried(tmp_path: Path) -> None:
    sim = new_sim(nodes=("pve", "pve2"))
    client = inprocess(sim).client
    sim.log.clear()
    with pytest.raises(ProxmoxError) as caught:
        client.clone("pve", 9000, 250, name="x", full=True, storage="local-lvm", target="pve2")
    assert not caught.value.transient
    assert "can't clone to non-shared storage 'local-lvm'" in str(caught.value)
    assert [e.method for e in sim.log.entries()] == ["POST"]


def test_apply_reports_a_refused_clone_at_once_with_proxmoxs_reason(lab: Lab) -> None:
    """Should the plan not know (a storage it cannot see), Proxmox's refusal of a cross-node
    clone ends the clone step at once: one request, Proxmox's text, no "did not happen"."""
    sim = new_sim(nodes=("pve", "pve2"))
    conn = inprocess(sim)
    observed = observe_lab(conn.client, lab.ctx.spec)
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
    want = dataclasses.replace(
        desired_vms(lab.ctx.spec, lab.ctx.seed_digests)["k8s-worker-2"], node="pve2"
    )
    sim.log.clear()
    with pytest.raises(RefusedError) as caught:
        clone_vm(rt, want, Template(node="pve", vmid=9000))
    assert "can't clone to non-shared storage 'local-lvm'" in str(caught.value)
    clones = [e for e in sim.log.entries() if e.path.endswith("/clone")]
    assert len(clones) == 1
    assert guests(sim) == [] and lab.ctx.store.intents(lab.ctx.lab).all() == {}


def test_placement_problems_for_doctor_read_every_template(tmp_path: Path) -> None:
    """What ``homelab doctor`` asks: every spec VM, every template of that name, judged."""
    sim = new_sim(nodes=("pve", "pve2"))
    template = sim.state.vms[9001].config
    template["sata0"] = template.pop("ide2")
    ctx = prepare_lab(write_spec(tmp_path, TWO_NODES))
    try:
        client = inprocess(sim).client
        observed = observe_lab(client, ctx.spec)
        assert placement_problems(ctx.spec, observed) == []  # configs not read: not judged
        (problem,) = placement_problems(ctx.spec, with_templates(client, ctx.spec, observed))
        assert "(vmid 9001 on node pve2) has Proxmox's cloud-init drive on sata0" in problem
    finally:
        ctx.close()


def test_once_the_template_is_fixed_apply_builds_vms_that_read_our_seed(tmp_path: Path) -> None:
    """The fix the plan error names (`qm set 9000 --delete scsi1`), then apply: every guest
    read homelab's seed (its user-data), not one Proxmox generated."""
    sim = new_sim()
    template = sim.state.vms[9000].config
    template["scsi1"] = template.pop("ide2")
    assert refused_apply(tmp_path, sim, {})
    client = inprocess(sim).client
    client.session.put("/nodes/pve/qemu/9000/config", delete="scsi1")  # synchronous
    ctx = prepare_lab(write_spec(tmp_path))
    try:
        outcome = apply_lab(inprocess(sim), ctx, confirm=yes, limits=FAST)
        assert outcome.report is not None and outcome.report.ok
        built = guests(sim)
        assert sorted(str(vm.config["name"]) for vm in built) == sorted(ctx.spec.vms)
        for vm in built:
            assert vm.seed is not None
            assert vm.seed.user_data == ctx.artifacts.seeds[vm.config["name"]].user_data.decode()
    finally:
        ctx.close()
