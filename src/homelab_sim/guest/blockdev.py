"""The guest's boot disk, its root partition and ext4 filesystem, and the commands that grow them.

A stock Ubuntu 24.04 cloud image (GPT) has its root filesystem on partition 1, which starts at
sector 2,099,200, after the BIOS-boot (14), EFI (15) and /boot (16) partitions, and lies last on
the disk. What the model keeps, from upstream's behaviour:

- QEMU's ``block_resize`` (PVE's ``PUT .../resize`` on a running VM) is seen by the guest's
  kernel at once: the block device's size is always the drive's ``size=`` in the VM config.
  The partition and the filesystem stay as they were.
- At every boot cloud-init's ``growpart`` and ``resizefs`` modules (frequency "always", mode
  auto) grow partition 1 and then the filesystem to fill the disk.
- Online, ``growpart DISK 1`` (cloud-utils 0.33, Ubuntu 24.04's, sfdisk resizer) moves the
  partition's end to the last usable sector (the disk's size less the 33 sectors of GPT's
  secondary header, less one), prints ``CHANGED: ...`` and exits 0, or prints ``NOCHANGE: ...``
  and exits 1 when there is nothing (or less than its 1 MiB fudge) to gain; ``FAILED: ...``
  exits 2. ``resize2fs DEV`` (e2fsprogs 1.47.0) grows a mounted ext4 online to the partition's
  size in 4k blocks, or says "Nothing to do!".
- ``lsblk`` and ``findmnt`` answer the few questions a tool asks of them (names, sizes, parent
  disk, the root mount), with util-linux's exit codes; the options the model does not know
  are refused as util-linux refuses an unknown option, so a tool relying on more fails here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from homelab_sim.guest.shell import Gen, Streams

SECTOR = 512
ROOT_START = 2_099_200  # sectors: partition 1 of the Ubuntu 24.04 cloud image
GPT_SECONDARY = 33  # sectors growpart leaves for GPT's backup header and entries
FUDGE = 1024 * 1024 // SECTOR  # growpart's default fudge: 1 MiB
BLOCK = 4096  # ext4 block size of the cloud image
BLOCKS_PER_GROUP = 32768
DESCS_PER_BLOCK = BLOCK // 64  # 64-bit ext4: 64-byte group descriptors
E2FSPROGS = "resize2fs 1.47.0 (5-Feb-2023)\n"

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_BUSES = (("scsi", "sd"), ("sata", "sd"), ("ide", "sd"), ("virtio", "vd"))


def boot_disk_of(config: dict[str, Any]) -> tuple[str, int] | None:
    """(kernel name, bytes) of the VM's boot disk: the first disk of ``boot: order=``.

    Only the boot disk is modelled, named as the guest's kernel names it when it is the only
    disk of its kind (``scsi0`` -> sda, ``virtio0`` -> vda)."""
    order = str(config.get("boot", ""))
    keys = order.removeprefix("order=").split(";") if order.startswith("order=") else []
    for key in keys:
        value = config.get(key)
        if not isinstance(value, str) or "media=cdrom" in value or value.startswith("none"):
            continue
        size = _drive_size(value)
        prefix = next((dev for bus, dev in _BUSES if key.startswith(bus)), None)
        if size is None or prefix is None:
            continue
        return prefix + "a", size
    return None


def _drive_size(value: str) -> int | None:
    for part in value.split(",")[1:]:
        name, _, amount = part.partition("=")
        if name == "size":
            match = _SIZE.match(amount)
            if match:
                return int(float(match.group(1)) * _UNITS[match.group(2)])
    return None


@dataclass
class RootDisk:
    """The boot disk (its size read live from the VM config) and what lies on it."""

    device: str
    disk_bytes: Callable[[], int]
    part_sectors: int = 0
    fs_blocks: int = 0

    @property
    def partition(self) -> str:
        return f"/dev/{self.device}1"

    def sectors(self) -> int:
        return self.disk_bytes() // SECTOR

    def max_end(self) -> int:
        return self.sectors() - GPT_SECONDARY - 1

    def part_end(self) -> int:
        return ROOT_START + self.part_sectors - 1

    def boot(self) -> None:
        """cloud-init's growpart and resizefs, run at every boot."""
        self.part_sectors = max(self.part_sectors, self.max_end() - ROOT_START + 1)
        self.fs_blocks = self.part_sectors * SECTOR // BLOCK

    def to_dict(self) -> dict[str, int]:
        return {"part_sectors": self.part_sectors, "fs_blocks": self.fs_blocks}

    def restore(self, saved: dict[str, Any] | None) -> None:
        if saved:
            self.part_sectors = int(saved.get("part_sectors", 0))
            self.fs_blocks = int(saved.get("fs_blocks", 0))

    def devices(self) -> Iterator[tuple[str, str, int, str, str]]:
        """(name, type, bytes, parent, mountpoint) of the disk, then its root partition (the
        image's small boot partitions are not modelled)."""
        yield self.device, "disk", self.disk_bytes(), "", ""
        yield f"{self.device}1", "part", self.part_sectors * SECTOR, self.device, "/"


