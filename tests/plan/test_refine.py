"""The observe -> plan -> read configs -> plan loop, through the real PVE parsers.

What homelab writes on a VM (tags, description, seed ISO on ide2, sizes) is rendered here the
way PVE 8 returns it, parsed back, and must plan as a no-op: no perpetual diffs."""

from __future__ import annotations

from typing import Any

from homelab.core import pve_reply as pve
from homelab.core.desired import DesiredVm, desired_vms
from homelab.core.observed import Observed
from homelab.core.plan.actions import NoOp, UpdateVm
from homelab.core.plan.build import config_targets, plan_lab
from tests.plan.labs import make_spec, seeds_for, spec_data

SPEC = make_spec()
SEEDS = seeds_for(SPEC)
GIB = 1024**3


def resource_entry(want: DesiredVm, vmid: int) -> dict[str, Any]:
    return {
        "id": f"qemu/{vmid}", "type": "qemu", "vmid": vmid, "name": want.name, "node": want.node,
        "status": "running", "template": 0, "tags": ";".join(want.tags),
        "maxmem": want.memory_mib * 1024 * 1024, "maxcpu": want.cores,
        "maxdisk": want.disk_gib * GIB, "mem": 123, "cpu": 0.01, "uptime": 99,
    }  # fmt: skip


def config_payload(want: DesiredVm, vmid: int) -> dict[str, Any]:
    tag = f",tag={want.vlan}" if want.vlan is not None else ""
    net0 = f"virtio=BC:24:11:00:00:{vmid % 100:02d},bridge={want.bridge},firewall=1{tag}"
    scsi0 = f"{want.storage}:vm-{vmid}-disk-0,iothread=1,size={want.disk_gib}G"
    return {
        "data": {
            "agent": "1", "boot": "order=scsi0;ide2;net0", "cores": want.cores,
            "description": want.description + "\n", "digest": f"{vmid:040x}",
            "ide2": f"{want.seed_volid},media=cdrom,size=364K", "memory": str(want.memory_mib),
            "name": want.name, "net0": net0,
            "onboot": 1, "scsi0": scsi0,
            "scsihw": "virtio-scsi-single", "sockets": 1, "tags": ";".join(want.tags),
        }
    }  # fmt: skip


def world(
    data: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[int, Any]]:
    """PVE's answers for a lab applied from ``data``: resources, ISO lists, configs by vmid."""
    spec = make_spec(data)
    wants = list(desired_vms(spec, seeds_for(spec)).values())
    template = {"type": "qemu", "vmid": 9000, "name": "ubuntu-2404-cloudinit", "node": "pve",
                "template": 1, "status": "stopped", "maxdisk": 3 * GIB}  # fmt: skip
    resources = {"data": [template] + [resource_entry(w, 200 + i) for i, w in enumerate(wants)]}
    isos = {"pve": {"data": [{"volid": w.seed_volid, "content": "iso", "format": "iso", "size": 1}
                             for w in wants]}}  # fmt: skip
    configs = {200 + i: config_payload(w, 200 + i) for i, w in enumerate(wants)}
    return resources, isos, configs


def observe(resources: Any, isos: dict[str, Any]) -> Observed:
    """What observe_lab makes of these replies (one resource list, one ISO list per node)."""
    volumes = {node: pve.parse_storage_content(payload) for node, payload in isos.items()}
    return Observed(vms=pve.parse_resources(resources), seed_volumes=volumes, nodes=tuple(isos))


def test_applied_lab_parsed_from_pve_payloads_is_a_no_op_with_no_config_reads() -> None:
    resources, isos, configs = world()
    observed = observe(resources, isos)
    plan = plan_lab(SPEC, SEEDS, observed)
    assert plan.needs_configs == () and not plan.has_changes
    full = observed.with_configs({vmid: pve.parse_config(p) for vmid, p in configs.items()})
    assert all(isinstance(a, NoOp) for a in plan_lab(SPEC, SEEDS, full).actions)


def test_refine_loop_reads_only_the_vms_that_may_differ() -> None:
    resources, isos, configs = world()
    data = spec_data()
    data["vms"]["k8s-worker-3"]["memory"] = 6144
    spec = make_spec(data)
    observed = observe(resources, isos)
    first = plan_lab(spec, seeds_for(spec), observed)
    targets = config_targets(first, observed)
    assert targets == (("pve", 202),)
    read = {vmid: pve.parse_config(configs[vmid]) for _, vmid in targets}
    final = plan_lab(spec, seeds_for(spec), observed.with_configs(read))
    assert final.is_final and final.errors == ()
    (update,) = final.changes
    assert isinstance(update, UpdateVm) and update.vmid == 202
    assert [c.key for c in update.changes] == ["memory", "description"]
