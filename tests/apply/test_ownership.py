"""Ownership: VMs that are not the lab's are never changed or deleted; adopt takes them over.

Foreign VMs: an untagged VM, another lab's VM, and (in the adopt tests) a VM with a spec name but
without the lab's tag, as a Terraform-made VM would be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homelab.core.desired import parse_description_record
from homelab.verbs.connection import Connection
from homelab.verbs.lab import make_plan
from homelab.verbs.provision import AdoptChange, PlanRefused, adopt_lab, apply_lab, destroy_lab
from tests.apply.support import (
    FAST,
    Lab,
    assert_converged,
    guests,
    inprocess,
    new_sim,
    yes,
)


def make_vm(conn: Connection, vmid: int, name: str, tags: str | None = None) -> None:
    """A VM cloned from the template outside homelab (as a user or Terraform would)."""
    upid = conn.client.clone("pve", 9000, vmid, name=name, full=False)
    conn.client.wait_task(upid, poll=0.05)
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


def test_destroy_leaves_a_lab_tagged_vm_with_another_name_alone(lab: Lab) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    make_vm(conn, 150, "scratch", "homelab;lab-home-lab")
    outcome = destroy_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert [vm.name for vm in outcome.skipped] == ["scratch"]
    assert [str(vm.config["name"]) for vm in guests(sim)] == ["scratch"]


def test_adopt_tags_terraform_made_vms_and_apply_then_manages_them(
    lab: Lab, tmp_path: Path
) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    for vmid, name in ((110, "k8s-master-1"), (111, "k8s-worker-2"), (112, "k8s-worker-3")):
        make_vm(conn, vmid, name, "terraform")
    shown: list[AdoptChange] = []

    def confirm(changes: list[AdoptChange]) -> bool:
        shown.extend(changes)
        return True

    changes = adopt_lab(conn, lab.ctx, confirm=confirm)
    assert [c.vm for c in shown] == ["k8s-master-1", "k8s-worker-2", "k8s-worker-3"]
    assert changes[0].tags_before == "terraform"
    assert changes[0].tags_after == "homelab;lab-home-lab;role-control-plane;terraform"
    config = conn.client.vm_config("pve", 110)[0]
    record = parse_description_record(config["description"])
    assert record is not None and record.lab == "home-lab"
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok
    assert sorted(vm.vmid for vm in guests(sim)) == [110, 111, 112]  # taken over, not re-created
    assert "terraform" in conn.client.vm_config("pve", 110)[0]["tags"]  # the user's tag is kept
    assert_converged(sim, lab.ctx, conn, in_range=False, created=False)
    assert adopt_lab(conn, lab.ctx, confirm=confirm) == []  # already ours


def test_adopt_refuses_another_labs_vm(lab: Lab) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    make_vm(conn, 110, "k8s-master-1", "homelab;lab-other")
    before = snapshot(conn, [110])
    with pytest.raises(Exception, match="belongs to lab-other"):
        adopt_lab(conn, lab.ctx, confirm=yes)
    assert snapshot(conn, [110]) == before
