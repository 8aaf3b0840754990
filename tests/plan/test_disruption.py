"""The day-2 rule: what is drained, what is refused, and what the flag lets through."""

from __future__ import annotations

import dataclasses

from homelab.core.desired import DesiredVm, desired_vms
from homelab.core.ownership import Flags
from homelab.core.plan.actions import (
    Action,
    Change,
    DestroyVm,
    EtcdPeer,
    NoOp,
    ReplaceVm,
    UpdateVm,
)
from homelab.core.plan.disruption import apply_day2_rule
from tests.plan.labs import make_spec, seeds_for, spec_data

DATA = spec_data()
DATA["vms"]["k8s-master-2"] = {"role": "control-plane", "network": "apps", "ip": "10.0.20.11"}
DATA["kubernetes"]["control_plane_endpoint"] = "10.0.20.5"
HA = make_spec(DATA)
WANT: dict[str, DesiredVm] = dict(desired_vms(HA, seeds_for(HA)))
VMID = {"k8s-master-1": 200, "k8s-master-2": 201, "k8s-worker-2": 202, "k8s-worker-3": 203}
ALL_RUNNING = dict.fromkeys(VMID.values(), True)
RESTART = (Change("memory", 4096, 8192, restart=True),)
LIVE = (Change("cores", 2, 4, restart=False),)


def update(vm: str, changes: tuple[Change, ...] = RESTART) -> UpdateVm:
    return UpdateVm(vm, "pve", "spec changed", VMID[vm], changes, False, WANT[vm], "d")


def replace(vm: str) -> ReplaceVm:
    return ReplaceVm(vm, "pve", "seed changed", VMID[vm], WANT[vm])


def destroy(vm: str, role: str = "worker") -> DestroyVm:
    return DestroyVm(vm, "pve", "not in the spec", VMID[vm], role)


def keep(vm: str) -> NoOp:
    return NoOp(vm, "pve", "matches", VMID[vm], WANT[vm].role)


def test_running_nodes_are_drained_before_a_restart_a_replace_or_a_destroy() -> None:
    actions: list[Action] = [keep("k8s-master-1"), update("k8s-master-2")]
    actions += [replace("k8s-worker-2"), destroy("k8s-worker-3")]
    out, errors, warnings = apply_day2_rule(actions, ALL_RUNNING, Flags())
    assert errors == [] and warnings == []
    assert [getattr(a, "drain", None) for a in out] == [None, True, True, True]
    undrained = [
        dataclasses.replace(a, drain=False)
        if isinstance(a, UpdateVm | ReplaceVm | DestroyVm)
        else a
        for a in out
    ]
    assert undrained == actions, "only drain changes"


def test_no_drain_without_a_disruption_or_without_a_running_vm() -> None:
    actions: list[Action] = [update("k8s-worker-2", LIVE), replace("k8s-worker-3")]
    actions.append(keep("k8s-master-1"))
    running = {**ALL_RUNNING, VMID["k8s-worker-3"]: False}
    out, errors, _ = apply_day2_rule(actions, running, Flags())
    assert errors == [] and out == actions


def test_replacing_an_ha_control_plane_is_refused_saying_remove_then_add() -> None:
    out, errors, warnings = apply_day2_rule(
        [keep("k8s-master-1"), replace("k8s-master-2")], ALL_RUNNING, Flags()
    )
    assert len(errors) == 1 and warnings == []
    assert errors[0].startswith("vm k8s-master-2: replacing a control plane of an HA lab")
    assert "Remove it from the spec and apply" in errors[0]
    assert errors[0].endswith("what you want")
    assert not any(getattr(a, "drain", False) for a in out)  # a refused plan drains nothing


def test_removing_an_ha_control_plane_drains_it_and_removes_its_member_on_one_that_stays() -> None:
    out, errors, warnings = apply_day2_rule(
        [keep("k8s-master-1"), destroy("k8s-master-2", "control-plane")], ALL_RUNNING, Flags()
    )
    assert errors == [] and warnings == []
    gone = out[1]
    assert isinstance(gone, DestroyVm) and gone.drain
    assert gone.etcd_peer == EtcdPeer("k8s-master-1", "pve", VMID["k8s-master-1"])
    # a stopped one still leaves etcd (its member is removed all the same), without a drain
    stopped = {**ALL_RUNNING, VMID["k8s-master-2"]: False}
    out, errors, _ = apply_day2_rule(
        [keep("k8s-master-1"), destroy("k8s-master-2", "control-plane")], stopped, Flags()
    )
    assert errors == [] and isinstance(out[1], DestroyVm) and not out[1].drain
    assert out[1].etcd_peer is not None


