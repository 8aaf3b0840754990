"""plan_lab: creates, no-ops, updates, replaces, destroys, and the ownership rules."""

from __future__ import annotations

from typing import Any

import pytest

from homelab.core.desired import PlanInputError, seed_volid, seed_volume_name
from homelab.core.observed import Observed, ObservedVm
from homelab.core.ownership import Flags, Steward
from homelab.core.plan.actions import (
    Change,
    CreateVm,
    DestroyVm,
    NoOp,
    Plan,
    ReplaceVm,
    TemplateSource,
    UpdateVm,
)
from homelab.core.plan.build import plan_lab
from tests.plan.labs import (
    add_vm,
    apply_plan,
    empty_observed,
    find,
    make_spec,
    replace_vm,
    seeds_for,
    spec_data,
    stranger,
    without_configs,
)

SPEC = make_spec()
SEEDS = seeds_for(SPEC)


def applied(data: dict[str, Any] | None = None) -> Observed:
    """The lab as apply leaves it, for the given spec (default: the base lab)."""
    spec = make_spec(data)
    return apply_plan(plan_lab(spec, seeds_for(spec), empty_observed()), empty_observed())


def plan_for(data: dict[str, Any], observed: Observed) -> Plan:
    spec = make_spec(data)
    return plan_lab(spec, seeds_for(spec), observed)


def kinds(plan: Plan) -> list[tuple[str, str]]:
    return [(type(action).__name__, action.vm) for action in plan.actions]


def test_fresh_lab_creates_control_plane_first_then_workers() -> None:
    plan = plan_lab(SPEC, SEEDS, empty_observed())
    assert kinds(plan) == [
        ("CreateVm", "k8s-master-1"),
        ("CreateVm", "k8s-worker-2"),
        ("CreateVm", "k8s-worker-3"),
    ]
    assert plan.errors == () and plan.needs_configs == () and plan.is_applicable
    create = plan.actions[0]
    assert isinstance(create, CreateVm)
    assert create.desired.tags == ("homelab", "lab-home-lab", "role-control-plane")
    assert create.desired.seed_volume == seed_volume_name(
        "home-lab", "k8s-master-1", create.desired.digest
    )


def test_workers_listed_before_control_plane_in_the_spec_still_come_after() -> None:
    data = spec_data()
    data["vms"] = dict(reversed(list(data["vms"].items())))
    plan = plan_for(data, empty_observed())
    assert [a.vm for a in plan.actions] == ["k8s-master-1", "k8s-worker-3", "k8s-worker-2"]


def test_identical_lab_is_a_no_op_without_reading_any_config() -> None:
    observed = without_configs(applied())
    plan = plan_lab(SPEC, SEEDS, observed)
    assert all(isinstance(action, NoOp) for action in plan.actions)
    assert len(plan.actions) == 3
    assert plan.needs_configs == ()
    assert not plan.has_changes and plan.is_applicable
    assert all(action.reason.startswith("matches the spec") for action in plan.actions)


def test_identical_lab_with_configs_read_is_still_a_no_op() -> None:
    plan = plan_lab(SPEC, SEEDS, applied())
    assert not plan.has_changes and plan.errors == () and plan.warnings == ()


def test_memory_change_needs_the_config_then_updates_with_restart() -> None:
    data = spec_data()
    data["vms"]["k8s-worker-2"]["memory"] = "8GiB"
    observed = applied()
    first = plan_for(data, without_configs(observed))
    assert first.needs_configs == ("k8s-worker-2",)
    assert not first.is_final
    assert [a.vm for a in first.actions if isinstance(a, NoOp)] == ["k8s-master-1", "k8s-worker-3"]
    final = plan_for(data, observed)
    update = next(a for a in final.actions if isinstance(a, UpdateVm))
    assert update.vm == "k8s-worker-2" and update.vmid == find(observed, "k8s-worker-2").vmid
    assert Change("memory", 4096, 8192, restart=True) in update.changes
    assert update.restart and update.reseed
    assert update.config_digest == find(observed, "k8s-worker-2").config.digest  # type: ignore[union-attr]


