"""Growing a running guest's root filesystem after its disk grew, through the guest channel.

Proxmox's resize of a running VM's disk reaches the guest's kernel at once, but not the
partition or the filesystem on it: cloud-init's growpart and resizefs only run at boot. So, in
the guest, as an administrator would: find the root filesystem's device and type
(``findmnt``), its disk (``lsblk -no PKNAME``), grow the partition (``growpart DISK N``: exit 0
"CHANGED", exit 1 "NOCHANGE" when there is nothing to gain, anything else a failure), then the
filesystem online (``resize2fs`` for ext2/3/4, ``xfs_growfs /`` for XFS), and read the
partition's size before and after. Another filesystem, or a root on LVM or a device mapper, is
not grown here: the caller says how to do it by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from homelab.engine.guest.channel import ExecResult, GuestChannel
from homelab.errors import LabError

__all__ = ["RootGrowth", "grow_root_filesystem"]

_PARTITION = re.compile(r"^/dev/(?P<name>[a-z]+[a-z0-9]*?)(?P<p>p?)(?P<number>\d+)$")
TIMEOUT = 120.0


@dataclass(frozen=True)
class RootGrowth:
    """What the grow did: the root partition's bytes before and after, and its device."""

    device: str
    before: int
    after: int

    @property
    def changed(self) -> bool:
        return self.after != self.before


def grow_root_filesystem(channel: GuestChannel, node: str, vmid: int) -> RootGrowth:
    """Grow the root partition and filesystem of a running guest to fill its disk."""

    def run(*argv: str, allowed: tuple[int, ...] = (0,)) -> ExecResult:
        result = channel.run(node, vmid, list(argv), timeout=TIMEOUT)
        if result.exitcode not in allowed:
            said = (result.stdout + result.stderr).strip().splitlines()
            raise LabError(
                f"`{' '.join(argv)}` failed in VM {vmid} (exit {result.exitcode})"
                + (f": {said[-1]}" if said else "")
            )
        return result

    found = run("findmnt", "-n", "-o", "SOURCE,FSTYPE", "/").stdout.split()
    if len(found) != 2:
        raise LabError(f"VM {vmid}: findmnt did not name the root filesystem: {found}")
    device, fstype = found
    match = _PARTITION.match(device)
    if match is None:
        raise LabError(
            f"VM {vmid}: the root filesystem is on {device}, not on a disk partition "
            "(LVM or a device mapper?): grow it in the guest by hand"
        )
    if fstype not in ("ext2", "ext3", "ext4", "xfs"):
        raise LabError(f"VM {vmid}: the root filesystem is {fstype}: grow it in the guest by hand")
    disk = run("lsblk", "-n", "-o", "PKNAME", device).stdout.strip()
    if not disk:
        raise LabError(f"VM {vmid}: lsblk names no disk under {device}")
    before = _size(run("lsblk", "-b", "-n", "-o", "SIZE", device))
    run("growpart", f"/dev/{disk}", match.group("number"), allowed=(0, 1))
    if fstype == "xfs":
        run("xfs_growfs", "/")
    else:
        run("resize2fs", device)
    after = _size(run("lsblk", "-b", "-n", "-o", "SIZE", device))
    return RootGrowth(device, before, after)


def _size(result: ExecResult) -> int:
    text = result.stdout.strip()
    if not text.isdigit():
        raise LabError(f"lsblk gave no size in bytes: {text!r}")
    return int(text)
