"""Sizes as people write them: ``4096``, ``4GiB``, ``4G``, ``512MiB``, ``1T``.

Binary units throughout (a ``G`` is a GiB), as Proxmox and kubeadm mean them.
"""

from __future__ import annotations

import re

_UNITS_MIB = {
    "": None,
    "m": 1,
    "mi": 1,
    "mib": 1,
    "mb": 1,
    "g": 1024,
    "gi": 1024,
    "gib": 1024,
    "gb": 1024,
    "t": 1024 * 1024,
    "ti": 1024 * 1024,
    "tib": 1024 * 1024,
    "tb": 1024 * 1024,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: object, *, bare_unit_mib: int, field: str) -> int:
    """Return a size in MiB. A bare integer is counted in ``bare_unit_mib`` MiB units."""
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a size such as 4GiB, not a boolean")
    if isinstance(value, int):
        mib = value * bare_unit_mib
    elif isinstance(value, str):
        match = _SIZE.match(value)
        if not match or match.group(2).lower() not in _UNITS_MIB:
            raise ValueError(f"{field} {value!r} is not a size (examples: 4096, 4GiB, 4G, 512MiB)")
        number, unit = float(match.group(1)), match.group(2).lower()
        factor = _UNITS_MIB[unit]
        raw = number * (bare_unit_mib if factor is None else factor)
        if raw != int(raw):
            raise ValueError(f"{field} {value!r} is not a whole number of MiB")
        mib = int(raw)
    else:
        raise ValueError(f"{field} must be a size such as 4GiB")
    if mib <= 0:
        raise ValueError(f"{field} must be larger than zero")
    return mib


def parse_memory_mib(value: object) -> int:
    """Memory: MiB integers or units (4096, 4GiB, 4G)."""
    return parse_size(value, bare_unit_mib=1, field="memory")


def parse_disk_gib(value: object) -> int:
    """Disk: GiB integers or units (32, 32GiB, 32G); must be whole GiB."""
    mib = parse_size(value, bare_unit_mib=1024, field="disk")
    if mib % 1024:
        raise ValueError(f"disk {value!r} is not a whole number of GiB")
    return mib // 1024


def format_mib(mib: int) -> str:
    """4096 -> '4GiB', 1536 -> '1536MiB'."""
    return f"{mib // 1024}GiB" if mib % 1024 == 0 else f"{mib}MiB"
