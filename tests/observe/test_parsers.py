"""The PVE parsers: tolerant where PVE varies, clear ObservationErrors where a payload is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from homelab.core import observed
from homelab.core.desired import DescriptionRecord, description_text
from homelab.errors import LabError


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"data": {"vmid": 1}}, "not a list"),
        ({"data": ["qemu/100"]}, "not an object"),
        ({"data": [{"type": "qemu", "node": "pve"}]}, "without 'vmid'"),
        ({"data": [{"type": "qemu", "vmid": "abc", "node": "pve"}]}, "vmid='abc'"),
        ({"data": [{"type": "qemu", "vmid": 100, "node": "pve", "tags": 5}]}, "tags=5"),
    ],
)
def test_bad_resources_raise_observation_errors(payload: Any, message: str) -> None:
    with pytest.raises(observed.ObservationError, match=message) as info:
        observed.parse_resources(payload)
    assert isinstance(info.value, LabError)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([], "not an object"),
        ({"scsi0": "local-lvm:vm-1-disk-0,size=lots"}, "disk size 'lots'"),
        ({"memory": "much"}, "memory='much'"),
        ({"net0": "virtio,bridge=vmbr0,oops"}, "property string"),
    ],
)
def test_bad_configs_raise_observation_errors(config: Any, message: str) -> None:
    with pytest.raises(observed.ObservationError, match=message):
        observed.parse_config({"data": config})


def test_storage_items_need_a_volid() -> None:
    with pytest.raises(observed.ObservationError, match="without a volid"):
        observed.parse_storage_content({"data": [{"content": "iso", "size": 1}]})


@pytest.mark.parametrize(
    ("size", "gib"),
    [("32G", 32), ("32768M", 32), ("2252M", 3), ("1T", 1024), ("34359738368", 32), ("512K", 1)],
)
def test_sizes_round_up_to_whole_gib(size: str, gib: int) -> None:
    assert observed.ceil_gib(observed.parse_size_bytes(size)) == gib


def test_envelope_or_bare_content_both_parse() -> None:
    bare = [{"type": "qemu", "vmid": 100, "node": "pve", "name": "a"}]
    assert observed.parse_resources(bare) == observed.parse_resources({"data": bare})


def test_description_record_round_trips_and_survives_user_text() -> None:
    record = DescriptionRecord(lab="home-lab", template="9000", seed="a" * 64, digest="b" * 64)
    text = description_text(record) + "\n\nnotes: rack 2, ask Bob"
    config = observed.parse_config({"data": {"description": text, "digest": "x"}})
    assert config.record == record
    partial = "homelab-lab: home-lab\nhomelab-template: 9000"
    assert observed.parse_config({"data": {"description": partial}}).record is None


def test_with_configs_attaches_by_vmid() -> None:
    vms = observed.parse_resources([{"type": "qemu", "vmid": 100, "node": "pve", "name": "a"}])
    state = observed.Observed(vms=vms, seed_volumes={"pve": ()}, nodes=("pve",))
    config = observed.parse_config({"data": {"cores": 3, "digest": "d"}})
    assert state.with_configs({100: config}).vms[0].config == config
    assert state.with_configs({}).vms[0].config is None
