"""Property: planning against what applying the plan left behind is a no-op, forever."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from homelab.core.desired import desired_vms
from homelab.core.ownership import Flags, Steward
from homelab.core.plan.build import plan_lab
from tests.plan.labs import make_spec, seeds_for, spec_data, without_configs
from tests.plan.pvelab import PveLab

VmSettings = tuple[int, int, int]  # cores, memory GiB, disk GiB

vm_settings = st.tuples(st.integers(1, 8), st.integers(1, 16), st.integers(16, 128))


@st.composite
def labs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    """A lab spec, a later version of it (grow-only disks), and the seed salts of each."""
    nodes = draw(st.sampled_from([["pve"], ["pve1", "pve2"], ["a", "b", "c"]]))
    before = draw(st.dictionaries(st.sampled_from(range(12)), vm_settings, min_size=1))
    after = draw(st.dictionaries(st.sampled_from(range(12)), vm_settings, min_size=1))
    after = {
        index: (cores, memory, max(disk, before.get(index, (0, 0, 0))[2]))
        for index, (cores, memory, disk) in after.items()
    }
    templates = draw(
        st.lists(st.sampled_from(["ubuntu-2404", "ubuntu-2204"]), min_size=2, max_size=2)
    )
    salts = draw(st.lists(st.sampled_from(["", "v2"]), min_size=2, max_size=2))
    return (
        lab_data(nodes, before, templates[0]),
        lab_data(nodes, after, templates[1]),
        salts[0],
        salts[1],
    )


RECREATE = Steward(flags=Flags(recreate_cluster=True))


def lab_data(nodes: list[str], vms: dict[int, VmSettings], template: str) -> dict[str, Any]:
    data = spec_data()
    data["proxmox"]["nodes"] = nodes
    data["proxmox"]["template"] = template
    first = min(vms)
    data["vms"] = {
        f"vm-{index}": {
            "role": "control-plane" if index == first else "worker",
            "cores": cores,
            "memory": f"{memory}GiB",
            "disk": disk,
            "network": "apps",
            "ip": f"10.0.20.{10 + index}",
        }
        for index, (cores, memory, disk) in sorted(vms.items())
    }
    return data


@settings(max_examples=60, deadline=None)
@given(labs())
def test_plan_after_applying_the_plan_is_a_no_op(case: tuple[Any, Any, str, str]) -> None:
    """Each apply goes through the engine's config writer into PVE's strings, and each plan reads
    them back through the parsers of PVE's replies (tests/plan/pvelab.py)."""
    before_data, after_data, salt_before, salt_after = case
    before, after = make_spec(before_data), make_spec(after_data)
    lab = PveLab.with_templates(tuple(before.proxmox.nodes))
    lab.apply(plan_lab(before, seeds_for(before, salt_before), lab.observe()))

    seeds = seeds_for(after, salt_after)
    unflagged = plan_lab(after, seeds, lab.observe())
    # the day-2 rule may refuse what re-creates the cluster; with the flag everything goes
    assert all("--recreate-cluster" in e for e in unflagged.errors), unflagged.errors
    change = plan_lab(after, seeds, lab.observe(), RECREATE)
    assert change.errors == (), change.errors
    lab.apply(change)
    observed = lab.observe()

    again = plan_lab(after, seeds, observed)
    assert not again.has_changes and again.errors == () and again.warnings == (), again
    cheap = plan_lab(after, seeds, without_configs(observed))
    assert cheap.needs_configs == () and not cheap.has_changes
    assert len(cheap.actions) == len(after.vms)
    guests = [vm for vm in observed.vms if not vm.template]
    assert sorted(vm.name or "" for vm in guests) == sorted(after.vms)
    assert all(vm.status == "running" for vm in guests)
    wanted = {want.seed_volid for want in desired_vms(after, seeds).values()}
    assert {v for vols in observed.seed_volumes.values() for v in vols} == wanted
