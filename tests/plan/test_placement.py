"""placement_problems: a VM placed where no usable template is, and a template's own cloud-init
drive on another bus than ide2, found before anything changes."""

from __future__ import annotations

from typing import Any

import pytest

from homelab.core.observed import NodeCapacity, Observed, ObservedVm, StorageSpace, VmConfig
from homelab.core.plan.build import config_targets, plan_lab
from homelab.core.plan.placement import is_cloudinit_volume, placement_problems
from tests.plan.labs import empty_observed, make_spec, seeds_for, spec_data

GIB = 1024**3
LOCAL = {
    "local-lvm": StorageSpace(400 * GIB, 300 * GIB, shared=False),
    "local": StorageSpace(100 * GIB, 90 * GIB, shared=False),
    "ceph": StorageSpace(900 * GIB, 800 * GIB, shared=True),
}


def template(
    vmid: int,
    node: str,
    *,
    disk: str = "local-lvm:base-9000-disk-0",
    cdroms: tuple[tuple[str, str], ...] = (("ide2", "local-lvm:vm-9000-cloudinit"),),
    read: bool = True,
) -> ObservedVm:
    config = VmConfig(
        name="ubuntu-2404-cloudinit", cores=2, sockets=1, memory_mib=2048, net0=None,
        boot_disk=None, cdroms=cdroms, agent=True, description=None, record=None, tags=(),
        onboot=False, digest="d", template=True, disks=(("scsi0", disk),),
    )  # fmt: skip
    return ObservedVm(
        vmid=vmid, name="ubuntu-2404-cloudinit", node=node, status="stopped", template=True,
        lock=None, tags=(), maxmem_mib=2048, cores=2, disk_gib=4, config=config if read else None,
    )  # fmt: skip


def two_nodes(*templates: ObservedVm) -> Observed:
    nodes = ("pve", "pve2")
    return Observed(
        vms=templates,
        seed_volumes={n: () for n in nodes},
        nodes=nodes,
        capacities={n: NodeCapacity(n, 8, 32 * GIB, LOCAL) for n in nodes},
    )


def spec(**proxmox: Any) -> Any:
    data = spec_data()
    data["proxmox"].update({"nodes": ["pve", "pve2"], **proxmox})
    return make_spec(data)


def test_a_template_per_node_is_fine() -> None:
    observed = two_nodes(template(9000, "pve"), template(9001, "pve2"))
    assert placement_problems(spec(), observed) == []


def test_full_clone_to_a_node_without_template_onto_local_storage_is_refused() -> None:
    problems = placement_problems(spec(), two_nodes(template(9000, "pve")))
    assert len(problems) == 1  # k8s-worker-2 is placed on pve2 (round-robin)
    assert problems[0].startswith("vm k8s-worker-2: placed on node pve2")
    assert "can't clone to non-shared storage 'local-lvm'" in problems[0]
    assert "one template per node" in problems[0]


def test_shared_target_storage_still_needs_the_template_on_shared_storage() -> None:
    problems = placement_problems(spec(storage="ceph"), two_nodes(template(9000, "pve")))
    assert len(problems) == 1
    assert "can't clone VM to node 'pve2' (VM uses local storage)" in problems[0]
    assert "scsi0 (local-lvm:base-9000-disk-0)" in problems[0]
    assert "ide2 (local-lvm:vm-9000-cloudinit)" in problems[0]


def test_a_template_wholly_on_shared_storage_clones_anywhere() -> None:
    shared = template(9000, "pve", disk="ceph:base-9000-disk-0", cdroms=(("ide2", "none"),))
    assert placement_problems(spec(storage="ceph"), two_nodes(shared)) == []


def test_linked_clones_need_the_template_volumes_shared() -> None:
    problems = placement_problems(spec(clone="linked"), two_nodes(template(9000, "pve")))
    assert len(problems) == 1
    assert "(VM uses local storage)" in problems[0]


def test_facts_not_observed_are_not_judged() -> None:
    unread = two_nodes(template(9000, "pve", read=False)).model_copy(update={"capacities": {}})
    assert placement_problems(spec(storage="ceph"), unread) == []


@pytest.mark.parametrize("key", ["scsi1", "ide0", "sata0"])
def test_a_cloudinit_drive_off_ide2_is_refused(key: str) -> None:
    drive = ((key, "local-lvm:vm-9000-cloudinit"),)
    observed = two_nodes(template(9000, "pve", cdroms=drive), template(9001, "pve2"))
    problems = placement_problems(spec(), observed)
    assert len(problems) == 1
    assert f"has Proxmox's cloud-init drive on {key}" in problems[0]
    assert f"qm set 9000 --delete {key}" in problems[0]


def test_cloudinit_volume_names() -> None:
    assert is_cloudinit_volume("local-lvm:vm-9000-cloudinit")
    assert is_cloudinit_volume("local:9000/vm-9000-cloudinit.qcow2")
    assert not is_cloudinit_volume("local:iso/homelab-home-lab-cloudinit.iso")
    assert not is_cloudinit_volume("local-lvm:vm-9000-disk-0")


# ---- wired into plan_lab ------------------------------------------------------------------------


def test_plan_reads_the_template_it_clones_from_before_it_is_final() -> None:
    lab = spec()
    unread = two_nodes(template(9000, "pve", read=False), template(9001, "pve2", read=False))
    plan = plan_lab(lab, seeds_for(lab), unread)
    assert config_targets(plan, unread) == (("pve", 9000), ("pve2", 9001))
    read = two_nodes(template(9000, "pve"), template(9001, "pve2"))
    again = plan_lab(lab, seeds_for(lab), read)
    assert config_targets(again, read) == () and not again.errors


def test_plan_errors_name_the_vm_without_a_usable_template() -> None:
    lab = spec()
    plan = plan_lab(lab, seeds_for(lab), two_nodes(template(9000, "pve")))
    assert len(plan.errors) == 1 and "vm k8s-worker-2: placed on node pve2" in plan.errors[0]


def test_plan_reports_capacity_errors_and_warnings() -> None:
    data = spec_data()
    data["proxmox"]["nodes"] = ["pve", "pve2"]
    data["vms"]["k8s-worker-2"]["cores"] = 12
    data["vms"]["k8s-worker-3"]["memory"] = "30GiB"
    data["vms"]["k8s-master-1"]["memory"] = "8GiB"
    lab = make_spec(data)
    observed = two_nodes(template(9000, "pve"), template(9001, "pve2"))
    plan = plan_lab(lab, seeds_for(lab), observed)
    assert plan.errors == (
        "vm k8s-worker-2: 12 cores, but node pve2 has 8 CPUs; Proxmox VE would refuse to start "
        "it (MAX 8 vcpus allowed per VM on this node): lower cores or place it on a larger node",
    )
    (warning,) = [w for w in plan.warnings if "ask for" in w]
    assert warning.startswith(
        "the lab's VMs on node pve (k8s-master-1, k8s-worker-3) ask for 38GiB"
    )


def test_no_capacity_known_no_judgement() -> None:
    data = spec_data()
    data["vms"]["k8s-worker-2"]["cores"] = 64
    lab = make_spec(data)
    plan = plan_lab(lab, seeds_for(lab), empty_observed())
    assert plan.errors == ()
