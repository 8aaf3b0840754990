"""The guest's root disk: grown by cloud-init at boot, by growpart + resize2fs online.

The commands' texts and numbers are cloud-utils 0.33's growpart (Ubuntu 24.04) and e2fsprogs
1.47.0's resize2fs; the partition starts where the Ubuntu 24.04 cloud image's partition 1 does.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from homelab_sim.guest.blockdev import BlockCommands, RootDisk, boot_disk_of
from homelab_sim.guest.shell import BufferSink, Gen, Streams
from homelab_sim.pve.simulator import PveSimulator
from tests.sim.guest.support import boot, rendered, run_for
from tests.sim.support import Api

GIB = 1024**3


def run(command: Any, *args: str) -> tuple[int, str, str]:
    """(status, stdout, stderr) of one block command, its pauses skipped."""
    io = Streams(BufferSink(), BufferSink())
    gen: Gen = command(list(args), io, b"")
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        status = int(stop.value)
    assert isinstance(io.out, BufferSink) and isinstance(io.err, BufferSink)
    return status, io.out.value(), io.err.value()


def disk_of(size: list[int]) -> tuple[RootDisk, BlockCommands]:
    disk = RootDisk("sda", lambda: size[0])
    disk.boot()
    return disk, BlockCommands(lambda: disk)


def test_the_boot_disk_is_the_first_disk_of_the_boot_order() -> None:
    config: dict[str, Any] = {
        "boot": "order=ide2;scsi0;net0",
        "ide2": "local:iso/seed.iso,media=cdrom",
        "scsi0": "local-lvm:vm-101-disk-0,size=32G",
        "virtio1": "local-lvm:vm-101-disk-1,size=8G",
    }
    assert boot_disk_of(config) == ("sda", 32 * GIB)
    assert boot_disk_of({**config, "boot": "order=virtio1"}) == ("vda", 8 * GIB)
    assert boot_disk_of({**config, "scsi0": "local-lvm:vm-101-disk-0,size=3584M"}) == (
        "sda",
        3584 * 1024**2,
    )
    assert boot_disk_of({**config, "boot": "order=ide2;net0"}) is None
    assert boot_disk_of({"scsi0": "local-lvm:vm-101-disk-0,size=32G"}) is None  # no boot order


def test_boot_fills_the_disk_and_an_online_resize_needs_growpart_then_resize2fs() -> None:
    size = [32 * GIB]
    disk, block = disk_of(size)
    sectors = 32 * GIB // 512
    assert disk.part_sectors == sectors - 33 - 1 - 2_099_200 + 1
    assert disk.fs_blocks == disk.part_sectors * 512 // 4096
    # nothing to gain at first
    assert run(block.growpart, "/dev/sda", "1") == (
        1,
        f"NOCHANGE: partition 1 is size {disk.part_sectors}. it cannot be grown\n",
        "",
    )
    size[0] = 40 * GIB  # PVE's resize of the running VM: the kernel sees it, nothing else moves
    old_size, old_end = disk.part_sectors, disk.part_end()
    code, out, _ = run(block.lsblk, "-b", "-n", "-o", "SIZE", "/dev/sda1")
    assert (code, int(out)) == (0, old_size * 512)
    code, out, err = run(block.growpart, "/dev/sda", "1")
    new = 40 * GIB // 512 - 34 - 2_099_200 + 1
    assert (code, err) == (0, "")
    assert out == (
        f"CHANGED: partition=1 start=2099200 old: size={old_size} end={old_end} "
        f"new: size={new} end={40 * GIB // 512 - 34}\n"
    )
    assert new == 81_786_847  # the figure a real 40 GiB resize prints
    assert disk.fs_blocks == old_size * 512 // 4096  # the filesystem has not moved yet
    code, out, err = run(block.resize2fs, "/dev/sda1")
    assert (code, err) == (0, "resize2fs 1.47.0 (5-Feb-2023)\n")
    assert out == (
        "Filesystem at /dev/sda1 is mounted on /; on-line resizing required\n"
        "old_desc_blocks = 4, new_desc_blocks = 5\n"
        f"The filesystem on /dev/sda1 is now {new * 512 // 4096} (4k) blocks long.\n\n"
    )
    code, out, _ = run(block.resize2fs, "/dev/sda1")
    blocks = new * 512 // 4096
    assert out == f"The filesystem is already {blocks} (4k) blocks long.  Nothing to do!\n\n"
    assert run(block.findmnt, "-b", "-n", "-o", "SIZE", "/")[1] == f"{new * 512 // 4096 * 4096}\n"


def test_a_growth_under_growparts_fudge_is_no_change() -> None:
    size = [32 * GIB]
    disk, block = disk_of(size)
    size[0] += 512 * 1024  # half a MiB more: under the 1 MiB fudge
    code, out, _ = run(block.growpart, "/dev/sda", "1")
    assert (code, out) == (1, "NOCHANGE: partition 1 could only be grown by 1024 [fudge=2048]\n")
    assert code == 1 and disk.part_sectors == (32 * GIB // 512) - 34 - 2_099_200 + 1


def test_growpart_and_resize2fs_refuse_what_does_not_exist() -> None:
    _, block = disk_of([32 * GIB])
    assert run(block.growpart, "/dev/vda", "1") == (2, "FAILED: /dev/vda: does not exist\n", "")
    assert run(block.growpart, "/dev/sda", "x")[:2] == (
        2,
        "FAILED: partition-number must be a number\n",
    )
    assert run(block.growpart, "/dev/sda", "2")[:2] == (
        2,
        "FAILED: failed to get start and end for /dev/sda2 in /dev/sda\n",
    )
    assert run(block.growpart, "/dev/sda")[0] == 2
    code, out, err = run(block.resize2fs, "/dev/sdb1")
    assert (code, out) == (1, "")
    assert "No such file or directory while trying to open /dev/sdb1" in err
    assert run(block.resize2fs, "-M", "/dev/sda1")[0] == 1  # not modelled: refused, not faked


def test_lsblk_and_findmnt_answer_what_a_tool_asks_and_refuse_the_rest() -> None:
    _, block = disk_of([32 * GIB])
    assert run(block.findmnt, "-n", "-o", "SOURCE,FSTYPE", "/") == (0, "/dev/sda1 ext4\n", "")
    assert run(block.findmnt, "-n", "-o", "SOURCE", "/srv")[:2] == (1, "")
    assert run(block.lsblk, "-n", "-o", "PKNAME", "/dev/sda1") == (0, "sda\n", "")
    assert run(block.lsblk, "-ndo", "NAME,TYPE", "/dev/sda") == (0, "sda disk\n", "")
    assert run(block.lsblk, "-no", "NAME", "/dev/sda") == (0, "sda\nsda1\n", "")
    assert run(block.lsblk, "-nd", "-o", "SIZE", "/dev/sda") == (0, "32G\n", "")
    assert run(block.lsblk, "-n", "-o", "SIZE", "/dev/sda") == (0, "32G\n31G\n", "")
    assert run(block.lsblk, "/dev/sdz") == (32, "", "lsblk: /dev/sdz: not a block device\n")
    assert run(block.lsblk, "--json", "/dev/sda") == (
        1,
        "",
        "lsblk: unrecognized option '--json'\nTry 'lsblk --help' for more information.\n",
    )
    assert run(block.lsblk, "-o", "UUID", "/dev/sda")[0] == 1


def _exec(api: Api, sim: PveSimulator, vmid: int, *argv: str) -> dict[str, Any]:
    started = api.ok("POST", f"/nodes/pve/qemu/{vmid}/agent/exec", json={"command": list(argv)})
    for _ in range(20):
        status: dict[str, Any] = api.ok(
            "GET", f"/nodes/pve/qemu/{vmid}/agent/exec-status", params={"pid": started["pid"]}
        )
        if status.get("exited"):
            return status
        run_for(sim, api, 1, step=1)
    raise AssertionError(f"{argv} did not finish")


def _agent_up(api: Api, sim: PveSimulator, vmid: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.call("POST", f"/nodes/pve/qemu/{vmid}/agent/ping").status_code == 200:
            return
        run_for(sim, api, 10, step=10)
    pytest.fail("the guest agent never answered")


def test_a_resized_running_vm_grows_its_filesystem_only_when_told(
    sim: PveSimulator, api: Api
) -> None:
    lab = rendered("home-lab")
    vmid = boot(api, lab, "k8s-worker-2")
    _agent_up(api, sim, vmid)
    config = api.ok("GET", f"/nodes/pve/qemu/{vmid}/config")
    found = boot_disk_of(config)
    assert found is not None and found[0] == "sda"
    disk = found[1]
    before = _exec(api, sim, vmid, "lsblk", "-b", "-n", "-o", "SIZE", "/dev/sda1")
    assert before["exitcode"] == 0
    key = str(config["boot"]).removeprefix("order=").split(";")[0]
    api.finish(api.ok("PUT", f"/nodes/pve/qemu/{vmid}/resize", data={"disk": key, "size": "+8G"}))
    unchanged = _exec(api, sim, vmid, "lsblk", "-b", "-n", "-o", "SIZE", "/dev/sda1")
    assert unchanged["out-data"] == before["out-data"]
    whole = _exec(api, sim, vmid, "lsblk", "-b", "-ndo", "SIZE", "/dev/sda")
    assert int(whole["out-data"]) == disk + 8 * GIB
    grown = _exec(api, sim, vmid, "growpart", "/dev/sda", "1")
    assert grown["exitcode"] == 0 and grown["out-data"].startswith("CHANGED: partition=1 ")
    fs = _exec(api, sim, vmid, "resize2fs", "/dev/sda1")
    assert fs["exitcode"] == 0 and "on-line resizing required" in fs["out-data"]
    after = _exec(api, sim, vmid, "findmnt", "-b", "-n", "-o", "SIZE", "/")
    part = (disk + 8 * GIB) // 512 - 34 - 2_099_200 + 1
    assert int(after["out-data"]) == part * 512 // 4096 * 4096
    # a reboot keeps what was grown (cloud-init's growpart finds nothing more to do)
    api.finish(api.ok("POST", f"/nodes/pve/qemu/{vmid}/status/reboot"))
    _agent_up(api, sim, vmid)
    again = _exec(api, sim, vmid, "growpart", "/dev/sda", "1")
    assert again["exitcode"] == 1 and "it cannot be grown" in again["out-data"]


def test_kubeadm_reset_asks_first_and_stops_unless_forced_or_told_yes(
    sim: PveSimulator, api: Api
) -> None:
    """kubeadm's reset preflight prompts and reads one line: a script must pass -f."""
    lab = rendered("home-lab")
    vmid = boot(api, lab, "k8s-worker-3")
    run_for(sim, api, 600)  # cloud-init installs kubeadm (the join itself has no one to join)
    asked = _exec(api, sim, vmid, "kubeadm", "reset")
    assert asked["exitcode"] == 1
    assert asked["out-data"] == "[reset] Are you sure you want to proceed? [y/N]: "
    assert "error execution phase preflight: aborted reset operation" in asked["err-data"]
    assert _exec(api, sim, vmid, "kubeadm", "reset", "--force")["exitcode"] == 0
