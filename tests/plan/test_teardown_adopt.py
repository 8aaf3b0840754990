"""The plans of ``destroy`` and ``adopt``, made by the planner under the ownership rule. Pure."""

from __future__ import annotations

import dataclasses

from homelab.core.observed import Observed
from homelab.core.ownership import Flags, Steward
from homelab.core.plan.actions import AdoptVm, DestroyVm, Plan
from homelab.core.plan.adopt import plan_adopt
from homelab.core.plan.build import plan_lab
from homelab.core.plan.freshness import saved_plan_problems
from homelab.core.plan.teardown import plan_teardown
from tests.plan.labs import (
    add_vm,
    apply_plan,
    empty_observed,
    find,
    make_spec,
    replace_vm,
    seeds_for,
    stranger,
    without_configs,
)

SPEC = make_spec()
SEEDS = seeds_for(SPEC)
STORE = Steward(store="aaaa1111")


def applied() -> Observed:
    return apply_plan(plan_lab(SPEC, SEEDS, empty_observed(), STORE), empty_observed())


def test_destroy_plans_every_vm_of_the_lab_workers_first() -> None:
    plan = plan_teardown(SPEC, SEEDS, applied(), STORE)
    assert [(type(a).__name__, a.vm) for a in plan.actions] == [
        ("DestroyVm", "k8s-worker-2"),
        ("DestroyVm", "k8s-worker-3"),
        ("DestroyVm", "k8s-master-1"),
    ]
    assert plan.is_applicable and plan.detailed_exit_code == 2


def test_destroy_reads_configs_first_and_never_takes_a_vm_tagged_by_hand() -> None:
    observed = applied()
    assert plan_teardown(SPEC, SEEDS, without_configs(observed), STORE).needs_configs == (
        "k8s-master-1", "k8s-worker-2", "k8s-worker-3",
    )  # fmt: skip
    forged = stranger(SPEC, "k8s-worker-3", 150, ("homelab", "lab-home-lab", "role-worker"))
    plan = plan_teardown(SPEC, SEEDS, add_vm(empty_observed(), forged), STORE)
    assert plan.actions == () and "left alone" in plan.warnings[0]


def test_destroy_refuses_another_store_s_vms_unless_taken_over() -> None:
    theirs = Steward(store="bbbb2222")
    plan = plan_teardown(SPEC, SEEDS, applied(), theirs)
    assert not plan.actions and len(plan.errors) == 3
    assert "managed by another state store (aaaa1111" in plan.errors[0]
    taking = Steward(store="bbbb2222", flags=Flags(take_over=True))
    assert len(plan_teardown(SPEC, SEEDS, applied(), taking).changes) == 3


def test_destroy_stops_on_a_locked_vm() -> None:
    observed = applied()
    locked = find(observed, "k8s-worker-2").model_copy(update={"lock": "backup"})
    plan = plan_teardown(SPEC, SEEDS, replace_vm(observed, locked), STORE)
    assert any("must be destroyed but is locked (backup)" in e for e in plan.errors)


def test_adopt_plans_a_terraform_vm_and_refuses_another_lab_s_without_the_flag() -> None:
    made = stranger(SPEC, "k8s-worker-2", 150, ("terraform",))
    (adopt,) = plan_adopt(SPEC, SEEDS, add_vm(empty_observed(), made), STORE).actions
    assert isinstance(adopt, AdoptVm) and adopt.vmid == 150
    assert adopt.tags_after == "homelab;lab-home-lab;role-worker;terraform"
    assert adopt.desired.record.store == "aaaa1111"
    theirs = stranger(SPEC, "k8s-worker-2", 150, ("homelab", "lab-other"))
    observed = add_vm(empty_observed(), theirs)
    refused = plan_adopt(SPEC, SEEDS, observed, STORE)
    assert not refused.actions and "belongs to lab-other" in refused.errors[0]
    steal = Steward(store="aaaa1111", flags=Flags(from_other_lab=True))
    (taken,) = plan_adopt(SPEC, SEEDS, observed, steal).actions
    assert isinstance(taken, AdoptVm) and "lab-other" not in taken.tags_after


def test_adopt_needs_the_config_and_leaves_the_lab_s_own_vms_alone() -> None:
    made = stranger(SPEC, "k8s-worker-2", 150, ("terraform",), config=False)
    plan = plan_adopt(SPEC, SEEDS, add_vm(empty_observed(), made), STORE)
    assert plan.needs_configs == ("k8s-worker-2",) and not plan.actions
    assert plan_adopt(SPEC, SEEDS, applied(), STORE).actions == ()


def test_a_saved_plan_is_checked_against_the_spec() -> None:
    plan = plan_lab(SPEC, SEEDS, empty_observed(), STORE)
    assert saved_plan_problems(plan, SPEC, SEEDS, "aaaa1111") == ()
    doubled = dataclasses.replace(plan, actions=plan.actions * 2)
    assert "vm k8s-master-1: 2 actions (one per VM)" in saved_plan_problems(
        doubled, SPEC, SEEDS, "aaaa1111"
    )
    observed = applied()
    destroy = DestroyVm("k8s-worker-2", "pve", "x", find(observed, "k8s-worker-2").vmid, "worker")
    bad = Plan(lab=plan.lab, actions=(destroy,), spec_digest=plan.spec_digest)
    problems = saved_plan_problems(bad, SPEC, SEEDS, "aaaa1111")
    assert problems == ("vm k8s-worker-2: a VM of the spec is to be destroyed",)
    assert saved_plan_problems(plan, SPEC, SEEDS, "bbbb2222")  # another store's records
