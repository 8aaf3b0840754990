"""The cloud-config schema shipped with the package, and user-data validation."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from scripts import gen_cloudinit_schema

from homelab_sim.guest import cloudinit
from tests.sim.guest.support import rendered
from tests.support.upstream import upstream_file

SOURCE = "schemas/cloud-init/24.1.3/schema-cloud-config-v1.json"


def test_the_shipped_schema_is_generated_from_cloud_init_24_1_3() -> None:
    source = upstream_file(SOURCE)
    shipped = resources.files("homelab_sim.guest").joinpath("cloud_config_schema.json")
    assert shipped.read_text() == gen_cloudinit_schema.render(source), (
        "run scripts/gen_cloudinit_schema.py"
    )
    compact = json.loads(shipped.read_text())
    assert len(shipped.read_text()) < source.stat().st_size / 3
    assert "description" not in json.dumps(compact["$defs"]["cc_runcmd"])
    assert compact["additionalProperties"] is False


def test_annotations_are_dropped_but_properties_named_like_them_stay() -> None:
    schema = {
        "description": "x",
        "properties": {"description": {"type": "string", "description": "gone"}},
    }
    assert gen_cloudinit_schema.compact(schema) == {
        "properties": {"description": {"type": "string"}}
    }


def test_rendered_user_data_is_valid_cloud_config() -> None:
    lab = rendered("ha-lab")
    for seed in lab.artifacts.seeds.values():
        config = cloudinit.parse_user_data(seed.user_data.decode())
        assert config["runcmd"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#cloud-config\npackages: containerd\n", "packages: 'containerd' is not of type 'array'"),
        ("#cloud-config\nrun_cmd: [ls]\n", "'run_cmd' was unexpected"),
        ("#cloud-config\nwrite_files: [{content: x}]\n", "'path' is a required property"),
        ("#!/bin/sh\necho hi\n", "does not start with '#cloud-config'"),
        ("#cloud-config\n[oops\n", "Failed loading yaml blob"),
    ],
)
def test_invalid_user_data_is_refused_with_the_schema_message(text: str, message: str) -> None:
    with pytest.raises(cloudinit.UserDataError) as caught:
        cloudinit.parse_user_data(text)
    assert message in str(caught.value)