def test_cores_change_on_a_stopped_vm_needs_no_restart_but_a_start() -> None:
    data = spec_data()
    data["vms"]["k8s-worker-3"]["cores"] = 4
    observed = applied()
    vm = find(observed, "k8s-worker-3")
    observed = replace_vm(observed, vm.model_copy(update={"status": "stopped"}))
    update = next(a for a in plan_for(data, observed).actions if isinstance(a, UpdateVm))
    assert Change("cores", 2, 4, restart=False) in update.changes
    assert Change("state", "stopped", "running") in update.changes
    assert not update.restart


def test_stopped_vm_is_started() -> None:
    observed = applied()
    vm = find(observed, "k8s-worker-3")
    observed = replace_vm(observed, vm.model_copy(update={"status": "stopped"}))
    assert plan_lab(SPEC, SEEDS, without_configs(observed)).needs_configs == ("k8s-worker-3",)
    update = plan_lab(SPEC, SEEDS, observed).changes[0]
    assert isinstance(update, UpdateVm)
    assert update.changes == (Change("state", "stopped", "running"),)
    assert not update.reseed


def test_disk_grow_is_an_in_place_resize_of_the_boot_disk() -> None:
    data = spec_data()
    data["vms"]["k8s-master-1"]["disk"] = "64GiB"
    update = plan_for(data, applied()).changes[0]
    assert isinstance(update, UpdateVm)
    assert Change("disk scsi0", "32GiB", "64GiB", restart=False) in update.changes
    assert not update.restart


def test_disk_shrink_is_an_error_never_a_replace() -> None:
    data = spec_data()
    data["vms"]["k8s-master-1"]["disk"] = "16GiB"
    plan = plan_for(data, applied())
    assert not any(a.vm == "k8s-master-1" for a in plan.actions)
    assert len(plan.errors) == 1
    assert "disk scsi0 is 32GiB but the spec says 16GiB; disks can only grow" in plan.errors[0]
    assert not plan.is_applicable


def test_add_worker_creates_it_and_leaves_the_rest() -> None:
    data = spec_data()
    data["vms"]["k8s-worker-4"] = {"role": "worker", "network": "apps", "ip": "10.0.20.23"}
    plan = plan_for(data, without_configs(applied()))
    assert [type(a).__name__ for a in plan.changes] == ["CreateVm"]
    assert plan.changes[0].vm == "k8s-worker-4" and plan.needs_configs == ()


def test_removed_worker_is_destroyed_last() -> None:
    data = spec_data()
    del data["vms"]["k8s-worker-2"]
    data["vms"]["k8s-worker-4"] = {"role": "worker", "network": "apps", "ip": "10.0.20.23"}
    observed = applied()
    cheap = plan_for(data, without_configs(observed))
    assert [type(a).__name__ for a in cheap.changes] == ["CreateVm"]
    assert cheap.needs_configs == ("k8s-worker-2",)  # its record proves it the lab's
    plan = plan_for(data, observed)
    assert [type(a).__name__ for a in plan.changes] == ["CreateVm", "DestroyVm"]
    destroy = plan.actions[-1]
    assert isinstance(destroy, DestroyVm)
    assert destroy.vm == "k8s-worker-2" and destroy.vmid == find(observed, "k8s-worker-2").vmid
    assert destroy.reason == "not in the spec" and destroy.role == "worker"


def test_destroys_remove_workers_before_control_planes() -> None:
    observed = applied()
    data = spec_data()
    data["vms"] = {"k8s-worker-9": {"role": "control-plane", "network": "apps", "ip": "10.0.20.9"}}
    plan = plan_for(data, observed)
    assert kinds(plan) == [
        ("CreateVm", "k8s-worker-9"),
        ("DestroyVm", "k8s-worker-2"),
        ("DestroyVm", "k8s-worker-3"),
        ("DestroyVm", "k8s-master-1"),
    ]