def test_removing_a_control_plane_needs_another_that_runs() -> None:
    down = {**ALL_RUNNING, VMID["k8s-master-1"]: False}
    _, errors, _ = apply_day2_rule(
        [keep("k8s-master-1"), destroy("k8s-master-2", "control-plane")], down, Flags()
    )
    assert len(errors) == 1 and "no other control plane runs" in errors[0]


def test_the_peer_is_one_the_apply_does_not_restart_when_there_is_one() -> None:
    data = spec_data()
    for i in (1, 2, 3):
        data["vms"][f"k8s-master-{i}"] = {
            "role": "control-plane",
            "network": "apps",
            "ip": f"10.0.20.1{i}",
        }
    data["kubernetes"]["control_plane_endpoint"] = "10.0.20.5"
    spec = make_spec(data)
    want = desired_vms(spec, seeds_for(spec))
    vmids = {f"k8s-master-{i}": 300 + i for i in (1, 2, 3)}
    restarted = UpdateVm(
        "k8s-master-1", "pve", "spec changed", 301, RESTART, False, want["k8s-master-1"], "d"
    )
    kept = NoOp("k8s-master-2", "pve", "matches", 302, "control-plane")
    gone = DestroyVm("k8s-master-3", "pve", "not in the spec", 303, "control-plane")
    out, errors, _ = apply_day2_rule(
        [restarted, kept, gone], dict.fromkeys(vmids.values(), True), Flags()
    )
    assert errors == [] and isinstance(out[2], DestroyVm)
    assert out[2].etcd_peer == EtcdPeer("k8s-master-2", "pve", 302)


def test_the_last_control_plane_going_ends_the_cluster_unless_it_is_not_running() -> None:
    gone = destroy("k8s-master-1", "control-plane")
    _, errors, _ = apply_day2_rule([gone], ALL_RUNNING, Flags())
    assert errors and "removing the last control plane ends the cluster" in errors[0]
    _, errors, _ = apply_day2_rule([replace("k8s-master-1")], ALL_RUNNING, Flags())
    assert errors and "replacing the only control plane runs kubeadm init again" in errors[0]
    stopped = {VMID["k8s-master-1"]: False}
    assert apply_day2_rule([replace("k8s-master-1")], stopped, Flags())[1] == []


def test_the_flag_turns_refusals_into_warnings_and_drains_nothing() -> None:
    actions: list[Action] = [replace("k8s-master-1"), replace("k8s-worker-2")]
    actions.append(update("k8s-worker-3"))
    out, errors, warnings = apply_day2_rule(actions, ALL_RUNNING, Flags(recreate_cluster=True))
    assert errors == [] and len(warnings) == 1
    assert warnings[0].endswith("(--recreate-cluster given)")
    assert out == actions


def test_a_control_plane_being_updated_still_stays() -> None:
    _, errors, _ = apply_day2_rule(
        [update("k8s-master-1"), replace("k8s-master-2")], ALL_RUNNING, Flags()
    )
    assert len(errors) == 1 and "replacing a control plane of an HA lab" in errors[0]


def test_an_adopted_running_vm_is_restarted_only_when_told() -> None:
    adopted = dataclasses.replace(
        update("k8s-worker-2"), desired=dataclasses.replace(WANT["k8s-worker-2"], adopted=True)
    )
    out, errors, _ = apply_day2_rule([adopted], ALL_RUNNING, Flags())
    assert len(errors) == 1 and errors[0].startswith("vm k8s-worker-2: it was adopted and memory")
    assert errors[0].endswith("Pass --restart-adopted, or change it back")
    out, errors, _ = apply_day2_rule([adopted], ALL_RUNNING, Flags(restart_adopted=True))
    assert errors == [] and isinstance(out[0], UpdateVm) and out[0].drain
    stopped = {VMID["k8s-worker-2"]: False}
    assert apply_day2_rule([adopted], stopped, Flags())[1] == []  # nothing to restart
    no_restart = dataclasses.replace(adopted, changes=LIVE)
    assert apply_day2_rule([no_restart], ALL_RUNNING, Flags())[1] == []
