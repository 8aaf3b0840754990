"""grow_root_filesystem's decisions, against scripted command results (the simulator's guest
answers the real commands in tests/up/test_disk_grow_sim.py)."""

from __future__ import annotations

from typing import Any

import pytest

from homelab.engine.clock import Clock
from homelab.engine.guest.channel import ExecResult, GuestChannel
from homelab.engine.guest.rootfs import grow_root_filesystem
from homelab.errors import LabError


class Scripted(GuestChannel):
    """A channel whose commands answer from a table, recording what was run."""

    def __init__(self, answers: dict[str, tuple[int, str]]) -> None:
        super().__init__(client=None, clock=Clock())  # type: ignore[arg-type]
        self.answers = answers
        self.ran: list[str] = []

    def run(self, node: str, vmid: int, argv: list[str], **_: Any) -> ExecResult:
        line = " ".join(argv)
        self.ran.append(line)
        code, out = self.answers[line]
        return ExecResult(code, out, "")


def ext4_on(device: str, disk: str, sizes: tuple[int, int], growpart: tuple[int, str]) -> Scripted:
    size = iter(sizes)
    answers = {
        "findmnt -n -o SOURCE,FSTYPE /": (0, f"{device} ext4\n"),
        f"lsblk -n -o PKNAME {device}": (0, f"{disk}\n"),
        f"growpart /dev/{disk} {device[-1]}": growpart,
        f"resize2fs {device}": (0, "The filesystem on ... is now 1 (4k) blocks long.\n"),
    }

    class Sized(Scripted):
        def run(self, node: str, vmid: int, argv: list[str], **kw: Any) -> ExecResult:
            if argv[:2] == ["lsblk", "-b"]:
                self.ran.append(" ".join(argv))
                return ExecResult(0, f"{next(size)}\n", "")
            return super().run(node, vmid, argv, **kw)

    return Sized(answers)


def test_ext4_on_a_partition_is_grown_with_growpart_then_resize2fs() -> None:
    channel = ext4_on("/dev/sda1", "sda", (100, 200), (0, "CHANGED: partition=1 ...\n"))
    growth = grow_root_filesystem(channel, "pve", 201)
    assert (growth.device, growth.before, growth.after, growth.changed) == (
        "/dev/sda1",
        100,
        200,
        True,
    )
    assert channel.ran == [
        "findmnt -n -o SOURCE,FSTYPE /",
        "lsblk -n -o PKNAME /dev/sda1",
        "lsblk -b -n -o SIZE /dev/sda1",
        "growpart /dev/sda 1",
        "resize2fs /dev/sda1",
        "lsblk -b -n -o SIZE /dev/sda1",
    ]


def test_growparts_nochange_is_not_a_failure_but_its_failed_is() -> None:
    nochange = ext4_on("/dev/vda1", "vda", (100, 100), (1, "NOCHANGE: partition 1 ...\n"))
    assert not grow_root_filesystem(nochange, "pve", 201).changed
    failed = ext4_on("/dev/vda1", "vda", (100, 100), (2, "FAILED: /dev/vda: does not exist\n"))
    with pytest.raises(LabError, match=r"growpart /dev/vda 1.*exit 2.*FAILED: /dev/vda"):
        grow_root_filesystem(failed, "pve", 201)


def test_an_nvme_partition_names_its_number() -> None:
    channel = ext4_on("/dev/nvme0n1p2", "nvme0n1", (1, 2), (0, "CHANGED\n"))
    grow_root_filesystem(channel, "pve", 201)
    assert "growpart /dev/nvme0n1 2" in channel.ran


@pytest.mark.parametrize(
    ("findmnt", "message"),
    [
        ("/dev/mapper/ubuntu--vg-ubuntu--lv ext4\n", "not on a disk partition"),
        ("/dev/sda1 btrfs\n", "is btrfs: grow it in the guest by hand"),
        ("\n", "did not name the root filesystem"),
    ],
)
def test_roots_it_cannot_grow_are_refused_before_anything_changes(
    findmnt: str, message: str
) -> None:
    channel = Scripted({"findmnt -n -o SOURCE,FSTYPE /": (0, findmnt)})
    with pytest.raises(LabError, match=message):
        grow_root_filesystem(channel, "pve", 201)
    assert channel.ran == ["findmnt -n -o SOURCE,FSTYPE /"]


def test_xfs_is_grown_with_xfs_growfs() -> None:
    answers = {
        "findmnt -n -o SOURCE,FSTYPE /": (0, "/dev/sda1 xfs\n"),
        "lsblk -n -o PKNAME /dev/sda1": (0, "sda\n"),
        "lsblk -b -n -o SIZE /dev/sda1": (0, "100\n"),
        "growpart /dev/sda 1": (0, "CHANGED\n"),
        "xfs_growfs /": (0, ""),
    }
    channel = Scripted(answers)
    grow_root_filesystem(channel, "pve", 201)
    assert "xfs_growfs /" in channel.ran and not any("resize2fs" in r for r in channel.ran)