def test_template_change_replaces_but_the_only_control_plane_needs_the_flag() -> None:
    data = spec_data()
    data["proxmox"]["template"] = "ubuntu-2604-cloudinit"
    observed = applied()
    assert plan_for(data, without_configs(observed)).needs_configs == (
        "k8s-master-1",
        "k8s-worker-2",
        "k8s-worker-3",
    )
    refused = plan_for(data, observed)
    assert len(refused.errors) == 1 and refused.errors[0].startswith(
        "vm k8s-master-1: replacing the only control plane runs kubeadm init again"
    )
    assert refused.errors[0].endswith("Pass --recreate-cluster if that is what you want")
    assert not refused.is_applicable
    plan = plan_lab(
        make_spec(data),
        seeds_for(make_spec(data)),
        observed,
        Steward(flags=Flags(recreate_cluster=True)),
    )
    assert [type(a).__name__ for a in plan.actions] == ["ReplaceVm"] * 3
    replace = plan.actions[0]
    assert isinstance(replace, ReplaceVm)
    assert replace.reason == "template changed: ubuntu-2404-cloudinit -> ubuntu-2604-cloudinit"
    assert replace.vmid == find(observed, "k8s-master-1").vmid
    assert plan.errors == () and len(plan.warnings) == 1
    assert (
        "only control plane" in plan.warnings[0]
        and "(--recreate-cluster given)" in plan.warnings[0]
    )
    # the cluster goes: nothing is drained (there would be no cluster to evict into)
    assert [a.drain for a in plan.actions if isinstance(a, ReplaceVm)] == [False] * 3


def test_seed_change_replaces_because_cloud_init_runs_once() -> None:
    observed = applied()
    seeds = dict(SEEDS, **{"k8s-worker-2": "f" * 64})
    plan = plan_lab(SPEC, seeds, observed)
    (replace,) = plan.changes
    assert isinstance(replace, ReplaceVm) and replace.vm == "k8s-worker-2"
    assert replace.reason.startswith("seed changed: cloud-init configuration differs")
    assert plan.warnings == ()


def test_unowned_vm_with_a_spec_name_is_an_error_and_never_touched() -> None:
    cheap = plan_lab(
        SPEC,
        SEEDS,
        add_vm(empty_observed(), stranger(SPEC, "k8s-worker-2", 150, ("terraform",), config=False)),
    )
    assert cheap.needs_configs == ("k8s-worker-2",)  # it might hold the lab's record
    plan = plan_lab(
        SPEC, SEEDS, add_vm(empty_observed(), stranger(SPEC, "k8s-worker-2", 150, ("terraform",)))
    )
    assert all(a.vm != "k8s-worker-2" for a in plan.actions)
    assert all(getattr(a, "vmid", None) != 150 for a in plan.actions)
    assert plan.errors == (
        "vm k8s-worker-2: exists (vmid 150 on pve) but is not owned by lab home-lab: it has "
        "no homelab tag or record; run `homelab adopt SPEC` to take it over, or rename it in "
        "the spec",
    )


def test_another_labs_vm_with_a_spec_name_is_a_conflict_naming_its_owner() -> None:
    other = applied()
    vm = find(other, "k8s-worker-2")
    foreign = vm.model_copy(update={"tags": ("homelab", "lab-other", "role-worker"), "vmid": 180})
    plan = plan_lab(SPEC, SEEDS, add_vm(empty_observed(), foreign))
    assert "it belongs to lab-other" in plan.errors[0]
    assert not any(isinstance(a, DestroyVm) for a in plan.actions)


