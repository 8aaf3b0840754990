"""Ownership: VMs that are not the lab's are never changed or deleted; adopt takes them over.

Foreign VMs: an untagged VM, another lab's VM, and (in the adopt tests) a VM with a spec name but
without the lab's tag, as a Terraform-made VM would be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homelab.core.desired import parse_description_record
from homelab.core.ownership import Flags
from homelab.core.plan.actions import AdoptVm, Plan
from homelab.verbs.connection import Connection
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.provision import PlanRefused, adopt_lab, apply_lab, destroy_lab
from tests.apply.support import (
    FAST,
    Lab,
    guests,
    inprocess,
    iso_volids,
    new_sim,
    write_spec,
    yes,
)


def make_vm(conn: Connection, vmid: int, name: str, tags: str | None = None) -> None:
    """A VM cloned from the template outside homelab (as a user or Terraform would)."""
    upid = conn.client.clone("pve", 9000, vmid, name=name, full=False)
    conn.client.wait_task(upid)
    if tags is not None:
        conn.client.update_config("pve", vmid, tags=tags)


def snapshot(conn: Connection, vmids: list[int]) -> dict[int, dict[str, Any]]:
    return {vmid: conn.client.vm_config("pve", vmid)[0] for vmid in vmids}


def test_foreign_vms_are_never_touched(lab: Lab, tmp_path: Path) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    make_vm(conn, 200, "web-1")  # untagged, inside the lab's VMID range
    make_vm(conn, 201, "k8s-worker-9", "homelab;lab-other-lab;role-worker")
    make_vm(conn, 150, "db-1", "homelab")
    before = snapshot(conn, [200, 201, 150])
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert_converged_with_foreign(sim, lab, conn, 3)
    ours = sorted(vm.vmid for vm in guests(sim) if str(vm.config["name"]).startswith("k8s-m"))
    assert ours and 200 not in ours and 201 not in ours
    destroy_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert snapshot(conn, [200, 201, 150]) == before
    assert sorted(str(vm.config["name"]) for vm in guests(sim)) == ["db-1", "k8s-worker-9", "web-1"]


def assert_converged_with_foreign(sim: Any, lab: Lab, conn: Connection, foreign: int) -> None:
    names = [str(vm.config["name"]) for vm in guests(sim)]
    assert len(names) == len(lab.ctx.spec.vms) + foreign
    plan, _ = make_plan(conn, lab.ctx)
    assert not plan.has_changes and not plan.errors


def test_a_same_named_vm_without_the_lab_tag_stops_the_apply(lab: Lab) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    make_vm(conn, 150, "k8s-worker-3")
    before = snapshot(conn, [150])
    with pytest.raises(PlanRefused, match=r"k8s-worker-3: exists .* not owned by lab home-lab"):
        apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert snapshot(conn, [150]) == before
    assert len(guests(sim)) == 1  # nothing was created either


def test_destroy_leaves_a_vm_tagged_by_hand_with_another_name_alone(lab: Lab) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    make_vm(conn, 150, "scratch", "homelab;lab-home-lab")
    plan, _ = make_plan(conn, lab.ctx)
    assert not plan.has_changes and "vm scratch: left alone (vmid 150)" in plan.warnings[0]
    outcome = destroy_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert "vm scratch: left alone (vmid 150)" in outcome.plan.warnings[0]
    assert [str(vm.config["name"]) for vm in guests(sim)] == ["scratch"]


def test_adopt_tags_terraform_made_vms_and_apply_then_manages_them(
    lab: Lab, tmp_path: Path
) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    for vmid, name in ((110, "k8s-master-1"), (111, "k8s-worker-2"), (112, "k8s-worker-3")):
        make_vm(conn, vmid, name, "terraform")
    shown: list[Plan] = []

    def confirm(plan: Plan) -> bool:
        shown.append(plan)
        return True

    outcome = adopt_lab(conn, lab.ctx, confirm=confirm)
    (plan,) = shown
    assert [a.vm for a in plan.actions] == ["k8s-master-1", "k8s-worker-2", "k8s-worker-3"]
    first = plan.actions[0]
    assert isinstance(first, AdoptVm) and first.tags_before == "terraform"
    assert first.tags_after == "homelab;lab-home-lab;role-control-plane;terraform"
    assert outcome.report is not None and [o.kind for o in outcome.report.outcomes] == ["adopt"] * 3
    config = conn.client.vm_config("pve", 110)[0]
    record = parse_description_record(config["description"])
    assert record is not None and record.lab == "home-lab"
    assert record.store == lab.ctx.store.store_id
    assert lab.ctx.store.intents(lab.ctx.lab).all() == {}  # journaled, then done
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok
    assert sorted(vm.vmid for vm in guests(sim)) == [110, 111, 112]  # taken over, not re-created
    assert "terraform" in conn.client.vm_config("pve", 110)[0]["tags"]  # the user's tag is kept
    # an adopted VM's first boot was not homelab's: it gets no seed ISO, ever
    assert iso_volids(sim) == set()
    assert all(vm.status == "running" for vm in guests(sim))
    assert all("homelab" not in str(vm.config.get("ide2", "")) for vm in guests(sim))
    record = parse_description_record(conn.client.vm_config("pve", 111)[0]["description"])
    assert record is not None and record.adopted
    plan, _ = make_plan(conn, lab.ctx)
    assert not plan.has_changes and not plan.errors, plan
    again = adopt_lab(conn, lab.ctx, confirm=confirm)
    assert again.report is None and not again.plan.changes  # already ours


def test_adopt_refuses_another_labs_vm_unless_told(lab: Lab) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    make_vm(conn, 110, "k8s-master-1", "homelab;lab-other")
    before = snapshot(conn, [110])
    with pytest.raises(PlanRefused, match="belongs to lab-other"):
        adopt_lab(conn, lab.ctx, confirm=yes)
    assert snapshot(conn, [110]) == before
    outcome = adopt_lab(conn, lab.ctx, confirm=yes, flags=Flags(from_other_lab=True))
    assert outcome.report is not None and outcome.report.ok
    tags = conn.client.vm_config("pve", 110)[0]["tags"].split(";")
    assert "lab-home-lab" in tags and "lab-other" not in tags


def test_a_hand_made_vm_with_the_lab_tag_and_a_spec_name_is_touched_by_no_verb(lab: Lab) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    make_vm(conn, 150, "k8s-worker-3", "homelab;lab-home-lab;role-worker")
    before = snapshot(conn, [150])
    plan, _ = make_plan(conn, lab.ctx)
    (error,) = plan.errors
    assert "carries the tag lab-home-lab but no homelab record" in error
    assert "homelab adopt SPEC" in error
    with pytest.raises(PlanRefused, match="no homelab record"):
        apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    outcome = destroy_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is None and "left alone" in outcome.plan.warnings[0]
    assert snapshot(conn, [150]) == before
    adopted = adopt_lab(conn, lab.ctx, confirm=yes)
    assert adopted.report is not None and adopted.report.ok


def test_plan_and_destroy_agree_on_a_lab_vm_the_spec_lost(lab: Lab) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    lab.path.write_text(lab.path.read_text().replace("k8s-worker-3", "k8s-worker-9"))
    lab.reload()
    plan, _ = make_plan(conn, lab.ctx)
    assert [(a.vm, type(a).__name__) for a in plan.changes] == [
        ("k8s-worker-9", "CreateVm"),
        ("k8s-worker-3", "DestroyVm"),
    ]
    outcome = destroy_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert "k8s-worker-3" in [a.vm for a in outcome.plan.changes]
    assert guests(sim) == []


def test_a_second_state_store_refuses_the_lab_of_the_first(lab: Lab, tmp_path: Path) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    before = snapshot(conn, [vm.vmid for vm in guests(sim)])
    other = tmp_path / "clone"
    other.mkdir()
    fresh = Lab(write_spec(other), prepare_lab(write_spec(other)))
    try:
        plan, _ = make_plan(conn, fresh.ctx)
        (error,) = plan.errors
        assert "never applied lab home-lab, but 3 VM(s)" in error
        assert "HOMELAB_STATE_URL" in error and "homelab state recover" in error
        assert not plan.actions  # nothing planned, least of all a replace
        for flags in (Flags(), Flags(take_over=True)):
            with pytest.raises(PlanRefused, match="never applied lab home-lab"):
                apply_lab(conn, fresh.ctx, confirm=yes, limits=FAST, flags=flags)
        with pytest.raises(PlanRefused, match="managed by another state store"):
            destroy_lab(conn, fresh.ctx, confirm=yes, limits=FAST)
        assert snapshot(conn, [vm.vmid for vm in guests(sim)]) == before
        fresh.ctx.store.mark_applied("home-lab")  # a store that applied the lab once
        plan, _ = make_plan(conn, fresh.ctx)
        assert plan.errors and all("another state store" in e for e in plan.errors)
        # its own PKI means new seeds: replacing the control plane, a new cluster
        taken, _ = make_plan(conn, fresh.ctx, flags=Flags(take_over=True))
        assert taken.errors and all("--recreate-cluster" in e for e in taken.errors)
        both = Flags(take_over=True, recreate_cluster=True)
        taken, _ = make_plan(conn, fresh.ctx, flags=both)
        assert not taken.errors and taken.has_changes  # told to, it takes over
    finally:
        fresh.ctx.close()


KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICR1Kjxkp8TY39QQ8rPrvZta2Cl81ledsQySZv20Y4+h other@desk"


def test_an_adopted_vm_is_never_reseeded_nor_restarted_unless_told(
    lab: Lab, tmp_path: Path
) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    for vmid, name in ((110, "k8s-master-1"), (111, "k8s-worker-2"), (112, "k8s-worker-3")):
        make_vm(conn, vmid, name, "terraform")
    adopt_lab(conn, lab.ctx, confirm=yes)
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)  # started, nothing else
    # new SSH keys: every seed changes; an adopted VM keeps the one it booted with
    write_spec(tmp_path, {"access": {"ssh_authorized_keys": [KEY2]}})
    lab.reload()
    plan, _ = make_plan(conn, lab.ctx)
    assert not plan.has_changes and not plan.errors, plan
    # more memory needs a restart: refused unless --restart-adopted
    write_spec(tmp_path, {"vms.k8s-worker-2.memory": "8GiB"})
    lab.reload()
    plan, _ = make_plan(conn, lab.ctx)
    assert [a.vm for a in plan.changes] == ["k8s-worker-2"]
    assert len(plan.errors) == 1 and "--restart-adopted" in plan.errors[0]
    flags = Flags(restart_adopted=True)
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST, flags=flags)
    assert outcome.report is not None and outcome.report.ok
    assert iso_volids(sim) == set()
    plan, _ = make_plan(conn, lab.ctx)
    assert not plan.has_changes and not plan.errors, plan
