"""The pure side of the rolling upgrade: the order of the steps, the refusals, the plan's text."""

from __future__ import annotations

import json

from homelab.core.plan.actions import Plan
from homelab.core.plan.json import plan_from_json, plan_to_json
from homelab.core.plan.text import format_plan
from homelab.core.plan.upgrade import APPLY, NODE, next_minor_path, plan_upgrade, version_refusal
from homelab_sim.guest.kubeadm_upgrade import policy_errors

CP = "control-plane"
HA = [
    ("w1", "pve", 104, "worker"),
    ("m2", "pve", 102, CP),
    ("m1", "pve", 101, CP),
    ("m3", "pve", 103, CP),
    ("w2", "pve", 105, "worker"),
]


def test_control_planes_first_in_spec_order_then_workers() -> None:
    versions = {name: "1.29.15" for name, *_ in HA}
    steps, errors = plan_upgrade("1.30.14", versions, HA, control_planes=["m1", "m2", "m3"])
    assert errors == ()
    assert [(s.vm, s.step) for s in steps] == [
        ("m1", APPLY),
        ("m2", NODE),
        ("m3", NODE),
        ("w1", NODE),
        ("w2", NODE),
    ]
    assert steps[0].commands[:4] == (
        "repo v1.30",
        "kubeadm 1.30.14",
        "kubeadm upgrade plan",
        "kubeadm upgrade apply -y v1.30.14",
    )
    # drain comes after apply (UPGRADES.md section 1), then the kubelet
    assert steps[0].commands.index("drain") > steps[0].commands.index(
        "kubeadm upgrade apply -y v1.30.14"
    )


def test_an_interrupted_rollout_goes_on_with_upgrade_node() -> None:
    versions = {name: "1.29.15" for name, *_ in HA} | {"m1": "1.30.14", "m2": "1.30.14"}
    steps, _ = plan_upgrade("1.30.14", versions, HA, control_planes=["m1", "m2", "m3"])
    assert [(s.vm, s.step) for s in steps] == [("m3", NODE), ("w1", NODE), ("w2", NODE)]


def test_nothing_to_do_when_every_node_runs_the_version() -> None:
    versions = {name: "1.30.14" for name, *_ in HA}
    assert plan_upgrade("1.30.14", versions, HA, control_planes=["m1"]) == ((), ())


def test_a_skipped_minor_is_refused_with_the_path() -> None:
    steps, errors = plan_upgrade("1.31.2", {"m1": "1.29.15"}, HA[2:3], control_planes=["m1"])
    assert steps == ()
    (error,) = errors
    assert "skips 1.30" in error and "upgrade to 1.30 first" in error
    assert "1.30 -> 1.31" in error
    assert next_minor_path("1.29.15", "1.32.0") == ["1.30", "1.31", "1.32"]


def test_a_downgrade_is_refused() -> None:
    _, errors = plan_upgrade("1.29.15", {"m1": "1.30.14"}, HA[2:3], control_planes=["m1"])
    assert "downgrade is not supported" in errors[0]
    assert version_refusal("1.30.1", "1.30.0") is not None  # a patch downgrade too


def test_etcd_36_needs_the_newest_133_patch_first() -> None:
    refusal = version_refusal("1.33.2", "1.34.1")
    assert refusal is not None and "1.33.13" in refusal
    assert version_refusal("1.33.13", "1.34.1") is None
    assert version_refusal("x", "1.30.0") is not None


def test_the_plan_shows_and_keeps_the_steps() -> None:
    versions = {name: "1.29.15" for name, *_ in HA}
    steps, _ = plan_upgrade("1.30.14", versions, HA, control_planes=["m1", "m2", "m3"])
    plan = Plan(lab="lab", actions=(), upgrades=steps)
    text = format_plan(plan)
    assert [line.split(".")[0] for line in text.splitlines() if line.startswith("^")] == [
        f"^ upgrade {i}" for i in range(0, 6)
    ]
    assert (
        "^ upgrade 0. first: etcd snapshot to .homelab/lab/etcd/, Proxmox snapshot "
        "pre-k8s-1-30-14 of m1, m2, m3, then the addons of the new minor if they change"
    ) in text
    assert text.rstrip().endswith("5 node(s) to upgrade.")
    assert plan.has_changes and plan.detailed_exit_code == 2
    data = json.loads(plan_to_json(plan))
    assert data["summary"]["upgrade"] == 5 and data["upgrades"][0]["step"] == "apply"
    assert plan_from_json(plan_to_json(plan)).upgrades == steps
    assert "upgrades" not in json.loads(plan_to_json(Plan(lab="lab", actions=())))


def test_the_simulated_kubeadm_version_policy() -> None:
    fatal, skippable = policy_errors("v1.29.15", "1.31.0", "v1.31.0", ["v1.29.15"])
    assert fatal == [
        'Specified version to upgrade to "v1.31.0" is too high; kubeadm can upgrade only 1 '
        "minor version at a time"
    ]
    fatal, _ = policy_errors("v1.29.15", "1.29.15", "v1.30.14", [])
    assert "at least one minor release higher than the kubeadm minor release (30 > 29)" in fatal[0]
    fatal, _ = policy_errors("v1.31.0", "1.31.0", "v1.29.0", [])
    assert "is too low; kubeadm can downgrade only 1 minor version at a time" in fatal[0]
    fatal, skippable = policy_errors("v1.29.15", "1.30.0", "v1.30.14", ["v1.29.15"])
    assert fatal == [] and "Upgrade kubeadm first" in skippable[0]
    _, skippable = policy_errors("v1.30.0", "1.31.0", "v1.30.14", ["v1.26.0"])
    assert any("can only be used to upgrade to Kubernetes version 1.31" in s for s in skippable)
    assert any("too old that have these versions [v1.26.0]" in s for s in skippable)
