"""Rendering is a pure function: same inputs, same bytes (across processes too)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from homelab.core.render.artifacts import Artifacts
from homelab.core.render.lab import render_lab
from tests.render.support import LABS, load_example, pki_for
from tests.support.paths import REPO

FINGERPRINT = """
import hashlib
from homelab.core.render.lab import render_lab
from tests.render.support import LABS, load_example, pki_for
for lab in LABS:
    a = render_lab(load_example(lab), pki_for(lab))
    print(lab, {vm: a.digest(vm) for vm in a.seeds},
          hashlib.sha256(b"".join(a.cluster[n] for n in sorted(a.cluster))).hexdigest())
"""


def fingerprint(artifacts: dict[str, Artifacts]) -> str:
    lines = []
    for lab in LABS:
        a = artifacts[lab]
        cluster = hashlib.sha256(b"".join(a.cluster[n] for n in sorted(a.cluster))).hexdigest()
        lines.append(f"{lab} { ({vm: a.digest(vm) for vm in a.seeds}) } {cluster}")
    return "\n".join(lines) + "\n"


def test_rendering_twice_gives_identical_bytes(rendered: dict[str, Artifacts]) -> None:
    for lab in LABS:
        again = render_lab(load_example(lab), pki_for(lab))
        assert again == rendered[lab]
        for vm, seed in again.seeds.items():
            assert seed.files() == rendered[lab].seeds[vm].files()


def test_rendering_in_another_process_with_another_hash_seed(
    rendered: dict[str, Artifacts],
) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", FINGERPRINT], cwd=REPO, env=env, capture_output=True, check=True
    )
    assert result.stdout.decode() == fingerprint(rendered)


def test_a_changed_seed_is_a_new_instance_with_a_new_digest(rendered: dict[str, Artifacts]) -> None:
    spec = load_example("home-lab")
    vms = dict(spec.vms)
    vms["k8s-worker-3"] = vms["k8s-worker-3"].model_copy(update={"cores": 4, "ip": "10.0.20.23"})
    changed = render_lab(spec.model_copy(update={"vms": vms}), pki_for("home-lab"))
    before = rendered["home-lab"]
    assert changed.digest("k8s-worker-3") != before.digest("k8s-worker-3")
    assert changed.seeds["k8s-worker-3"].meta_data != before.seeds["k8s-worker-3"].meta_data
    for vm in ("k8s-master-1", "k8s-worker-2"):  # nothing they contain changed
        assert changed.digest(vm) == before.digest(vm)