def test_other_labs_and_untagged_vms_are_ignored() -> None:
    observed = without_configs(applied())
    other = ObservedVm(
        vmid=300, name="db-1", node="pve", status="running", template=False, lock=None,
        tags=("homelab", "lab-other", "role-worker"), maxmem_mib=1024, cores=1, disk_gib=8,
    )  # fmt: skip
    untagged = other.model_copy(update={"vmid": 301, "name": "nas", "tags": ()})
    template = other.model_copy(
        update={"vmid": 9000, "name": "ubuntu-2404-cloudinit", "tags": (), "template": True}
    )
    plan = plan_lab(SPEC, SEEDS, add_vm(add_vm(add_vm(observed, other), untagged), template))
    assert not plan.has_changes and plan.errors == () and plan.needs_configs == ()
    assert {vmid for vmid, _ in plan.observed_digests} == {200, 201, 202}


def test_locked_vm_that_matches_is_a_no_op_that_says_so() -> None:
    observed = without_configs(applied())
    vm = find(observed, "k8s-worker-2")
    plan = plan_lab(SPEC, SEEDS, replace_vm(observed, vm.model_copy(update={"lock": "backup"})))
    noop = next(a for a in plan.actions if a.vm == "k8s-worker-2")
    assert isinstance(noop, NoOp) and noop.reason.endswith("; locked (backup)")


def test_locked_vm_that_must_change_is_an_error() -> None:
    data = spec_data()
    data["vms"]["k8s-worker-2"]["memory"] = 8192
    observed = applied()
    vm = find(observed, "k8s-worker-2")
    plan = plan_for(data, replace_vm(observed, vm.model_copy(update={"lock": "clone"})))
    assert not any(a.vm == "k8s-worker-2" for a in plan.actions)
    assert plan.errors == (
        f"vm k8s-worker-2: must be changed but is locked (clone); wait for the task holding it, "
        f"or if the lock is stale clear it on pve with `qm unlock {vm.vmid}`",
    )


def test_locked_vm_that_must_be_destroyed_is_an_error() -> None:
    observed = applied()
    vm = find(observed, "k8s-worker-3")
    data = spec_data()
    del data["vms"]["k8s-worker-3"]
    plan = plan_for(data, replace_vm(observed, vm.model_copy(update={"lock": "snapshot"})))
    assert not any(isinstance(a, DestroyVm) for a in plan.actions)
    assert "must be destroyed but is locked (snapshot)" in plan.errors[0]


def test_a_vm_still_being_created_in_our_range_stops_the_plan() -> None:
    newborn = ObservedVm(
        vmid=205, name=None, node="pve", status="unknown", template=False, lock=None,
        tags=(), maxmem_mib=None, cores=None, disk_gib=None,
    )  # fmt: skip
    plan = plan_lab(SPEC, SEEDS, add_vm(empty_observed(), newborn))
    assert plan.errors == (
        "VM 205 on pve has no name yet (it is being created); plan again in a few seconds",
    )
    outside = newborn.model_copy(update={"vmid": 120})
    assert plan_lab(SPEC, SEEDS, add_vm(empty_observed(), outside)).errors == ()


def test_pinned_vmid_used_by_another_vm_is_an_error() -> None:
    data = spec_data()
    data["vms"]["k8s-worker-3"]["vmid"] = 200
    plan = plan_for(data, applied())
    assert plan.errors == ("vm k8s-worker-3: vmid 200 is already used by k8s-master-1 on pve",)


def test_duplicate_vms_of_the_lab_with_one_name_are_an_error() -> None:
    observed = applied()
    twin = find(observed, "k8s-worker-2").model_copy(update={"vmid": 250})
    plan = plan_lab(SPEC, SEEDS, add_vm(observed, twin))
    assert "several VMs of lab home-lab (201, 250)" in plan.errors[0]


