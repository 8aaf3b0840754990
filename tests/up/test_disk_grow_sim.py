"""A disk grown on a running node: grown online, partition and filesystem too, nothing restarted.

On the simulator over the wire, with the lab's least-privileged token: the spec's disk of a
worker goes from 32 to 40 GiB; apply resizes the disk through Proxmox, then grows partition 1
and the ext4 root in the guest through the guest agent (growpart, resize2fs), as cloud-init
only does at boot. The VM is not restarted, the node stays Ready and uncordoned, the next plan
is a no-op. A run killed after the resize is finished by the next one (its journal intent).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab.core.plan.actions import NoOp, UpdateVm
from homelab.engine.apply.chains import journal_entry
from homelab.engine.apply.steps import GROW_ROOT, VmRef
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.proxmox.session import PveSession
from homelab.simulated.site import SimulatedSite
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.provision import apply_lab
from tests.up.simlab import Upped, copy_example, ready_nodes, upped

GIB = 1024**3
WORKER = "k8s-worker-2"
OLD = "disk: 32GiB, network: apps, ip: 10.0.20.21}"


@pytest.fixture(scope="module")
def home_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upped]:
    spec = copy_example("home-lab.yaml", tmp_path_factory.mktemp("grow"))
    with upped(spec) as lab:
        yield lab


def ref_of(lab: Upped, name: str) -> VmRef:
    (vm,) = [v for v in lab.conn.client.cluster_vms() if v.name == name]
    return VmRef(name, vm.node, vm.vmid)


def guest(lab: Upped, name: str, *argv: str) -> str:
    ref = ref_of(lab, name)
    result = GuestChannel(lab.conn.client, lab.conn.clock).run(ref.node, ref.vmid, list(argv))
    assert result.exitcode == 0, result
    return result.stdout


def uptime(lab: Upped, name: str) -> int:
    """Seconds since the VM's QEMU started, as Proxmox reports it (a restart starts it anew)."""
    ref = ref_of(lab, name)
    site = lab.conn.site
    assert isinstance(site, SimulatedSite)
    session = PveSession(site.settings)
    try:
        path = f"/nodes/{ref.node}/qemu/{ref.vmid}/status/current"
        return int(session.request("GET", path)["data"]["uptime"])
    finally:
        session.close()


def root_bytes(lab: Upped, name: str) -> int:
    return int(guest(lab, name, "findmnt", "-b", "-n", "-o", "SIZE", "/"))


def part_bytes(disk_gib: int) -> int:
    """Partition 1 grown to the end of a GPT disk of that size (growpart's arithmetic)."""
    return (disk_gib * GIB // 512 - 34 - 2_099_200 + 1) * 512


def with_disk(spec: Path, gib: int) -> None:
    text = spec.read_text()
    current = next(line for line in text.splitlines() if "ip: 10.0.20.21}" in line)
    spec.write_text(
        text.replace(current, current.split("disk:")[0] + OLD.replace("32GiB", f"{gib}GiB"))
    )


def test_a_grown_disk_grows_the_root_filesystem_online(home_lab: Upped) -> None:
    spec = home_lab.ctx.spec_path
    assert root_bytes(home_lab, WORKER) == part_bytes(32) // 4096 * 4096  # cloud-init at boot
    up_before = uptime(home_lab, WORKER)
    with_disk(spec, 40)
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(home_lab.conn, ctx)
        changes = [a for a in plan.actions if not isinstance(a, NoOp)]
        assert [(a.vm, type(a)) for a in changes] == [(WORKER, UpdateVm)]
        assert isinstance(changes[0], UpdateVm) and not changes[0].restart
        applied = apply_lab(home_lab.conn, ctx, confirm=lambda _p: True)
        assert applied.report is not None
        (outcome,) = applied.report.outcomes
        assert (outcome.vm, outcome.kind, outcome.ok, outcome.warnings) == (
            WORKER,
            "update",
            True,
            [],
        )
        assert root_bytes(home_lab, WORKER) == part_bytes(40) // 4096 * 4096
        assert uptime(home_lab, WORKER) >= up_before  # not restarted
        assert WORKER in ready_nodes(home_lab)
        again, _ = make_plan(home_lab.conn, ctx)
        assert not again.has_changes, again.actions
    finally:
        ctx.close()


def test_a_run_killed_after_the_resize_is_finished_by_the_next(home_lab: Upped) -> None:
    spec = home_lab.ctx.spec_path
    ref = ref_of(home_lab, WORKER)
    client = home_lab.conn.client
    config = client.vm_config(ref.node, ref.vmid)[1]
    assert config.boot_disk is not None
    # what the killed run left: its intent, and the disk resized in Proxmox
    home_lab.ctx.store.intents(home_lab.ctx.lab).put(
        ref.key, {**journal_entry(ref, "update"), GROW_ROOT: True}
    )
    upid = client.resize(ref.node, ref.vmid, config.boot_disk.key, "48G")
    assert upid is not None
    client.wait_task(upid)
    assert root_bytes(home_lab, WORKER) < part_bytes(48) // 4096 * 4096
    with_disk(spec, 48)
    ctx = prepare_lab(spec)
    try:
        applied = apply_lab(home_lab.conn, ctx, confirm=lambda _p: True)
        assert any(WORKER in note and "grown from" in note for note in applied.notes), applied.notes
        assert root_bytes(home_lab, WORKER) == part_bytes(48) // 4096 * 4096
        plan, _ = make_plan(home_lab.conn, ctx)
        assert not plan.has_changes, plan.actions
    finally:
        ctx.close()
