"""The pure doctor checks (``homelab.core.doctor``) on hand-made facts."""

from __future__ import annotations

from pathlib import Path

from homelab.core.desired import lab_tag
from homelab.core.doctor import LabFacts, TemplateFacts, diagnose, required_privileges
from homelab.core.plan.capacity import NodeCapacity
from homelab.core.pve_inventory import Guest, StorageFacts
from homelab.core.spec.models import LabSpec
from homelab.verbs.spec import load_valid_spec
from tests.apply.support import write_spec

TEMPLATE = {
    "agent": "enabled=1,fstrim_cloned_disks=1",
    "name": "ubuntu-2404-cloudinit",
    "scsi0": "shared-rbd:base-9000-disk-0,size=3584M",
    "ide2": "shared-rbd:vm-9000-cloudinit,media=cdrom",
    "template": "1",
}
STORAGES = {
    "local-lvm": StorageFacts("local-lvm", frozenset({"images"})),
    "local": StorageFacts("local", frozenset({"iso", "vztmpl"})),
    "shared-rbd": StorageFacts("shared-rbd", frozenset({"images"}), shared=True),
    "nfs": StorageFacts("nfs", frozenset({"iso", "images"}), shared=True),
}
BIG = {n: NodeCapacity(n, 16, 64 * 1024**3) for n in ("pve", "pve2")}


def _spec(tmp_path: Path, **changes: object) -> LabSpec:
    return load_valid_spec(write_spec(tmp_path, dict(changes)))


def _facts(spec: LabSpec, version: str = "8.2.4", **changes: object) -> LabFacts:
    templates = [TemplateFacts(9000, "pve", TEMPLATE)]
    reqs = required_privileges(spec, version, [9000])
    held: dict[str, frozenset[str]] = {}
    for req in reqs:
        held[req.path] = held.get(req.path, frozenset()) | {req.privileges[0]}
    facts: dict[str, object] = {
        "version": version,
        "permissions": held,
        "storages": STORAGES,
        "templates": templates,
        "guests": [],
        "capacities": BIG,
    }
    facts.update(changes)
    return LabFacts(**facts)  # type: ignore[arg-type]


def test_every_requirement_met_finds_nothing(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert diagnose(spec, _facts(spec)) == []


def test_pve9_asks_for_the_guest_agent_privileges_not_vm_monitor(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    names = {req.name for req in required_privileges(spec, "9.0.3")}
    assert "VM.GuestAgent.Audit or VM.GuestAgent.Unrestricted" in names
    assert "VM.Monitor" not in names
    assert "VM.Monitor" in {req.name for req in required_privileges(spec, "8.4.1")}
    facts = _facts(spec, "9.0.3")
    vms = facts.permissions["/vms"] - {"VM.GuestAgent.Audit"} | {"VM.GuestAgent.Unrestricted"}
    unrestricted = _facts(spec, "9.0.3", permissions={**facts.permissions, "/vms": vms})
    assert diagnose(spec, unrestricted) == []
    none = _facts(
        spec,
        "9.0.3",
        permissions={**facts.permissions, "/vms": vms - {"VM.GuestAgent.Unrestricted"}},
    )
    (finding,) = diagnose(spec, none)
    assert "VM.GuestAgent.Audit or VM.GuestAgent.Unrestricted on /vms" in finding.problem


def test_a_template_on_shared_storage_serves_every_node(tmp_path: Path) -> None:
    shared = {"proxmox.storage": "shared-rbd", "proxmox.iso_storage": "nfs"}
    spec = _spec(tmp_path, **{"proxmox.nodes": ["pve", "pve2"], **shared})
    assert diagnose(spec, _facts(spec)) == []
    local = {**TEMPLATE, "ide2": "local-lvm:vm-9000-cloudinit,media=cdrom"}
    findings = diagnose(spec, _facts(spec, templates=[TemplateFacts(9000, "pve", local)]))
    assert [f.check for f in findings] == ["templates"]
    assert "non-shared storage local-lvm" in findings[0].problem


def test_containers_and_other_labs_vms_in_the_range_are_foreign(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    guests = [
        Guest(201, "pve", "qemu", "k8s-master-1", (lab_tag("home-lab"),)),
        Guest(202, "pve", "lxc", "pihole"),
        Guest(203, "pve", "qemu", "db", (lab_tag("other-lab"),)),
        Guest(300, "pve", "lxc", "outside"),
    ]
    (finding,) = diagnose(spec, _facts(spec, guests=guests))
    assert finding.check == "vmids"
    assert "202 (container pihole on pve), 203 (VM db on pve)" in finding.problem
    assert "201" not in finding.problem and "300" not in finding.problem


def test_a_node_local_iso_storage_in_a_cluster_is_a_warning(tmp_path: Path) -> None:
    spec = _spec(tmp_path, **{"proxmox.nodes": ["pve", "pve2"]})
    copies = [TemplateFacts(9000, "pve", TEMPLATE), TemplateFacts(9001, "pve2", TEMPLATE)]
    reqs = required_privileges(spec, "8.2.4", [9000, 9001])
    held: dict[str, frozenset[str]] = {}
    for req in reqs:
        held[req.path] = held.get(req.path, frozenset()) | {req.privileges[0]}
    findings = diagnose(spec, _facts(spec, templates=copies, permissions=held))
    assert [(f.check, f.severity) for f in findings] == [("storage", "warning")]
    assert "local cdrom image" in findings[0].problem
    shared = diagnose(
        spec,
        _facts(
            spec,
            templates=copies,
            permissions=held,
            storages={**STORAGES, "local": STORAGES["nfs"]},
        ),
    )
    assert shared == []


def test_a_read_that_failed_is_not_judged(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    facts = _facts(spec, storages=None, templates=None, guests=None, permissions={})
    assert diagnose(spec, facts) == []
