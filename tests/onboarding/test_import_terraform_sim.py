"""The measure of `homelab import terraform`: the VMs of each example state made on the simulator
as their provider would have made them, the imported spec adopted, then planned.

The plan after the adopt changes exactly what the importer said it would (its report's "homelab's
plan will change" lines, per VM) and nothing else, with no error; for these examples that is
nothing at all. The Telmate examples leave ``onboot`` off (Telmate's default): the spec says so
(``onboot: false``), so the plan keeps it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from homelab.core.plan.actions import AdoptVm, Plan, UpdateVm
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.tasks import TaskWaits
from homelab.verbs.import_terraform import import_terraform, read_state_text
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.provision import adopt_lab
from tests.apply.support import inprocess, new_sim, root_client

STATES = Path(__file__).resolve().parent / "terraform"
QUICK = TaskWaits(timeout=120.0, poll=0.02, poll_cap=0.2)  # the simulator's tasks are short
#: what homelab's plan changes after the adopt, per imported VM (measured; see the docstring)
AFTER_ADOPT: dict[str, dict[str, list[str]]] = {
    "bpg-0.111.tfstate": {"k8s-cp-1": [], "k8s-worker-1": [], "k8s-worker-2": []},
    "telmate-2.9.14.tfstate": {
        "terraform-test-vm": [],
        "k8s-master-1": [],
        "k8s-worker-1": [],
        "k8s-worker-2": [],
    },
    "telmate-3.0.2-rc09.tfstate": {
        "k8s-master-1": [],
        "k8s-worker-1": [],
        "k8s-worker-2": [],
    },
}


# ---- the VMs as the providers make them ----------------------------------------------------


@dataclass
class MadeVm:
    """A VM as its provider creates it from the template: the clone, then its config."""

    vmid: int
    name: str
    node: str
    full: bool
    config: dict[str, Any]
    nic: tuple[str, str | None, str, int | None] | None  # model, MAC, bridge, VLAN tag
    disks: list[tuple[str, str]]  # (slot, size) the provider grows the clone's disk to
    running: bool


def _first(value: Any) -> dict[str, Any]:
    return value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else {}


def _telmate_disks(attrs: dict[str, Any]) -> list[tuple[str, str]]:
    disks: list[tuple[str, str]] = []
    for disk in attrs.get("disk") or []:
        slot = disk.get("slot")
        if isinstance(slot, str):  # 3.x: slot "scsi0", type disk|cloudinit|cdrom
            if disk.get("type") == "disk":
                disks.append((slot, disk["size"]))
        else:  # 2.9: type is the bus, slot its number
            disks.append((f"{disk['type']}{slot or 0}", disk["size"]))
    for bus in _first(attrs.get("disks")).get("scsi") or []:
        for slot, entries in bus.items():
            disks += [(slot, d["size"]) for entry in entries for d in entry.get("disk") or []]
    return disks


def _telmate(attrs: dict[str, Any]) -> MadeVm:
    cpu = _first(attrs.get("cpu"))
    nic = next((n for n in attrs.get("network") or [] if n.get("id") in (0, None)), None)
    power = attrs.get("power_state") or attrs.get("vm_state") or "running"
    cpu_type = attrs["cpu"] if isinstance(attrs.get("cpu"), str) else cpu.get("type", "host")
    return MadeVm(
        vmid=attrs["vmid"],
        name=attrs["name"],
        node=attrs.get("current_node") or attrs["target_node"],
        full=attrs.get("full_clone", True),
        config={
            "cores": cpu.get("cores") or attrs.get("cores") or 1,
            "sockets": cpu.get("sockets") or attrs.get("sockets") or 1,
            "cpu": cpu_type,
            "memory": attrs.get("memory") or 512,
            "scsihw": attrs.get("scsihw") or "lsi",
            "agent": attrs.get("agent") or 0,
            "onboot": int(bool(attrs.get("start_at_node_boot") or attrs.get("onboot"))),
            "description": attrs.get("description") or attrs.get("desc"),
            "tags": (attrs.get("tags") or "").replace(",", ";"),
            "ipconfig0": attrs.get("ipconfig0"),
            "nameserver": attrs.get("nameserver"),
            "searchdomain": attrs.get("searchdomain"),
            "ciuser": attrs.get("ciuser"),
            "sshkeys": attrs.get("sshkeys"),
        },
        nic=None
        if nic is None
        else (nic.get("model") or "virtio", nic.get("macaddr"), nic["bridge"], nic.get("tag")),
        disks=_telmate_disks(attrs),
        running=power in ("running", "started"),
    )


def _bpg(attrs: dict[str, Any]) -> MadeVm | None:
    if attrs.get("template"):
        return None
    cpu, init = _first(attrs.get("cpu")), _first(attrs.get("initialization"))
    ipv4 = _first(_first(init.get("ip_config")).get("ipv4"))
    dns, user = _first(init.get("dns")), _first(init.get("user_account"))
    ipconfig = f"ip={ipv4['address']}" if ipv4.get("address") else None
    if ipconfig and ipv4.get("gateway"):
        ipconfig += f",gw={ipv4['gateway']}"
    nic = _first(attrs.get("network_device"))
    agent = int(bool(_first(attrs.get("agent")).get("enabled")))
    return MadeVm(
        vmid=attrs["vm_id"],
        name=attrs["name"],
        node=attrs["node_name"],
        full=_first(attrs.get("clone")).get("full", True),
        config={
            "cores": cpu.get("cores", 1),
            "sockets": cpu.get("sockets", 1),
            "cpu": cpu.get("type", "qemu64"),
            "memory": _first(attrs.get("memory")).get("dedicated", 512),
            "scsihw": attrs.get("scsi_hardware", "virtio-scsi-pci"),
            "agent": f"enabled={agent}",
            "onboot": int(attrs.get("on_boot", True)),
            "description": attrs.get("description"),
            "tags": ";".join(attrs.get("tags") or []),
            "ipconfig0": ipconfig,
            "nameserver": " ".join(dns.get("servers") or []),
            "searchdomain": dns.get("domain"),
            "ciuser": user.get("username"),
            "sshkeys": "\n".join(user.get("keys") or []),
        },
        nic=(nic["model"], nic.get("mac_address"), nic["bridge"], nic.get("vlan_id"))
        if nic
        else None,
        disks=[(d["interface"], f"{d['size']}G") for d in attrs.get("disk") or []],
        running=attrs.get("started", True),
    )


def terraform_vms(state: dict[str, Any]) -> list[MadeVm]:
    """The VMs of the managed Telmate and bpg VM resources of ``state``."""
    readers = {"proxmox_vm_qemu": _telmate, "proxmox_virtual_environment_vm": _bpg}
    found: list[MadeVm] = []
    for resource in state["resources"]:
        reader = readers.get(resource["type"]) if resource.get("mode") != "data" else None
        for instance in resource["instances"] if reader else []:
            made = reader(instance["attributes"]) if reader else None
            if made is not None:
                found.append(made)
    return found


def seed_from_state(client: PveClient, state: dict[str, Any], template: int = 9000) -> list[MadeVm]:
    """Clone the template into each VM of ``state`` and set what the provider sets: cores,
    sockets, CPU type, memory, SCSI controller, agent, onboot, description, tags, net0 (the
    clone's MAC kept unless the state names one), ipconfig0 and the other cloud-init keys; grow
    the disks the clone has to the state's sizes; start it."""
    vms = terraform_vms(state)
    for vm in vms:
        storage = "local-lvm" if vm.full else None
        upid = client.clone(vm.node, template, vm.vmid, name=vm.name, full=vm.full, storage=storage)
        client.wait_task(upid, QUICK)
        config = {key: value for key, value in vm.config.items() if value not in (None, "")}
        if vm.nic is not None:
            model, mac, bridge, tag = vm.nic
            cloned = client.vm_config(vm.node, vm.vmid)[0]["net0"]
            mac = mac or cloned.split(",")[0].split("=")[1]
            vlan = f",tag={tag}" if tag and tag > 0 else ""
            config["net0"] = f"{model}={mac},bridge={bridge}{vlan}"
        client.update_config(vm.node, vm.vmid, **config)
        present = client.vm_config(vm.node, vm.vmid)[0]
        for slot, size in vm.disks:
            if slot in present:
                resized = client.resize(vm.node, vm.vmid, slot, size)
                if resized:
                    client.wait_task(resized, QUICK)
        if vm.running:
            client.wait_task(client.start(vm.node, vm.vmid), QUICK)
    return vms


# ---- the measure -------------------------------------------------------------------------------


def changes_by_vm(plan: Plan) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for action in plan.changes:
        assert isinstance(action, UpdateVm), action
        found[action.vm] = [change.key for change in action.changes]
    return found


@pytest.mark.parametrize("name", sorted(AFTER_ADOPT))
def test_adopting_the_imported_spec_leaves_only_the_predicted_changes(
    name: str, tmp_path: Path
) -> None:
    sim = new_sim()
    seeded = seed_from_state(root_client(sim), json.loads((STATES / name).read_text()))
    conn = inprocess(sim)
    spec = tmp_path / "lab.yaml"
    outcome = import_terraform(read_state_text(STATES / name), name, spec, name="tf-lab")
    imported = {str(draft.vm.name): draft.vm for draft in outcome.result.imported}
    others = [vm.vmid for vm in seeded if vm.name not in imported]
    before = {vmid: conn.client.vm_config("pve", vmid)[0] for vmid in others}
    ctx = prepare_lab(spec)
    try:
        shown: list[Plan] = []

        def confirm(plan: Plan) -> bool:
            shown.append(plan)
            return True

        adopted = adopt_lab(conn, ctx, confirm=confirm)
        assert adopted.report is not None and adopted.report.ok
        assert all(isinstance(action, AdoptVm) for action in shown[0].actions)
        assert sorted(action.vm for action in shown[0].actions) == sorted(imported)
        plan, _ = make_plan(conn, ctx)
        assert plan.errors == () and plan.warnings == ()
        measured = {vm: changes_by_vm(plan).get(vm, []) for vm in imported}
        predicted = {vm: [d.key for d in machine.differences()] for vm, machine in imported.items()}
        assert measured == predicted == AFTER_ADOPT[name]
        # the VMs the spec does not hold were not touched
        assert {vmid: conn.client.vm_config("pve", vmid)[0] for vmid in others} == before
    finally:
        ctx.close()
        rejected = sim.log.rejections()
        sim.close()
    assert rejected == [], f"the simulator rejected requests: {rejected[:3]}"
