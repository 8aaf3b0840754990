"""NoCloud seed files (volume label ``cidata``) and reading them out of an ISO image with pycdlib.

A VM that starts with such an ISO attached keeps the files in its state (``SeedFiles``), as a
real guest's cloud-init would read them at first boot.
"""

from __future__ import annotations

import io

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
