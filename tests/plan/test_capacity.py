"""Capacity at plan time: a VM that cannot fit on its node is an error, overcommitment a warning."""

from __future__ import annotations

from homelab.core.plan.capacity import (
    GIB,
    CapacityIssue,
    NodeCapacity,
    StorageSpace,
    VmDemand,
    capacities_from_resources,
    check_capacity,
    demands_from_spec,
)
from homelab.core.spec.validate import validate_text
from tests.spec.helpers import example_text, mutate

PVE = NodeCapacity("pve", 8, 32 * GIB, {"local-lvm": StorageSpace(500 * GIB, 400 * GIB)})


def vm(
    name: str,
    cores: int = 2,
    memory_mib: int = 4096,
    disk_gib: int = 32,
    *,
    node: str = "pve",
    storage: str = "local-lvm",
    new: bool = True,
) -> VmDemand:
    return VmDemand(name, node, cores, memory_mib, disk_gib, storage, new)


def only(issues: list[CapacityIssue]) -> CapacityIssue:
    assert len(issues) == 1, issues
    return issues[0]


def test_a_lab_that_fits_has_no_issue() -> None:
    assert check_capacity([vm("a"), vm("b"), vm("c")], {"pve": PVE}) == []


def test_more_cores_than_the_node_has_cpus_is_an_error() -> None:
    issue = only(check_capacity([vm("big", cores=9)], {"pve": PVE}))
    assert (issue.severity, issue.node, issue.vm) == ("error", "pve", "big")
    assert "9 cores, but node pve has 8 CPUs" in issue.message
    assert "MAX 8 vcpus allowed per VM on this node" in issue.message
    assert check_capacity([vm("big", cores=8)], {"pve": PVE}) == []


def test_more_memory_than_the_node_has_is_an_error() -> None:
    issue = only(check_capacity([vm("big", memory_mib=33 * 1024)], {"pve": PVE}))
    assert issue.is_error and issue.vm == "big"
    assert "33GiB of memory, but node pve has 32GiB" in issue.message
    assert check_capacity([vm("big", memory_mib=32 * 1024)], {"pve": PVE}) == []


def test_the_labs_memory_beyond_the_node_is_a_warning_since_pve_overcommits() -> None:
    vms = [vm("a", memory_mib=16 * 1024), vm("b", memory_mib=16 * 1024), vm("c", memory_mib=1024)]
    issue = only(check_capacity(vms, {"pve": PVE}))
    assert (issue.severity, issue.node, issue.vm) == ("warning", "pve", None)
    assert "(a, b, c) ask for 33GiB of memory, more than its 32GiB" in issue.message
    assert check_capacity(vms[:2], {"pve": PVE}) == []


def test_memory_is_summed_per_node() -> None:
    other = NodeCapacity("pve2", 8, 32 * GIB)
    vms = [vm("a", memory_mib=20 * 1024), vm("b", memory_mib=20 * 1024, node="pve2")]
    assert check_capacity(vms, {"pve": PVE, "pve2": other}) == []


def test_a_disk_larger_than_its_whole_storage_is_an_error() -> None:
    issue = only(check_capacity([vm("big", disk_gib=501)], {"pve": PVE}))
    assert issue.is_error
    assert "a 501GiB disk, but storage local-lvm on node pve holds 500GiB in all" in issue.message


def test_new_disks_beyond_the_free_space_are_a_warning_existing_ones_do_not_count() -> None:
    vms = [vm("a", disk_gib=200), vm("b", disk_gib=201), vm("old", disk_gib=300, new=False)]
    issue = only(check_capacity(vms, {"pve": PVE}))
    assert issue.severity == "warning"
    assert "new disks on storage local-lvm on node pve (a, b) take 401GiB" in issue.message
    assert "only 400GiB is free" in issue.message
    assert check_capacity(vms[1:], {"pve": PVE}) == []


