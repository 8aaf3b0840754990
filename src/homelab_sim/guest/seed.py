"""NoCloud seed files (volume label ``cidata``) and reading them out of an ISO image with pycdlib.

A VM that starts with such an ISO attached keeps the files in its state (``SeedFiles``), as a
real guest's cloud-init would read them at first boot. With several ``cidata`` CD-ROMs (homelab's
ISO and Proxmox's own cloud-init drive) the guest picks one the way NoCloud does
(``nocloud_pick``), on the ``/dev/srN`` names ``cdrom_device_names`` gives.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException
from pydantic import BaseModel

SEED_LABEL = "cidata"
_FILES = {
    "user_data": "user-data",
    "meta_data": "meta-data",
    "network_config": "network-config",
    "vendor_data": "vendor-data",
}


class SeedFiles(BaseModel):
    """The files of a NoCloud seed. ``user_data`` and ``meta_data`` are required by NoCloud."""

    user_data: str
    meta_data: str
    network_config: str | None = None
    vendor_data: str | None = None


class SeedError(Exception):
    """The ISO is not a readable cidata seed (the guest then boots without one)."""


def read_seed_iso(data: bytes) -> SeedFiles | None:
    """The seed files of an ISO labelled ``cidata``; None for any other ISO.

    Raises SeedError if the image is not an ISO at all or a cidata ISO lacks a required file.
    """
    iso = pycdlib.PyCdlib()
    try:
        iso.open_fp(io.BytesIO(data))
    except (PyCdlibException, OSError, ValueError) as exc:
        raise SeedError(f"not an ISO 9660 image: {exc}") from exc
    try:
        label = iso.pvd.volume_identifier.decode("ascii", "replace").strip().rstrip("\x00")
        if label.lower() != SEED_LABEL:
            return None
        found = {key: _read_file(iso, name) for key, name in _FILES.items()}
    finally:
        iso.close()
    if found["user_data"] is None or found["meta_data"] is None:
        raise SeedError("a cidata ISO needs both user-data and meta-data")
    return SeedFiles.model_validate(found)


def _read_file(iso: pycdlib.PyCdlib, name: str) -> str | None:
    """Read ``name`` through Joliet or Rock Ridge names, then the ISO 9660 fallback."""
    attempts = []
    if iso.has_joliet():
        attempts.append({"joliet_path": f"/{name}"})
    if iso.has_rock_ridge():
        attempts.append({"rr_path": f"/{name}"})
    iso9660 = name.upper().replace("-", "_")
    attempts += [{"iso_path": f"/{iso9660}.;1"}, {"iso_path": f"/{iso9660};1"}]
    for kwargs in attempts:
        out = io.BytesIO()
        try:
            iso.get_file_from_iso_fp(out, **kwargs)
        except PyCdlibException:
            continue
        return out.getvalue().decode("utf-8", "replace")
    return None


# ---- which seed NoCloud reads ----------------------------------------------------------------

#: The order Linux finds the CD-ROM drives in, so the order of ``/dev/srN``: QEMU's IDE
#: controller (ide0-ide3) is probed before the SATA (AHCI) and SCSI host adapters qemu-server
#: adds as PCI devices. The exact slot->``srN`` mapping is not documented (BEHAVIOUR-DAY2 §7
#: [unc]); this is the model, consistent within a VM.
_BUS_ORDER = ("ide", "sata", "scsi", "virtio")
_KEY_RE = re.compile(r"^([a-z]+)(\d+)$")


@dataclass(frozen=True)
class SeedDevice:
    """One CD-ROM the guest sees: its drive key, its ``/dev`` name, and what a read of it gave
    (the seed files, None for an ISO that is not ``cidata``, or the reason it is not valid)."""

    key: str
    device: str
    seed: SeedFiles | None
    error: str | None = None


def cdrom_device_names(keys: Iterable[str]) -> dict[str, str]:
    """``/dev/srN`` of each CD-ROM drive key, numbered in probe order."""

    def order(key: str) -> tuple[int, int]:
        match = _KEY_RE.match(key)
        if match is None or match.group(1) not in _BUS_ORDER:
            return (len(_BUS_ORDER), 0)
        return (_BUS_ORDER.index(match.group(1)), int(match.group(2)))

    return {key: f"/dev/sr{index}" for index, key in enumerate(sorted(keys, key=order))}


def nocloud_pick(devices: Iterable[SeedDevice]) -> SeedDevice | None:
    """The seed cloud-init's NoCloud reads (``DataSourceNoCloud._get_devices``): every
    filesystem labelled ``cidata``/``CIDATA``, device names sorted in *reverse*, the first one
    that is a valid seed wins (so ``/dev/sr1`` before ``/dev/sr0``)."""
    labelled = [d for d in devices if d.seed is not None or d.error is not None]
    for device in sorted(labelled, key=lambda d: d.device, reverse=True):
        if device.seed is not None:
            return device
    return None
