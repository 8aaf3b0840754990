"""Born facts parsed from a node's user-data (``engine.guest.userdata``) and the first control
plane found from how it bootstrapped (``verbs.lab.born_first_from``): pure, on rendered seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.core.render.cloudinit import clean_user_data, dump_user_data, user_data
from homelab.core.render.lab import render_lab
from homelab.core.render.versions import versions_for
from homelab.core.spec.models import LabSpec
from homelab.engine.guest.userdata import Bootstrap, parse_born
from homelab.engine.pki import generate_cluster_secrets
from homelab.errors import LabError
from homelab.verbs.lab import born_first_from, with_first
from homelab.verbs.spec import load_valid_spec
from tests.support.paths import EXAMPLES

KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICR1Kjxkp8TY39QQ8rPrvZta2Cl81ledsQySZv20Y4+h admin@laptop"
)


def example(name: str) -> LabSpec:
    return load_valid_spec(Path(EXAMPLES / name))


def seeds(spec: LabSpec) -> dict[str, bytes]:
    artifacts = render_lab(spec, generate_cluster_secrets(spec.name))
    return {vm: seed.user_data for vm, seed in artifacts.seeds.items()}


def test_the_facts_of_the_reference_lab() -> None:
    spec = example("home-lab.yaml")
    born = {vm: parse_born(data, "ubuntu") for vm, data in seeds(spec).items()}
    assert {f.keys for f in born.values()} == {(KEY,)}
    assert {f.version for f in born.values()} == {spec.kubernetes.version}
    assert born["k8s-master-1"].bootstrap == Bootstrap(init=True, endpoint="")
    assert born["k8s-worker-2"].bootstrap == Bootstrap(init=False, endpoint="10.0.20.10")
    assert parse_born(seeds(spec)["k8s-worker-2"], "someone-else").keys is None


def test_a_cloud_config_without_the_facts_tells_none() -> None:
    born = parse_born(b"#cloud-config\nusers: [default, {name: ubuntu}]\nruncmd: [ls]\n", "ubuntu")
    assert (born.keys, born.version, born.bootstrap) == ((), None, None)


def test_a_secret_free_twin_tells_keys_and_version_not_the_bootstrap() -> None:
    spec = example("home-lab.yaml")
    secrets = generate_cluster_secrets(spec.name)
    versions = versions_for(spec.kubernetes.minor)
    doc = user_data(spec, secrets, "k8s-worker-2", versions)
    twin = parse_born(dump_user_data(clean_user_data(doc, spec, versions)), "ubuntu")
    assert (twin.keys, twin.version, twin.bootstrap) == ((KEY,), spec.kubernetes.version, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"#!/bin/sh\necho token-abcdef\n", "is not a cloud-config"),
        (b"#cloud-config\n[oops: token-abcdef\n", "is not valid YAML"),
        (b"#cloud-config\n- token-abcdef\n", "not a mapping"),
    ],
)
def test_what_is_not_a_cloud_config_is_refused_without_quoting_it(
    data: bytes, message: str
) -> None:
    with pytest.raises(LabError) as caught:
        parse_born(data, "ubuntu")
    assert message in caught.value.message and "abcdef" not in str(caught.value)


def test_the_first_control_plane_from_how_each_node_bootstrapped() -> None:
    spec = example("ha-lab.yaml")
    spec_first = ("k8s-master-1", "10.0.20.11")
    for vm, data in seeds(spec).items():
        assert born_first_from(spec, vm, parse_born(data, "ubuntu").bootstrap) == spec_first
    rejoined = with_first(spec, "k8s-master-2", "10.0.20.12")  # k8s-master-1 rebuilt
    boot = parse_born(seeds(rejoined)["k8s-master-1"], "ubuntu").bootstrap
    assert boot == Bootstrap(False, "10.0.20.9", ("k8s-master-2", "10.0.20.12"))
    assert born_first_from(spec, "k8s-master-1", boot) == ("k8s-master-2", "10.0.20.12")
    assert born_first_from(spec, "k8s-master-1", None) is None
    assert born_first_from(spec, "gone", boot) is None


def test_a_first_that_left_the_spec_is_found_by_its_name_and_address() -> None:
    spec = example("ha-lab.yaml")
    then = with_first(spec, "k8s-master-0", "10.0.20.20")  # a stand-in the spec no longer has
    boot = parse_born(seeds(then)["k8s-master-1"], "ubuntu").bootstrap
    assert born_first_from(spec, "k8s-master-1", boot) == ("k8s-master-0", "10.0.20.20")
    nobody = Bootstrap(False, "10.9.9.9")  # a worker that joined an address nobody has
    assert born_first_from(spec, "k8s-worker-1", nobody) is None
