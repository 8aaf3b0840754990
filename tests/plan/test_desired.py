"""Desired VMs and the names homelab writes on Proxmox."""

from __future__ import annotations

from homelab.core import desired
from tests.plan.labs import make_spec, seeds_for, spec_data


def test_placement_agrees_with_the_spec_round_robin() -> None:
    data = spec_data()
    data["proxmox"]["nodes"] = ["a", "b", "c"]
    data["vms"]["k8s-worker-2"]["node"] = "c"
    for index in range(4, 9):
        data["vms"][f"w-{index}"] = {"role": "worker", "network": "apps", "ip": f"10.0.20.{index}"}
    spec = make_spec(data)
    assert desired.placement(spec) == {name: spec.node_of(name) for name in spec.vms}


def test_seed_volume_names_parse_back_to_their_vm_only() -> None:
    name = desired.seed_volume_name("home-lab", "k8s-worker-1", "0123456789abcdef" * 4)
    assert name == "homelab-home-lab-k8s-worker-1-0123456789ab.iso"
    assert desired.is_seed_volume_of("home-lab", "k8s-worker-1", name)
    assert not desired.is_seed_volume_of("home-lab", "k8s-worker", name)
    assert not desired.is_seed_volume_of("home", "lab-k8s-worker-1", "x.iso")
    assert desired.seed_owner_of("homelab-home-lab-k8s-worker-1-0123456789ZZ.iso") is None
    assert desired.seed_owner_of("ubuntu-24.04-live-server-amd64.iso") is None


def test_digest_covers_managed_settings_but_not_the_node() -> None:
    spec = make_spec()
    base = desired.desired_vms(spec, seeds_for(spec))["k8s-worker-2"]
    data = spec_data()
    data["proxmox"]["nodes"] = ["other"]
    moved = desired.desired_vms(make_spec(data), seeds_for(spec))["k8s-worker-2"]
    assert moved.node == "other" and moved.digest == base.digest
    data = spec_data()
    data["vms"]["k8s-worker-2"]["memory"] = 2048
    smaller = desired.desired_vms(make_spec(data), seeds_for(spec))["k8s-worker-2"]
    assert smaller.digest != base.digest and smaller.seed_volume != base.seed_volume
    assert desired.parse_description_record(base.description) == base.record
    assert desired.DesiredVm.from_dict(base.to_dict()) == base


def test_user_notes_in_a_description_survive_a_new_record() -> None:
    spec = make_spec()
    want = desired.desired_vms(spec, seeds_for(spec))["k8s-worker-2"]
    old = desired.description_text(want.record, "rack 2\nask Bob") + "\n"
    assert desired.user_notes(old) == "rack 2\nask Bob"
    assert desired.user_notes(None) == ""
    new = desired.description_text(want.record, desired.user_notes(old))
    assert desired.parse_description_record(new) == want.record
    assert new.endswith("\n\nrack 2\nask Bob")


def test_a_twin_names_its_seeds_vm_and_never_another() -> None:
    seed = desired.seed_volume_name("home-lab", "k8s-worker-1", "0123456789abcdef" * 4)
    twin = desired.clean_volume_name(seed)
    assert twin == "homelab-home-lab-k8s-worker-1-0123456789ab-clean.iso"
    assert desired.seed_owner_of(twin) == desired.seed_owner("home-lab", "k8s-worker-1")
    assert desired.is_seed_volume_of("home-lab", "k8s-worker-1", twin)
    assert desired.is_clean_volume(twin) and not desired.is_clean_volume(seed)
    # a VM whose name ends in -clean keeps its own seeds, and is no twin
    other = desired.seed_volume_name("home-lab", "x-clean", "0123456789abcdef" * 4)
    assert desired.seed_owner_of(other) == "homelab-home-lab-x-clean"
    assert not desired.is_clean_volume(other)
    assert desired.seed_owner_of("homelab-home-lab-x-clean.iso") is None
    assert not desired.is_clean_volume("homelab-home-lab-x-clean.iso")  # no seed's twin
