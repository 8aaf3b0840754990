"""Fresh apply of the reference lab, the no-op plan after it, and the changes apply handles."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from homelab.core.desired import desired_vms, parse_description_record
from homelab.core.ownership import NO_FLAGS, Flags
from homelab.core.plan.actions import CreateVm, DestroyVm, ReplaceVm, UpdateVm
from homelab.core.render.network import vm_mac
from homelab.engine.apply.progress import Recorder
from homelab.engine.state import open_store
from homelab.errors import StateLockedError
from homelab.verbs.connection import Connection
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.provision import PlanRefused, apply_lab
from tests.apply.support import (
    FAST,
    Lab,
    assert_converged,
    guests,
    inprocess,
    new_sim,
    over_https,
    write_spec,
    yes,
)
from tests.support.postgres import postgres_url


def test_fresh_apply_over_https_then_a_noop_plan_costs_one_plus_nodes_requests(lab: Lab) -> None:
    sim = new_sim()
    with over_https(sim) as conn:
        events = Recorder()
        outcome = apply_lab(conn, lab.ctx, confirm=yes, progress=events, limits=FAST)
        assert outcome.report is not None and outcome.report.ok
        assert sorted(o.vmid for o in outcome.report.outcomes if o.vmid) == [200, 201, 202]
        phases = {e.phase for e in events.events if e.status == "done"}
        assert phases == {"clone", "configure", "seed", "resize", "start", "agent"}
        sim.log.clear()
        plan, _ = make_plan(conn, lab.ctx)
        assert not plan.has_changes and not plan.errors
        assert len(sim.log.entries()) <= 1 + len(lab.ctx.spec.proxmox.nodes)
        assert_converged(sim, lab.ctx, conn)


def test_each_vm_is_built_as_the_spec_says(lab: Lab) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    wanted = desired_vms(lab.ctx.spec, lab.ctx.seed_digests, store=lab.ctx.store.store_id)
    for vm in guests(sim):
        name = str(vm.config["name"])
        want = wanted[name]
        config = vm.config
        assert set(str(config["tags"]).split(";")) == set(want.tags)
        record = parse_description_record(str(config["description"]))
        assert record == want.record
        assert str(config["memory"]) == "4096" and int(config["cores"]) == 2
        net0 = str(config["net0"])
        assert f"virtio={vm_mac('home-lab', name).upper()}" in net0
        assert "bridge=vmbr0" in net0 and "tag=20" in net0
        assert str(config["ide2"]) == f"{want.seed_volid},media=cdrom"
        assert "size=32G" in str(config["scsi0"])
        assert vm.seed is not None and "10.0.20." in (vm.seed.network_config or "")


def test_no_op_plan_of_many_vms_over_three_nodes_costs_one_plus_nodes(tmp_path: Path) -> None:
    vms = {
        f"w-{i:02d}": {"role": "worker", "network": "apps", "ip": f"10.0.20.{100 + i}"}
        for i in range(24)
    }
    vms["k8s-master-1"] = {"role": "control-plane", "network": "apps", "ip": "10.0.20.10"}
    path = write_spec(tmp_path, {"vms": vms, "proxmox.nodes": ["pve", "pve2", "pve3"]})
    ctx = prepare_lab(path)
    sim = new_sim(nodes=("pve", "pve2", "pve3"))
    conn = inprocess(sim)
    outcome = apply_lab(conn, ctx, confirm=yes, limits=FAST)
    assert outcome.report is not None and outcome.report.ok
    assert {vm.node for vm in guests(sim)} == {"pve", "pve2", "pve3"}
    sim.log.clear()
    plan, _ = make_plan(conn, ctx)
    assert not plan.has_changes
    assert len(sim.log.entries()) <= 4
    ctx.close()


def _apply(conn: Connection, lab: Lab, flags: Flags = NO_FLAGS) -> Any:
    outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST, flags=flags)
    assert outcome.report is None or outcome.report.ok, outcome.report
    return outcome


def _respec(lab: Lab, tmp_path: Path, changes: dict[str, Any]) -> None:
    write_spec(tmp_path, changes)
    lab.reload()


def _add_template(conn: Connection, name: str) -> None:
    upid = conn.client.clone("pve", 9000, 9100, name=name, full=True, storage="local-lvm")
    conn.client.wait_task(upid)
    upid = conn.client.session.post("/nodes/pve/qemu/9100/template")
    if upid:
        conn.client.wait_task(str(upid))


CHANGES: dict[str, tuple[dict[str, Any], type]] = {
    "memory": ({"vms.k8s-worker-2.memory": "8GiB"}, UpdateVm),
    "cores": ({"vms.k8s-worker-2.cores": 4}, UpdateVm),
    "disk grow": ({"vms.k8s-worker-2.disk": "40GiB"}, UpdateVm),
    "add a worker": (
        {"vms.k8s-worker-4": {"role": "worker", "network": "apps", "ip": "10.0.20.23"}},
        CreateVm,
    ),
    "remove a worker": ({"vms.k8s-worker-3": None}, DestroyVm),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_changed_spec_is_applied_and_converges(lab: Lab, tmp_path: Path, change: str) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    _apply(conn, lab)
    before = {str(vm.config["name"]): vm.vmid for vm in guests(sim)}
    edits, kind = CHANGES[change]
    _respec(lab, tmp_path, edits)
    plan, _ = make_plan(conn, lab.ctx)
    assert [type(a) for a in plan.changes] == [kind], plan.changes
    _apply(conn, lab)
    assert_converged(sim, lab.ctx, conn)
    after = {str(vm.config["name"]): vm for vm in guests(sim)}
    if kind is UpdateVm:  # in place: same VMID, new value
        assert after["k8s-worker-2"].vmid == before["k8s-worker-2"]
    config = after["k8s-worker-2"].config
    if change == "memory":
        assert str(config["memory"]) == "8192"
    if change == "cores":
        assert int(config["cores"]) == 4
    if change == "disk grow":
        assert "size=40G" in str(config["scsi0"])
        assert sum(1 for key in config if key.startswith("unused")) == 0


def test_a_template_change_replaces_the_vms(lab: Lab, tmp_path: Path) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    _apply(conn, lab)
    _add_template(conn, "ubuntu-2404-v2")
    _respec(lab, tmp_path, {"proxmox.template": "ubuntu-2404-v2"})
    plan, _ = make_plan(conn, lab.ctx)
    assert {type(a) for a in plan.changes} == {ReplaceVm}
    # the only control plane goes too: a new cluster, so only with the flag
    assert plan.errors and "--recreate-cluster" in plan.errors[0]
    with pytest.raises(PlanRefused, match="replacing the only control plane"):
        _apply(conn, lab)
    _apply(conn, lab, Flags(recreate_cluster=True))
    assert_converged(sim, lab.ctx, conn)
    for vm in guests(sim):
        record = parse_description_record(str(vm.config["description"]))
        assert record is not None and record.template == "ubuntu-2404-v2"


def test_a_second_apply_on_a_locked_lab_is_refused(lab: Lab) -> None:
    sim = new_sim()
    conn = inprocess(sim)
    other = open_store(lab.path)
    try:
        with (
            other.lock(lab.ctx.lab, purpose="apply"),
            pytest.raises(StateLockedError, match="is locked: apply by"),
        ):
            apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
    finally:
        other.close()
    assert guests(sim) == []


def test_apply_with_the_state_in_postgresql(tmp_path: Path) -> None:
    url = postgres_url()
    if not url:
        pytest.skip("no PostgreSQL (make test starts one)")
    name = f"pg-{uuid.uuid4().hex[:8]}"
    path = write_spec(tmp_path, {"name": name})
    ctx = prepare_lab(path, store=open_store(path, url=url))
    sim = new_sim()
    conn = inprocess(sim)
    other = open_store(path, url=url)
    try:
        with (
            other.lock(name, purpose="apply"),
            pytest.raises(StateLockedError, match="is locked"),
        ):
            apply_lab(conn, ctx, confirm=yes, limits=FAST)
        outcome = apply_lab(conn, ctx, confirm=yes, limits=FAST)
        assert outcome.report is not None and outcome.report.ok
        assert_converged(sim, ctx, conn)
        assert other.history(name).recent(1)[0].event == "apply"
    finally:
        other.close()
        ctx.close()