def test_user_tags_are_kept_and_never_cause_a_diff() -> None:
    observed = applied()
    vm = find(observed, "k8s-worker-2")
    tags = ("backup-daily", *vm.tags)
    config = vm.config.model_copy(update={"tags": tags})  # type: ignore[union-attr]
    tagged = vm.model_copy(update={"tags": tags, "config": config})
    assert not plan_lab(SPEC, SEEDS, without_configs(replace_vm(observed, tagged))).has_changes
    data = spec_data()
    data["vms"]["k8s-worker-2"]["role"] = "control-plane"
    plan = plan_for(data, replace_vm(observed, tagged))
    (replace,) = plan.changes
    assert isinstance(replace, ReplaceVm)
    assert replace.reason == "role changed: worker -> control-plane"


def test_network_changed_outside_homelab_is_found_when_the_config_is_read() -> None:
    observed = applied()
    vm = find(observed, "k8s-worker-2")
    assert vm.config is not None and vm.config.net0 is not None
    net0 = vm.config.net0.model_copy(update={"tag": 30, "bridge": "vmbr1"})
    drifted = vm.model_copy(update={"config": vm.config.model_copy(update={"net0": net0})})
    update = plan_lab(SPEC, SEEDS, replace_vm(observed, drifted)).changes[0]
    assert isinstance(update, UpdateVm)
    assert update.changes == (Change("net0 bridge", "vmbr1", "vmbr0"), Change("net0 tag", 30, 20))
    assert not update.reseed


def test_a_superseded_seed_iso_left_on_the_node_forces_a_config_read() -> None:
    observed = without_configs(applied())
    old = seed_volid(
        "local", seed_volume_name("home-lab", "k8s-worker-2", "0123456789ab" + "0" * 52)
    )
    volumes = {"pve": (*observed.seed_volumes["pve"], old)}
    plan = plan_lab(SPEC, SEEDS, observed.model_copy(update={"seed_volumes": volumes}))
    assert plan.needs_configs == ("k8s-worker-2",)


def test_unpinned_vms_stay_on_their_node_when_round_robin_shifts() -> None:
    data = spec_data()
    data["proxmox"]["nodes"] = ["pve1", "pve2"]
    spec = make_spec(data)
    start = empty_observed(("pve1", "pve2"))
    observed = apply_plan(plan_lab(spec, seeds_for(spec), start), start)
    assert [vm.node for vm in observed.vms if not vm.template] == ["pve1", "pve2", "pve1"]
    del data["vms"]["k8s-worker-2"]
    assert plan_for(data, without_configs(observed)).needs_configs == ("k8s-worker-2",)
    plan = plan_for(data, observed)
    assert [type(a).__name__ for a in plan.changes] == ["DestroyVm"]
    assert plan.needs_configs == ()


def test_pinned_node_change_replaces() -> None:
    data = spec_data()
    data["proxmox"]["nodes"] = ["pve", "pve2"]
    data["vms"]["k8s-worker-3"]["node"] = "pve2"
    plan = plan_for(data, applied())
    (replace,) = plan.changes
    assert isinstance(replace, ReplaceVm) and replace.reason == "node changed: pve -> pve2"
    assert replace.node == "pve"


def test_a_tagged_vm_without_a_homelab_record_is_not_touched_and_adopt_is_suggested() -> None:
    observed = applied()
    vm = find(observed, "k8s-worker-2")
    config = vm.config.model_copy(update={"record": None, "description": "made by hand"})  # type: ignore[union-attr]
    plan = plan_lab(SPEC, SEEDS, replace_vm(observed, vm.model_copy(update={"config": config})))
    assert not plan.changes
    (error,) = plan.errors
    assert error.startswith(f"vm k8s-worker-2: exists (vmid {vm.vmid} on pve) but is not owned")
    assert "no homelab record" in error and "homelab adopt SPEC" in error


def test_missing_seed_digest_is_refused() -> None:
    with pytest.raises(PlanInputError, match="k8s-worker-3"):
        plan_lab(SPEC, {"k8s-master-1": "a", "k8s-worker-2": "b"}, empty_observed())


