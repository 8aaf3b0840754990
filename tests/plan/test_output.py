"""Text and JSON forms of a plan: golden files, round trips, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homelab.core.backup.jobs import ObservedJob
from homelab.core.ownership import Steward
from homelab.core.plan import json as plan_json
from homelab.core.plan import text
from homelab.core.plan.actions import DestroyVm, Plan, ReplaceVm, UpdateVm
from homelab.core.plan.build import plan_lab
from homelab.core.plan.freshness import stale_reasons
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
from tests.support.golden import updating

GOLDEN = Path(__file__).parent / "golden"
UPDATE = updating()
BASE = make_spec()
STEWARD = Steward(store="5e1f0c2a9b7d4e60")  # the state store's id, recorded on every VM


def golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(actual)
    assert actual == path.read_text()


def mixed_plan() -> Plan:
    """Add worker-4, grow the master's memory and disk, drop worker-3, new seed for worker-2:
    every VM that is disrupted while running is drained first."""
    made = plan_lab(BASE, seeds_for(BASE), empty_observed(), STEWARD)
    observed = apply_plan(made, empty_observed())
    data = spec_data()
    data["vms"]["k8s-master-1"].update(memory="8GiB", disk="48GiB")
    del data["vms"]["k8s-worker-3"]
    data["vms"]["k8s-worker-4"] = {"role": "worker", "network": "apps", "ip": "10.0.20.23"}
    data["backup"] = {
        "storage": {"existing": "backups"},
        "jobs": {
            "nightly": {"schedule": "02:30", "retention": {"keep_last": 7}},
            "masters": {
                "vms": {"role": "control-plane"},
                "schedule": "sat *-1..7 03:00",
                "retention": {"keep_monthly": 6},
            },
        },
    }
    spec = make_spec(data)
    seeds = dict(seeds_for(spec), **{"k8s-worker-2": "9" * 64})
    vmids = {vm.name: vm.vmid for vm in observed.vms if vm.name}
    nightly = {
        "schedule": "03:00",  # changed in the spec since
        "storage": "backups",
        "mode": "snapshot",
        "compress": "zstd",
        "prune-backups": "keep-last=7",
        "notes-template": "{{guestname}}",
        "comment": "homelab lab=home-lab job=nightly",
        "vmid": ",".join(str(vmids[n]) for n in ("k8s-master-1", "k8s-worker-2", "k8s-worker-3")),
    }
    jobs = (
        ObservedJob(
            "homelab-home-lab-nightly",
            nightly,
            frozenset(int(v) for v in nightly["vmid"].split(",")),
        ),
        ObservedJob(
            "homelab-home-lab-hourly",
            {"schedule": "hourly", "comment": "homelab lab=home-lab job=hourly", "vmid": "200"},
            frozenset({200}),
        ),
        ObservedJob("backup-1a2b3c4d", {"schedule": "daily", "all": "1"}, frozenset()),
    )
    observed = observed.model_copy(update={"backup_jobs": jobs})
    return plan_lab(spec, seeds, observed, STEWARD)


def test_mixed_plan_text() -> None:
    plan = mixed_plan()
    golden("mixed.txt", text.format_plan(plan))
    golden("mixed-verbose.txt", text.format_plan(plan, verbose=True))
    markers = [line.marker for line in text.plan_lines(plan)]
    assert markers == ["~", "-/+", "+", "-", "~", "+", "-", ""]
    drained = {
        a.vm: a.drain for a in plan.changes if isinstance(a, UpdateVm | ReplaceVm | DestroyVm)
    }
    assert drained == {"k8s-master-1": True, "k8s-worker-2": True, "k8s-worker-3": True}


def test_mixed_plan_json_is_stable_and_round_trips() -> None:
    plan = mixed_plan()
    document = plan_json.plan_to_json(plan)
    golden("mixed.json", document)
    assert plan_json.plan_from_json(document) == plan
    assert plan_json.plan_to_json(plan_json.plan_from_json(document)) == document
    data = json.loads(document)
    assert data["format_version"] == 3
    assert [a.get("drain") for a in data["actions"]] == [True, True, None, True]
    assert data["summary"] == {
        "add": 1, "change": 1, "replace": 1, "destroy": 1, "adopt": 0, "no_op": 0,
        "backup_jobs": 3,
    }  # fmt: skip
    jobs = {j["name"]: j for j in data["backup_jobs"]}
    assert [j["kind"] for j in data["backup_jobs"]] == ["update", "create", "delete"]
    # worker-2 is replaced and worker-4 created: their VMIDs are known only during apply
    assert jobs["nightly"]["pending"] == ["k8s-worker-2", "k8s-worker-4"]
    assert jobs["masters"]["pending"] == [] and len(jobs["masters"]["vmids"]) == 1


def test_no_op_plan_text() -> None:
    observed = apply_plan(plan_lab(BASE, seeds_for(BASE), empty_observed()), empty_observed())
    plan = plan_lab(BASE, seeds_for(BASE), without_configs(observed))
    assert text.format_plan(plan) == "No changes. The lab matches the spec.\n"
    golden("noop-verbose.txt", text.format_plan(plan, verbose=True))


def test_plan_with_errors_and_pending_configs() -> None:
    observed = apply_plan(plan_lab(BASE, seeds_for(BASE), empty_observed()), empty_observed())
    data = spec_data()
    data["vms"]["k8s-worker-5"] = {"role": "worker", "network": "apps", "ip": "10.0.20.25"}
    data["vms"]["k8s-worker-2"]["cores"] = 4
    spec = make_spec(data)
    other = stranger(spec, "k8s-worker-5", 150)
    plan = plan_lab(spec, seeds_for(spec), add_vm(without_configs(observed), other))
    golden("errors.txt", text.format_plan(plan))
    assert [line.marker for line in text.plan_lines(plan)] == ["?", "!", ""]
    assert "it has no homelab tag or record; run `homelab adopt SPEC`" in plan.errors[0]
    assert plan_json.plan_from_dict(plan_json.plan_to_dict(plan)) == plan


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "does not hold a JSON object"),
        ('{"format_version": 99}', "format_version 99"),
        ('{"format_version": 2}', "format_version 2; this homelab reads 3"),
        ('{"format_version": 3, "lab": "x"}', r"damaged \(KeyError: .actions."),
    ],
)
def test_bad_plan_files_are_refused_with_a_reason(document: str, message: str) -> None:
    with pytest.raises(plan_json.PlanFileError, match=message):
        plan_json.plan_from_json(document)


def test_unknown_action_kind_is_refused() -> None:
    data = plan_json.plan_to_dict(mixed_plan())
    data["actions"][0]["kind"] = "migrate"
    with pytest.raises(plan_json.PlanFileError, match="unknown action kind 'migrate'"):
        plan_json.plan_from_dict(data)


def test_stale_plan_is_detected() -> None:
    observed = apply_plan(plan_lab(BASE, seeds_for(BASE), empty_observed()), empty_observed())
    seeds = seeds_for(BASE)
    plan = plan_lab(BASE, seeds, observed)
    assert stale_reasons(plan, BASE, seeds, without_configs(observed)) == ()
    vm = find(observed, "k8s-worker-2")
    moved = replace_vm(observed, vm.model_copy(update={"status": "stopped"}))
    assert stale_reasons(plan, BASE, seeds, moved) == ("VM 201 changed since the plan was made",)
    gone = observed.model_copy(update={"vms": observed.vms[:2]})
    assert stale_reasons(plan, BASE, seeds, gone) == ("VM 202 no longer exists",)
    other_seeds = dict(seeds, **{"k8s-worker-2": "0" * 64})
    assert stale_reasons(plan, BASE, other_seeds, observed) == (
        "the spec or the rendered seeds changed since the plan was made",
    )
    newcomer = vm.model_copy(update={"vmid": 260, "name": "k8s-worker-9"})
    assert stale_reasons(plan, BASE, seeds, add_vm(observed, newcomer)) == (
        "VM 260 (k8s-worker-9) of lab home-lab appeared since the plan was made",
    )
