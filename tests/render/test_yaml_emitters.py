"""Rendered bytes do not depend on which YAML emitter or dumping path produced them.

Digests of seeds decide whether a VM is replaced, so the fast paths (libyaml's emitter, the
piece cache) must give exactly what the pure-Python emitter gives in one dump.
"""

from __future__ import annotations

import pytest
import yaml

from homelab.core.render import cloudinit, network, yamldoc
from homelab.core.render.artifacts import Artifacts
from homelab.core.render.versions import versions_for
from homelab.core.spec.models import LabSpec
from tests.render.support import LABS, pki_for


@pytest.mark.parametrize("lab", LABS)
def test_pure_emitter_gives_the_same_bytes(
    lab: str, specs: dict[str, LabSpec], rendered: dict[str, Artifacts]
) -> None:
    spec = specs[lab]
    versions = versions_for(spec.kubernetes.minor)
    for vm in spec.vms:
        doc = cloudinit.user_data(spec, pki_for(lab), vm, versions)
        pure = cloudinit.HEADER + yamldoc.dump(doc, dumper=yamldoc.PURE_DUMPER)
        assert pure.encode() == rendered[lab].seeds[vm].user_data, vm
        net = yamldoc.dump(network.network_config(spec, vm), dumper=yamldoc.PURE_DUMPER)
        assert net.encode() == rendered[lab].seeds[vm].network_config, vm


def test_libyaml_emitter_is_in_use() -> None:
    assert hasattr(yaml, "CSafeDumper"), "PyYAML without libyaml renders 7x slower"


@pytest.mark.parametrize(
    "doc",
    [
        {"b": [1, "two", {"x": "multi\nline\n"}], "a": "plain", "c": [], "d": {}},
        {"runcmd": [["sh", "-c", "echo 'hi'\nexit 0\n"], ["true"]], "z": None, "y": True},
        {"write_files": [{"path": "/x", "content": "a: b\n", "permissions": "0600"}]},
    ],
)
def test_piece_cache_joins_exactly_what_one_dump_gives(doc: dict[str, object]) -> None:
    cache = yamldoc.PieceCache()
    once = yamldoc.dump(doc)
    assert cache.dump_mapping(doc) == once
    assert cache.dump_mapping(doc) == once  # from the cache this time