def test_plan_is_deterministic() -> None:
    observed = applied()
    data = spec_data()
    data["vms"]["k8s-worker-2"]["cores"] = 3
    shuffled = observed.model_copy(update={"vms": tuple(reversed(observed.vms))})
    assert plan_for(data, observed) == plan_for(data, shuffled)


def test_a_pending_memory_change_never_restarted_is_still_a_change() -> None:
    observed = applied()
    vm = find(observed, "k8s-worker-2")
    pending = vm.model_copy(update={"maxmem_mib": 2048})  # config says 4096, QEMU runs 2048
    update = plan_lab(SPEC, SEEDS, replace_vm(observed, pending)).changes[0]
    assert isinstance(update, UpdateVm)
    assert update.changes == (Change("memory", 2048, 4096, restart=True),)


def test_new_vms_clone_the_template_on_their_own_node() -> None:
    data = spec_data()
    data["proxmox"]["nodes"] = ["pve1", "pve2"]
    spec = make_spec(data)
    plan = plan_lab(spec, seeds_for(spec), empty_observed(("pve1", "pve2")))
    sources = [(a.vm, a.node, a.source) for a in plan.actions if isinstance(a, CreateVm)]
    assert sources == [
        ("k8s-master-1", "pve1", TemplateSource(9000, "pve1")),
        ("k8s-worker-2", "pve2", TemplateSource(9001, "pve2")),
        ("k8s-worker-3", "pve1", TemplateSource(9000, "pve1")),
    ]
    assert {vmid for vmid, _ in plan.observed_digests} == {9000, 9001}


def test_template_by_vmid_on_another_node_is_used() -> None:
    data = spec_data()
    data["proxmox"]["template"] = 9301
    observed = empty_observed(("pve", "pve9"))
    create = plan_for(data, observed).actions[0]
    assert isinstance(create, CreateVm) and create.source == TemplateSource(9301, "pve9")


def test_missing_template_is_a_plan_error_only_when_something_is_created() -> None:
    data = spec_data()
    data["proxmox"]["template"] = "debian-13"
    plan = plan_for(data, empty_observed())
    assert plan.errors == (
        "template debian-13 not found: no VM template with that name or VMID is visible on "
        "Proxmox (check proxmox.template and the token's VM.Audit privilege)",
    )
    assert plan.detailed_exit_code == 1
    observed = applied()
    templates_gone = observed.model_copy(
        update={"vms": tuple(vm for vm in observed.vms if not vm.template)}
    )
    assert plan_lab(SPEC, SEEDS, templates_gone).errors == ()


def test_disk_smaller_than_the_template_disk_is_an_error() -> None:
    data = spec_data()
    data["vms"]["k8s-worker-2"]["disk"] = 2
    plan = plan_for(data, empty_observed())
    assert plan.errors == (
        "vm k8s-worker-2: disk 2GiB is smaller than the 3GiB disk of template "
        "ubuntu-2404-cloudinit (vmid 9000); clones can only grow",
    )


def test_detailed_exit_codes() -> None:
    assert plan_lab(SPEC, SEEDS, empty_observed()).detailed_exit_code == 2
    assert plan_lab(SPEC, SEEDS, without_configs(applied())).detailed_exit_code == 0
    data = spec_data()
    data["vms"]["k8s-worker-2"]["cores"] = 3
    assert plan_for(data, without_configs(applied())).detailed_exit_code == 1  # not final yet


