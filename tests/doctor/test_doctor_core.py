"""The pure doctor checks (``homelab.core.doctor``) on hand-made facts."""

from __future__ import annotations

from pathlib import Path

from homelab.core.desired import lab_tag
from homelab.core.doctor import LabFacts, diagnose, required_privileges
from homelab.core.observed import NodeCapacity, Observed, ObservedVm, StorageSpace
from homelab.core.pve_inventory import StorageFacts
from homelab.core.pve_reply import parse_config
from homelab.core.spec.models import LabSpec
from homelab.engine.proxmox.privileges import LAB_ROLE, SEED_ROLE, role_privileges
from homelab.verbs.spec import load_valid_spec
from tests.apply.support import write_spec

TEMPLATE: dict[str, object] = {
    "agent": "enabled=1,fstrim_cloned_disks=1",
    "scsi0": "shared-rbd:base-9000-disk-0,size=3584M",
    "ide2": "shared-rbd:vm-9000-cloudinit,media=cdrom",
    "template": 1,
    "digest": "0" * 40,
}
STORAGES = {
    "local-lvm": StorageFacts("local-lvm", frozenset({"images"})),
    "local": StorageFacts("local", frozenset({"iso", "vztmpl"})),
    "shared-rbd": StorageFacts("shared-rbd", frozenset({"images"}), shared=True),
    "nfs": StorageFacts("nfs", frozenset({"iso", "images"}), shared=True),
}
DISKS = {"local-lvm": StorageSpace(400 * 1024**3)}
NODES = {n: NodeCapacity(n, 16, 64 * 1024**3, DISKS) for n in ("pve", "pve2")}


def _roles(major: int = 8) -> tuple[frozenset[str], frozenset[str]]:
    return role_privileges(major, LAB_ROLE), role_privileges(major, SEED_ROLE)


def _spec(tmp_path: Path, **changes: object) -> LabSpec:
    return load_valid_spec(write_spec(tmp_path, dict(changes)))


def _vm(
    vmid: int,
    node: str,
    name: str,
    config: dict[str, object] | None = None,
    *,
    tags: tuple[str, ...] = (),
) -> ObservedVm:
    template = config is not None
    return ObservedVm(
        vmid=vmid, name=name, node=node, status="stopped", template=template, lock=None,
        tags=tags, maxmem_mib=2048, cores=2, disk_gib=3,
        config=parse_config({**config, "name": name}) if config is not None else None,
    )  # fmt: skip


def _held(spec: LabSpec, major: int, templates: list[int]) -> dict[str, frozenset[str]]:
    held: dict[str, frozenset[str]] = {}
    for req in required_privileges(spec, *_roles(major), templates):
        held[req.path] = held.get(req.path, frozenset()) | {req.privileges[0]}
    return held


def _facts(
    spec: LabSpec,
    vms: list[ObservedVm] | None = None,
    *,
    major: int = 8,
    storages: dict[str, StorageFacts] = STORAGES,
    vmids: frozenset[int] = frozenset(),
) -> LabFacts:
    vms = vms if vms is not None else [_vm(9000, "pve", "ubuntu-2404-cloudinit", TEMPLATE)]
    observed = Observed(vms=tuple(vms), seed_volumes={}, nodes=("pve",), capacities=NODES)
    held = _held(spec, major, [vm.vmid for vm in vms if vm.template])
    return LabFacts(f"{major}.2.4", held, storages, observed, vmids)