def test_a_shared_storage_is_counted_once_for_the_cluster() -> None:
    ceph = {"ceph": StorageSpace(1000 * GIB, 100 * GIB, shared=True)}
    nodes = {n: NodeCapacity(n, 8, 32 * GIB, ceph) for n in ("pve", "pve2")}
    vms = [vm("a", disk_gib=60, storage="ceph"), vm("b", disk_gib=60, storage="ceph", node="pve2")]
    issue = only(check_capacity(vms, nodes))
    assert "new disks on storage ceph (a, b) take 120GiB, but only 100GiB is free" in issue.message


def test_unknown_nodes_and_storages_are_not_judged() -> None:
    assert check_capacity([vm("a", cores=64, node="gone")], {"pve": PVE}) == []
    assert check_capacity([vm("a", disk_gib=9999, storage="nfs")], {"pve": PVE}) == []


RESOURCES = [
    {
        "id": "node/pve",
        "type": "node",
        "node": "pve",
        "status": "online",
        "maxcpu": 4,
        "maxmem": 16 * GIB,
    },
    {
        "id": "node/pve2",
        "type": "node",
        "node": "pve2",
        "status": "offline",
        "maxcpu": 8,
        "maxmem": 8 * GIB,
    },
    {"id": "node/pve4", "type": "node", "node": "pve4", "status": "online"},
    {
        "id": "node/pve3",
        "type": "node",
        "node": "pve3",
        "status": "online",
        "maxcpu": "2",
        "maxmem": str(8 * GIB),
    },
    {
        "id": "storage/pve/local-lvm",
        "type": "storage",
        "node": "pve",
        "storage": "local-lvm",
        "maxdisk": 100 * GIB,
        "disk": 50 * GIB,
        "shared": 0,
    },
    {
        "id": "storage/pve/ceph",
        "type": "storage",
        "node": "pve",
        "storage": "ceph",
        "maxdisk": 900 * GIB,
        "shared": 1,
    },
    {"id": "qemu/100", "type": "qemu", "node": "pve", "vmid": 100, "maxcpu": 64, "maxmem": 1},
    "junk",
    {"type": "node", "maxcpu": 8, "maxmem": GIB},
]


def test_capacities_come_from_the_unfiltered_cluster_resources() -> None:
    nodes = capacities_from_resources(RESOURCES)
    assert set(nodes) == {"pve", "pve3", "pve4"}  # pve2 is offline
    assert (nodes["pve"].cpus, nodes["pve"].memory_bytes) == (4, 16 * GIB)
    # pve4 online without stats: PVE shows them only to a token with Sys.Audit on the node
    assert (nodes["pve4"].cpus, nodes["pve4"].memory_bytes) == (None, None)
    assert (nodes["pve3"].cpus, nodes["pve3"].memory_bytes) == (2, 8 * GIB)
    assert nodes["pve"].storages == {
        "local-lvm": StorageSpace(100 * GIB, 50 * GIB, shared=False),
        "ceph": StorageSpace(900 * GIB, None, shared=True),
    }
    assert nodes["pve3"].storages == {}


def test_the_example_lab_on_a_small_node() -> None:
    text = mutate(
        example_text(),
        [("k8s-worker-3: {role: worker, cores: 2", "k8s-worker-3: {role: worker, cores: 6")],
    )
    spec = validate_text(text, "lab.yaml").spec
    assert spec is not None
    demands = demands_from_spec(spec, existing={"k8s-master-1"})
    assert [(d.name, d.node, d.new) for d in demands] == [
        ("k8s-master-1", "pve", False),
        ("k8s-worker-2", "pve", True),
        ("k8s-worker-3", "pve", True),
    ]
    issues = check_capacity(demands, capacities_from_resources(RESOURCES))
    assert [(i.severity, i.vm) for i in issues] == [("error", "k8s-worker-3"), ("warning", None)]
    assert "6 cores, but node pve has 4 CPUs" in issues[0].message
    assert "new disks on storage local-lvm on node pve (k8s-worker-2, k8s-worker-3) take 64GiB" in (
        issues[1].message
    )