class BlockCommands:
    """``lsblk``, ``findmnt``, ``growpart`` and ``resize2fs`` on a guest's root disk."""

    def __init__(self, disk: Callable[[], RootDisk | None]) -> None:
        self.disk = disk

    # ------------------------------------------------------------------ lsblk

    def lsblk(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.05
        opts = _options(args, short="bndo", long={"bytes", "noheadings", "nodeps", "output"})
        if isinstance(opts, str):
            return _refuse("lsblk", opts, io)
        flags, values, paths = opts
        columns = (values.get("o") or values.get("output") or "NAME,SIZE,TYPE,MOUNTPOINTS").upper()
        known = {"NAME", "SIZE", "TYPE", "PKNAME", "MOUNTPOINT", "MOUNTPOINTS"}
        wanted = columns.split(",")
        unknown = [c for c in wanted if c not in known]
        if unknown:
            io.err.write(f"lsblk: unknown column: {unknown[0]}\n")
            return 1
        disk = self.disk()
        rows = list(disk.devices()) if disk is not None else []
        if paths:
            chosen = []
            for path in paths:
                found = [r for r in rows if f"/dev/{r[0]}" == path]
                if not found:
                    io.err.write(f"lsblk: {path}: not a block device\n")
                    continue
                chosen.append(found[0])
                if found[0][1] == "disk" and not ({"d", "nodeps"} & flags):
                    chosen.extend(r for r in rows if r[3] == found[0][0])
            if not chosen:
                return 32
        else:
            chosen = rows if not ({"d", "nodeps"} & flags) else [r for r in rows if r[1] == "disk"]
        as_bytes = bool({"b", "bytes"} & flags)
        table = [[_cell(row, column, as_bytes) for column in wanted] for row in chosen]
        if not ({"n", "noheadings"} & flags):
            table.insert(0, wanted)
        width = [max(len(line[i]) for line in table) for i in range(len(wanted))]
        for line in table:
            cells = [
                cell.rjust(width[i]) if wanted[i] == "SIZE" else cell.ljust(width[i])
                for i, cell in enumerate(line)
            ]
            io.out.write(" ".join(cells).rstrip() + "\n")
        return 64 if paths and len({r[0] for r in chosen}) < len(paths) else 0

    # ------------------------------------------------------------------ findmnt

    def findmnt(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.05
        opts = _options(args, short="nbo", long={"noheadings", "bytes", "output"})
        if isinstance(opts, str):
            return _refuse("findmnt", opts, io)
        flags, values, paths = opts
        columns = (values.get("o") or values.get("output") or "TARGET,SOURCE,FSTYPE").upper()
        disk = self.disk()
        if len(paths) != 1 or paths[0] != "/" or disk is None:
            return 1  # only the root mount is modelled: anything else is not a mount point
        sizes = {
            "TARGET": "/",
            "SOURCE": disk.partition,
            "FSTYPE": "ext4",
            "SIZE": str(disk.fs_blocks * BLOCK)
            if {"b", "bytes"} & flags
            else _human(disk.fs_blocks * BLOCK),
        }
        wanted = columns.split(",")
        if any(c not in sizes for c in wanted):
            bad = next(c for c in wanted if c not in sizes)
            io.err.write(f"findmnt: unknown column: {bad}\n")
            return 1
        if not ({"n", "noheadings"} & flags):
            io.out.write(" ".join(wanted) + "\n")
        io.out.write(" ".join(sizes[c] for c in wanted) + "\n")
        return 0

    # ------------------------------------------------------------------ growpart

    def growpart(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.3
        dry_run = any(a in ("-N", "--dry-run") for a in args)
        rest = [a for a in args if a not in ("-N", "--dry-run")]
        if any(a.startswith("-") for a in rest) or len(rest) != 2:
            io.err.write("growpart disk partition\n")  # its Usage, then bad_Usage's error
            io.err.write("must supply disk and partition-number\n")
            return 2
        device, part = rest
        disk = self.disk()
        if disk is None or device != f"/dev/{disk.device}":
            io.out.write(f"FAILED: {device}: does not exist\n")
            return 2
        if not part.isdigit():
            io.out.write("FAILED: partition-number must be a number\n")
            return 2
        number = int(part)
        if number != 1:  # only the root partition is modelled
            dpart = f"{device}{number}"
            io.out.write(f"FAILED: failed to get start and end for {dpart} in {device}\n")
            return 2
        end, max_end = disk.part_end(), disk.max_end()
        if end == max_end:
            io.out.write(f"NOCHANGE: partition 1 is size {disk.part_sectors}. it cannot be grown\n")
            return 1
        if end + FUDGE > max_end:
            io.out.write(
                f"NOCHANGE: partition 1 could only be grown by {max_end - end} [fudge={FUDGE}]\n"
            )
            return 1
        new_size = max_end - ROOT_START + 1
        info = (
            f"partition=1 start={ROOT_START} old: size={disk.part_sectors} end={end} "
            f"new: size={new_size} end={max_end}"
        )
        if dry_run:
            io.out.write(f"CHANGE: {info}\n")
            return 0
        disk.part_sectors = new_size
        io.out.write(f"CHANGED: {info}\n")
        return 0

    # ------------------------------------------------------------------ resize2fs

    def resize2fs(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.5
        io.err.write(E2FSPROGS)
        if len(args) != 1 or args[0].startswith("-"):
            io.err.write(
                "Usage: resize2fs [-d debug_flags] [-f] [-F] [-M] [-P] [-p] device "
                "[-b|-s|new_size] [-S RAID-stride] [-z undo_file]\n\n"
            )
            return 1
        disk = self.disk()
        device = args[0]
        if disk is None or device != disk.partition:
            io.err.write(
                f"resize2fs: No such file or directory while trying to open {device}\n"
                "Couldn't find valid filesystem superblock.\n"
            )
            return 1
        target = disk.part_sectors * SECTOR // BLOCK
        if target == disk.fs_blocks:
            io.out.write(
                f"The filesystem is already {target} (4k) blocks long.  Nothing to do!\n\n"
            )
            return 0
        if target < disk.fs_blocks:  # online shrinking is not possible
            io.err.write(
                f"resize2fs: On-line shrinking not supported\n"
                f"Filesystem at {device} is mounted on /; on-line resizing required\n"
            )
            return 1
        old_desc, new_desc = _desc_blocks(disk.fs_blocks), _desc_blocks(target)
        yield 0.1 * max(1, (target - disk.fs_blocks) // (1 << 20))
        disk.fs_blocks = target
        io.out.write(
            f"Filesystem at {device} is mounted on /; on-line resizing required\n"
            f"old_desc_blocks = {old_desc}, new_desc_blocks = {new_desc}\n"
            f"The filesystem on {device} is now {target} (4k) blocks long.\n\n"
        )
        return 0


def _desc_blocks(blocks: int) -> int:
    groups = -(-blocks // BLOCKS_PER_GROUP)
    return -(-groups // DESCS_PER_BLOCK)


def _cell(row: tuple[str, str, int, str, str], column: str, as_bytes: bool) -> str:
    name, kind, size, parent, mount = row
    if column == "SIZE":
        return str(size) if as_bytes else _human(size)
    return {"NAME": name, "TYPE": kind, "PKNAME": parent}.get(column, mount)


def _human(size: int) -> str:
    """util-linux's size_to_human_string: one decimal unless it is whole, no 'B'."""
    value = float(size)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            break
        value /= 1024
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return text + ("" if unit == "B" else unit)


def _options(
    args: list[str], *, short: str, long: set[str]
) -> tuple[set[str], dict[str, str], list[str]] | str:
    """(flags, option values, operands) of a util-linux command line, or the bad option."""
    flags: set[str] = set()
    values: dict[str, str] = {}
    operands: list[str] = []
    items = iter(args)
    for arg in items:
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name not in long:
                return arg
            if name == "output":
                values[name] = value if eq else next(items, "")
            else:
                flags.add(name)
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            for index, letter in enumerate(letters):
                if letter not in short:
                    return f"-{letter}"
                if letter == "o":
                    rest = letters[index + 1 :]
                    values["o"] = rest if rest else next(items, "")
                    break
                flags.add(letter)
        else:
            operands.append(arg)
    return flags, values, operands


def _refuse(command: str, option: str, io: Streams) -> int:
    if option.startswith("--"):
        io.err.write(f"{command}: unrecognized option '{option}'\n")
    else:
        io.err.write(f"{command}: invalid option -- '{option.lstrip('-')}'\n")
    io.err.write(f"Try '{command} --help' for more information.\n")
    return 1
