"""VM drive property strings (``local-lvm:vm-101-disk-0,size=32G``) and disk sizes.

Pure helpers: parse and print drive values, recognise disks, CD-ROMs and cloud-init drives,
and read/print sizes the way qemu-server does (``3584M``, ``32G``; no suffix = bytes).
"""

from __future__ import annotations

import re

DRIVE_KEY = re.compile(
    r"^(ide[0-3]|sata[0-5]|scsi([0-9]|[12][0-9]|30)|virtio([0-9]|1[0-5])|efidisk0|tpmstate0)$"
)
UNUSED_KEY = re.compile(r"^unused\d+$")
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"^(\+?)(\d+(?:\.\d+)?)([KMGT]?)$")


def is_drive_key(key: str) -> bool:
    return bool(DRIVE_KEY.match(key))


def parse_drive(value: str) -> tuple[str, dict[str, str]]:
    """(volume, options) of a drive value; the volume may be ``none``, ``cdrom`` or a volid."""
    head, *rest = value.split(",")
    opts = dict(p.split("=", 1) for p in rest if "=" in p)
    if "=" in head:  # "file=local-lvm:...,"
        key, vol = head.split("=", 1)
        if key != "file":
            opts[key] = vol
            vol = ""
        head = vol
    return head, opts


def print_drive(volume: str, opts: dict[str, str]) -> str:
    return ",".join([volume, *(f"{k}={v}" for k, v in opts.items())])


def is_cdrom(value: str) -> bool:
    volume, opts = parse_drive(value)
    return (opts.get("media") == "cdrom" and not is_cloudinit(volume)) or volume in {
        "cdrom",
        "none",
    }


def is_cloudinit(volume: str) -> bool:
    return (
        volume.endswith("-cloudinit")
        or volume.endswith("cloudinit.qcow2")
        or (volume.endswith(":cloudinit"))
    )


def is_disk(key: str, value: str) -> bool:
    """A drive key holding an image (not a CD-ROM, not the cloud-init drive)."""
    if not is_drive_key(key):
        return False
    volume, _ = parse_drive(value)
    return not is_cdrom(value) and not is_cloudinit(volume) and ":" in volume


def parse_size(text: str) -> tuple[bool, int]:
    """(relative, bytes) of ``+2G`` / ``10G`` / ``1024``; ValueError if malformed."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ValueError(f"unable to parse size '{text}'")
    plus, number, unit = match.groups()
    return plus == "+", int(float(number) * _UNITS.get(unit, 1))


def format_size(size: int) -> str:
    """qemu-server's size string: the largest unit that divides exactly."""
    for unit in ("T", "G", "M", "K"):
        if size and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


def split_volid(volid: str) -> tuple[str, str]:
    """(storage, volume name) of ``storage:name``."""
    storage, _, name = volid.partition(":")
    return storage, name
