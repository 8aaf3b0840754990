"""The NoCloud seed ISO read back with pycdlib: label, names in each view, contents, determinism."""

from __future__ import annotations

import io
import os
import time
from typing import Any

import pycdlib
import pytest

from homelab.engine.seediso import SeedIsoError, build_seed_iso

USER_DATA = b"#cloud-config\nhostname: k8s-master-1\npackages: [qemu-guest-agent]\n"
META_DATA = b"instance-id: homelab-201-3f2a\nlocal-hostname: k8s-master-1\n"
NETWORK = b"version: 2\nethernets:\n  eth0:\n    addresses: [10.0.20.11/24]\n"


def read_back(image: bytes) -> Any:
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    return iso


def file_bytes(iso: Any, **where: str) -> bytes:
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, **where)
    return out.getvalue()


def names(iso: Any, view: str) -> set[str]:
    """File names in the root directory as the Rock Ridge or Joliet view shows them."""
    found = set()
    for child in iso.list_children(**{view: "/"}):
        if child.is_dot() or child.is_dotdot():
            continue
        if view == "rr_path":
            found.add(child.rock_ridge.name().decode())
        else:
            found.add(child.file_identifier().decode("utf-16-be"))
    return found


def test_volume_label_is_cidata_in_both_descriptors() -> None:
    iso = read_back(build_seed_iso(USER_DATA, META_DATA, NETWORK))
    assert iso.pvd.volume_identifier.rstrip() == b"cidata"
    assert iso.joliet_vd.volume_identifier.decode("utf-16-be").rstrip() == "cidata"
    assert iso.has_rock_ridge() and iso.has_joliet()


@pytest.mark.parametrize("view", ["rr_path", "joliet_path"])
def test_three_files_with_exact_names_and_contents(view: str) -> None:
    iso = read_back(build_seed_iso(USER_DATA, META_DATA, NETWORK))
    expected = {"user-data": USER_DATA, "meta-data": META_DATA, "network-config": NETWORK}
    assert names(iso, view) == set(expected)
    for name, content in expected.items():
        assert file_bytes(iso, **{view: f"/{name}"}) == content


def test_iso9660_names_are_plain_level_3_names() -> None:
    iso = read_back(build_seed_iso(USER_DATA, META_DATA, NETWORK))
    plain = {c.file_identifier() for c in iso.list_children(iso_path="/")}
    assert {b"USERDATA.;1", b"METADATA.;1", b"NETWORKC.;1"} <= plain


def test_rock_ridge_files_are_read_only_regular_files() -> None:
    iso = read_back(build_seed_iso(USER_DATA, META_DATA, NETWORK))
    record = iso.get_record(rr_path="/user-data")
    assert record.rock_ridge.get_file_mode() == 0o100444


def test_same_input_gives_the_same_bytes_whatever_the_clock_and_zone() -> None:
    first = build_seed_iso(USER_DATA, META_DATA, NETWORK)
    original = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "Pacific/Kiritimati"
        time.tzset()
        time.sleep(1.05)  # a new second: pycdlib stamps dates with one-second resolution
        second = build_seed_iso(USER_DATA, META_DATA, NETWORK)
    finally:
        if original is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = original
        time.tzset()
    assert first == second


def test_different_input_gives_different_bytes() -> None:
    assert build_seed_iso(USER_DATA, META_DATA, NETWORK) != build_seed_iso(
        USER_DATA + b"# changed\n", META_DATA, NETWORK
    )


def test_empty_files_are_allowed() -> None:
    iso = read_back(build_seed_iso(USER_DATA, META_DATA, b""))
    assert file_bytes(iso, rr_path="/network-config") == b""


def test_oversized_data_is_refused() -> None:
    with pytest.raises(SeedIsoError, match="at most"):
        build_seed_iso(b"x" * (3 * 1024 * 1024), b"", b"x")