def test_tags_compare_case_insensitively_and_user_tags_keep_their_case() -> None:
    observed = applied()
    vm = find(observed, "k8s-worker-2")
    assert vm.config is not None
    tags: tuple[str, ...] = ("Backup-Daily", "HomeLab", "Lab-Home-Lab", "role-control-plane")
    odd = vm.model_copy(
        update={"tags": tags, "config": vm.config.model_copy(update={"tags": tags})}
    )
    plan = plan_lab(SPEC, SEEDS, replace_vm(observed, odd))
    (replace,) = plan.changes  # still ours (Lab-Home-Lab), but tagged with another role
    assert isinstance(replace, ReplaceVm) and replace.reason.startswith("role changed")
    tags = ("Backup-Daily", "HomeLab", "Lab-Home-Lab")
    odd = vm.model_copy(
        update={"tags": tags, "config": vm.config.model_copy(update={"tags": tags})}
    )
    (update,) = plan_lab(SPEC, SEEDS, replace_vm(observed, odd)).changes
    assert isinstance(update, UpdateVm)
    assert update.changes == (
        Change(
            "tags",
            "Backup-Daily;HomeLab;Lab-Home-Lab",
            "Backup-Daily;homelab;lab-home-lab;role-worker",
        ),
    )


# ---- the seed's secret-free twin (``up`` swaps it in once the node joined) --------------------


def swapped(observed: Observed, *, keep_seed: bool = False, cdrom_twin: bool = True) -> Observed:
    """The lab after ``up``'s swap: every seed ISO replaced by its twin (``keep_seed``: the
    secret seed still beside it), the CD-ROMs holding the twin (or still the seed)."""
    twin = {v: v.replace(".iso", "-clean.iso") for vs in observed.seed_volumes.values() for v in vs}
    volumes = {
        node: tuple(v for old in vs for v in ((old, twin[old]) if keep_seed else (twin[old],)))
        for node, vs in observed.seed_volumes.items()
    }
    vms = []
    for vm in observed.vms:
        if vm.config is not None and cdrom_twin:
            cdroms = tuple((k, twin.get(v, v)) for k, v in vm.config.cdroms)
            vm = vm.model_copy(update={"config": vm.config.model_copy(update={"cdroms": cdroms})})
        vms.append(vm)
    return observed.model_copy(update={"seed_volumes": volumes, "vms": tuple(vms)})


def test_the_twin_in_place_of_the_seed_is_a_no_op_with_or_without_configs() -> None:
    observed = swapped(applied())
    assert all(v.endswith("-clean.iso") for v in observed.seed_volumes["pve"])
    assert not plan_lab(SPEC, SEEDS, observed).has_changes
    quick = plan_lab(SPEC, SEEDS, without_configs(observed))
    assert quick.needs_configs == () and not quick.has_changes


def test_a_swap_cut_short_is_a_no_op_never_a_replace() -> None:
    for cdrom_twin in (False, True):  # after the upload, after the drive change
        observed = swapped(applied(), keep_seed=True, cdrom_twin=cdrom_twin)
        assert len(observed.seed_volumes["pve"]) == 6
        plan = plan_lab(SPEC, SEEDS, observed)
        assert not plan.has_changes and plan.errors == (), plan.actions
        assert not plan_lab(SPEC, SEEDS, without_configs(observed)).needs_configs


def test_an_old_seeds_twin_is_superseded_and_a_missing_twin_reseeds() -> None:
    observed = swapped(applied())
    old = seed_volid(
        "local", seed_volume_name("home-lab", "k8s-worker-2", "0123456789ab" + "0" * 52)
    ).replace(".iso", "-clean.iso")
    stale = observed.model_copy(
        update={"seed_volumes": {"pve": (*observed.seed_volumes["pve"], old)}}
    )
    assert plan_lab(SPEC, SEEDS, without_configs(stale)).needs_configs == ("k8s-worker-2",)
    (update,) = plan_lab(SPEC, SEEDS, stale).changes
    assert isinstance(update, UpdateVm) and update.reseed and update.vm == "k8s-worker-2"
    gone = observed.model_copy(
        update={
            "seed_volumes": {
                "pve": tuple(v for v in observed.seed_volumes["pve"] if "worker-3" not in v)
            }
        }
    )
    (reseed,) = plan_lab(SPEC, SEEDS, gone).changes
    assert isinstance(reseed, UpdateVm) and reseed.reseed and reseed.vm == "k8s-worker-3"
