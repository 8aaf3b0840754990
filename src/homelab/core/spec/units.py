"""Sizes as people write them: ``4096``, ``4GiB``, ``4G``, ``512MiB``, ``1T``, ``1024B``.

Binary units throughout (a ``G`` is a GiB), as Proxmox and kubeadm mean them. Arithmetic is
exact (fractions, not floats), and sizes stay inside what Proxmox VE accepts, so an absurd
value is refused here instead of reaching the API as an overflowing number.
"""

from __future__ import annotations

import re
from fractions import Fraction

MIB = 1024 * 1024
_UNITS_BYTES = {
    "b": 1,
    "k": 1024,
    "ki": 1024,
    "kib": 1024,
    "kb": 1024,
    "m": MIB,
    "mi": MIB,
    "mib": MIB,
    "mb": MIB,
    "g": 1024 * MIB,
    "gi": 1024 * MIB,
    "gib": 1024 * MIB,
    "gb": 1024 * MIB,
    "t": 1024 * 1024 * MIB,
    "ti": 1024 * 1024 * MIB,
    "tib": 1024 * 1024 * MIB,
    "tb": 1024 * 1024 * MIB,
}
_SIZE = re.compile(r"^\s*(\d+)(?:\.(\d{1,30}))?\s*([a-zA-Z]*)\s*$")
# A whole part longer than this is beyond every bound below, whatever the unit; checking the
# length first keeps the conversion to a number cheap (and Python's int() limit far away).
_MAX_DIGITS = 30
_EXAMPLES = "examples: 4096, 4GiB, 4G, 512MiB"

# qemu-server (PVE/QemuServer/Memory.pm, get_max_mem): the most memory Proxmox VE gives a VM
# is 4 TiB, whatever the host (the cap of its memory-hotplug maximum). Its own minimum, 16 MiB
# (the `memory` schema in apidoc.json), is below kubeadm's 2 GiB that checks.py enforces.
MEMORY_MAX_MIB = 4 * 1024 * 1024
# pve-manager (www/manager6/form/DiskStorageSelector.js): the largest disk Proxmox VE's own
# disk dialog lets a user create is 128 TiB. 2^63 bytes would overflow qemu's and Perl's
# signed 64-bit sizes.
DISK_MAX_GIB = 128 * 1024


def _shown(value: object) -> str:
    if isinstance(value, int) and value.bit_length() > 128:
        return f"(a {value.bit_length()}-bit number)"
    text = str(value).strip()
    return text if len(text) <= 40 else f"{text[:37]}..."


def _to_bytes(value: object, *, bare_unit: int, field: str) -> Fraction:
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a size such as 4GiB, not a boolean")
    if isinstance(value, int):
        return Fraction(value) * bare_unit
    if isinstance(value, str):
        match = _SIZE.match(value)
        unit = match.group(3).lower() if match else ""
        if not match or (unit and unit not in _UNITS_BYTES):
            raise ValueError(f"{field} {_shown(value)!r} is not a size ({_EXAMPLES})")
        whole, fraction = match.group(1).lstrip("0") or "0", match.group(2) or "0"
        if len(whole) > _MAX_DIGITS:
            whole = "9" * _MAX_DIGITS  # as good as infinite: fails the upper bound below
        number = Fraction(f"{whole}.{fraction}")
        return number * (_UNITS_BYTES[unit] if unit else bare_unit)
    raise ValueError(f"{field} must be a size such as 4GiB")


def parse_size(value: object, *, bare_unit_mib: int, field: str, max_mib: int) -> int:
    """Return a size in MiB, at most ``max_mib``. A bare number counts ``bare_unit_mib`` MiB."""
    size = _to_bytes(value, bare_unit=bare_unit_mib * MIB, field=field)
    if size <= 0:
        raise ValueError(f"{field} must be larger than zero")
    if size > max_mib * MIB:
        raise ValueError(
            f"{field} {_shown(value)} is more than Proxmox VE accepts (at most "
            f"{_format_bound(max_mib)})"
        )
    mib = size / MIB
    if mib.denominator != 1:
        raise ValueError(f"{field} {_shown(value)!r} is not a whole number of MiB")
    return int(mib)


def parse_memory_mib(value: object) -> int:
    """Memory: MiB integers or units (4096, 4GiB, 4G), at most 4 TiB."""
    return parse_size(value, bare_unit_mib=1, field="memory", max_mib=MEMORY_MAX_MIB)


def parse_disk_gib(value: object) -> int:
    """Disk: GiB integers or units (32, 32GiB, 32G); whole GiB, at most 128 TiB."""
    mib = parse_size(value, bare_unit_mib=1024, field="disk", max_mib=DISK_MAX_GIB * 1024)
    if mib % 1024:
        raise ValueError(f"disk {_shown(value)!r} is not a whole number of GiB")
    return mib // 1024


def format_mib(mib: int) -> str:
    """4096 -> '4GiB', 1536 -> '1536MiB'."""
    return f"{mib // 1024}GiB" if mib % 1024 == 0 else f"{mib}MiB"


def _format_bound(mib: int) -> str:
    """A bound in the largest whole binary unit: 4194304 -> '4TiB'."""
    tib = 1024 * 1024
    return f"{mib // tib}TiB" if mib % tib == 0 else format_mib(mib)