def test_every_requirement_met_finds_nothing(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert diagnose(spec, _facts(spec), *_roles()) == []


def test_pve9_asks_for_the_guest_agent_privileges_not_vm_monitor(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    names = {req.name for req in required_privileges(spec, *_roles(9))}
    assert "VM.GuestAgent.Unrestricted" in names  # commands in the guests (homelab guest)
    assert "VM.Monitor" not in names
    assert "VM.Monitor" in {req.name for req in required_privileges(spec, *_roles(8))}
    facts = _facts(spec, major=9)
    vms = facts.permissions["/vms"] - {"VM.GuestAgent.Unrestricted"}
    for held, found in ((vms | {"VM.GuestAgent.Unrestricted"}, 0), (vms, 1)):
        other = LabFacts(
            facts.version, {**facts.permissions, "/vms": held}, facts.storages, facts.observed
        )
        findings = diagnose(spec, other, *_roles(9))
        assert len(findings) == found
    assert "VM.GuestAgent.Unrestricted on /vms" in findings[0].problem


def test_a_template_on_shared_storage_serves_every_node(tmp_path: Path) -> None:
    shared = {"proxmox.storage": "shared-rbd", "proxmox.iso_storage": "nfs"}
    spec = _spec(tmp_path, **{"proxmox.nodes": ["pve", "pve2"], **shared})
    assert diagnose(spec, _facts(spec), *_roles()) == []
    local = {**TEMPLATE, "ide2": "local-lvm:vm-9000-cloudinit,media=cdrom"}
    findings = diagnose(
        spec, _facts(spec, [_vm(9000, "pve", "ubuntu-2404-cloudinit", local)]), *_roles()
    )
    assert [f.check for f in findings] == ["templates"]
    assert "ide2 (local-lvm:vm-9000-cloudinit) is on node-local storage" in findings[0].problem


def test_containers_and_other_labs_vms_in_the_range_are_foreign(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    vms = [
        _vm(9000, "pve", "ubuntu-2404-cloudinit", TEMPLATE),
        _vm(201, "pve", "k8s-master-1", tags=(lab_tag("home-lab"),)),
        _vm(203, "pve", "db", tags=(lab_tag("other-lab"),)),
    ]
    (finding,) = diagnose(
        spec, _facts(spec, vms, vmids=frozenset({201, 202, 203, 300, 9000})), *_roles()
    )
    assert finding.check == "vmids"
    assert "202 (a container), 203 (VM db on pve)" in finding.problem
    assert "201" not in finding.problem and "300" not in finding.problem


def test_a_node_local_iso_storage_in_a_cluster_is_a_warning(tmp_path: Path) -> None:
    spec = _spec(tmp_path, **{"proxmox.nodes": ["pve", "pve2"]})
    copies = [
        _vm(9000, "pve", "ubuntu-2404-cloudinit", TEMPLATE),
        _vm(9001, "pve2", "ubuntu-2404-cloudinit", TEMPLATE),
    ]
    findings = diagnose(spec, _facts(spec, copies), *_roles())
    assert [(f.check, f.severity) for f in findings] == [("storage", "warning")]
    assert "local cdrom image" in findings[0].problem
    shared = _facts(spec, copies, storages={**STORAGES, "local": STORAGES["nfs"]})
    assert diagnose(spec, shared, *_roles()) == []


def test_a_template_that_is_missing_or_has_no_agent(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    (missing,) = diagnose(spec, _facts(spec, []), *_roles())
    assert missing.problem.startswith("template ubuntu-2404-cloudinit not found")
    no_agent = {key: value for key, value in TEMPLATE.items() if key != "agent"}
    (finding,) = diagnose(
        spec, _facts(spec, [_vm(9000, "pve", "ubuntu-2404-cloudinit", no_agent)]), *_roles()
    )
    assert finding.fix.startswith("qm set 9000 --agent enabled=1")


def test_a_read_that_failed_is_not_judged(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert diagnose(spec, LabFacts("8.2.4", {}, None, None), *_roles()) == []


def test_each_privilege_goes_on_the_path_pve_checks_it_on(tmp_path: Path) -> None:
    spec = _spec(tmp_path, **{"proxmox.nodes": ["pve", "pve2"]})
    lab = {"VM.Clone", "VM.Audit", "Datastore.Audit", "Sys.Audit", "SDN.Use"}
    seeds = {"Datastore.Allocate", "Datastore.Audit"}
    found = {(r.path, r.name) for r in required_privileges(spec, lab, seeds, [9000, 9001])}
    assert found == {
        ("/vms/9000", "VM.Clone"),
        ("/vms/9001", "VM.Clone"),
        ("/vms", "VM.Audit"),
        ("/storage/local-lvm", "Datastore.Audit"),
        ("/storage/local", "Datastore.Audit"),
        ("/storage/local", "Datastore.Allocate"),
        ("/nodes/pve", "Sys.Audit"),
        ("/nodes/pve2", "Sys.Audit"),
        ("/sdn/zones/localnetwork/vmbr0/20", "SDN.Use"),
    }
