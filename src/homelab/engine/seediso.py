"""The NoCloud seed ISO: ``user-data``, ``meta-data`` and ``network-config`` on a ``cidata`` volume.

cloud-init's NoCloud datasource looks for a filesystem labelled ``cidata`` holding those three
files. Proxmox cannot receive cloud-init snippets through its API, but it accepts ISO images, so
the engine builds this image in memory, uploads it as ISO content and attaches it as a CD-ROM.

The image matches ``genisoimage -V cidata -J -r``: ISO 9660 (level 3, so 8.3 names are not
forced on the Rock Ridge and Joliet views), Joliet and Rock Ridge 1.09 names, files read-only.
Output is deterministic: every date in the image (volume descriptors, directory records, Rock
Ridge timestamps) is a fixed UTC instant, independent of the clock and the time zone, so the
same input gives the same bytes and the engine can compare images by hash.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import Any

import pycdlib
from pycdlib import dates
from pycdlib.pycdlibexception import PyCdlibException

from homelab.errors import LabError

__all__ = ["SEED_FILES", "VOLUME_LABEL", "SeedIsoError", "build_seed_iso"]

VOLUME_LABEL = "cidata"
#: (ISO 9660 name, Rock Ridge / Joliet name) of each file, in the order they are written.
SEED_FILES = (
    ("USERDATA.;1", "user-data"),
    ("METADATA.;1", "meta-data"),
    ("NETWORKC.;1", "network-config"),
)
#: 2020-01-01 00:00:00 UTC, the date of every record in the image.
FIXED_DR_DATE = struct.pack("=BBBBBBb", 2020 - 1900, 1, 1, 0, 0, 0, 0)
FIXED_VD_DATE = b"2020010100000000" + struct.pack("=b", 0)
SECTOR = 2048
VD_FIRST_SECTOR = 16
VD_PRIMARY, VD_SUPPLEMENTARY, VD_TERMINATOR = 1, 2, 255
VD_MODIFICATION_DATE = 830
MAX_SEED_BYTES = 3 * 1024 * 1024  # Proxmox's own limit for cloud-init data


class SeedIsoError(LabError):
    """The seed ISO could not be built."""


def build_seed_iso(user_data: bytes, meta_data: bytes, network_config: bytes) -> bytes:
    """The bytes of a NoCloud seed ISO holding the three files, byte-identical for equal input."""
    contents = (user_data, meta_data, network_config)
    total = sum(len(data) for data in contents)
    if total > MAX_SEED_BYTES:
        raise SeedIsoError(
            f"cloud-init data is {total} bytes; a seed ISO holds at most {MAX_SEED_BYTES}"
        )
    try:
        return _write_iso(contents)
    except PyCdlibException as exc:
        raise SeedIsoError(f"cannot build the cloud-init seed ISO: {exc}") from exc


def _write_iso(contents: tuple[bytes, bytes, bytes]) -> bytes:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, vol_ident=VOLUME_LABEL, joliet=3, rock_ridge="1.09")
    for (iso_name, name), data in zip(SEED_FILES, contents, strict=True):
        iso.add_fp(
            io.BytesIO(data),
            len(data),
            f"/{iso_name}",
            rr_name=name,
            joliet_path=f"/{name}",
            file_mode=0o100444,
        )
    _fix_dates(iso)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return _fix_modification_dates(bytearray(out.getvalue()))


def _fix_dates(iso: Any) -> None:
    """Replace every timestamp pycdlib took from the clock with the fixed instant."""
    for descriptor in (iso.pvd, iso.joliet_vd):
        for attr in ("volume_creation_date", "volume_modification_date", "volume_effective_date"):
            fixed = dates.VolumeDescriptorDate()
            fixed.parse(FIXED_VD_DATE)
            setattr(descriptor, attr, fixed)
    for record in _all_records(iso):
        record.date = _fixed_dr_date()
        rock_ridge = getattr(record, "rock_ridge", None)
        if rock_ridge is not None:
            _fix_tf(rock_ridge)


def _fix_modification_dates(image: bytearray) -> bytes:
    """pycdlib stamps each volume descriptor's modification date with the clock as it writes;
    overwrite that field (ECMA-119 8.4.27, bytes 831-847) in every primary/supplementary one."""
    sector = VD_FIRST_SECTOR
    while (sector + 1) * SECTOR <= len(image):
        start = sector * SECTOR
        vd_type, magic = image[start], bytes(image[start + 1 : start + 6])
        if magic != b"CD001" or vd_type == VD_TERMINATOR:
            break
        if vd_type in (VD_PRIMARY, VD_SUPPLEMENTARY):
            offset = start + VD_MODIFICATION_DATE
            image[offset : offset + len(FIXED_VD_DATE)] = FIXED_VD_DATE
        sector += 1
    return bytes(image)


def _all_records(iso: Any) -> Iterator[Any]:
    yield iso.pvd.root_directory_record()
    yield iso.joliet_vd.root_directory_record()
    for view in ({"iso_path": "/"}, {"joliet_path": "/"}):
        yield from iso.list_children(**view)


def _fix_tf(rock_ridge: Any) -> None:
    for entries in (rock_ridge.dr_entries, rock_ridge.ce_entries):
        tf = getattr(entries, "tf_record", None)
        if tf is None:
            continue
        for attr in ("creation_time", "access_time", "modification_time", "attribute_change_time"):
            if getattr(tf, attr) is not None:
                setattr(tf, attr, _fixed_dr_date())


def _fixed_dr_date() -> Any:
    date = dates.DirectoryRecordDate()
    date.parse(FIXED_DR_DATE)
    return date
