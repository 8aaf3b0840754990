"""A fresh reference lab comes up at the newer supported minors (issue 10), on the simulator.

One minor per regime: 1.31 (kubeadm v1beta4, Ubuntu's containerd 1.7, Calico 3.29 with its CRDs
inside tigera-operator.yaml), 1.34 (etcd 3.6, Docker's containerd.io 2.x, Calico 3.31 with
operator-crds.yaml applied first) and 1.37 (v1beta3 removed, containerd 2.x required, Calico
3.32, MetalLB 0.16). The real kubectl reads the nodes: every one Ready at the spec's version.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from homelab_sim import catalogue
from tests.support.tools import needs, require
from tests.up.simlab import copy_example, upped

#: the newest patch of each minor the simulated pkgs.k8s.io carries
VERSIONS = [f"{m}.{catalogue.KUBERNETES[m].last_patch}" for m in ("1.31", "1.34", "1.37")]


def kubectl_nodes(kubeconfig: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [require("kubectl"), "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    items: list[dict[str, Any]] = json.loads(done.stdout)["items"]
    return items


def at_version(tmp_path: Path, version: str) -> Path:
    spec = copy_example("home-lab.yaml", tmp_path)
    text = spec.read_text(encoding="utf-8")
    assert "version: 1.29.15" in text
    spec.write_text(text.replace("version: 1.29.15", f"version: {version}"), encoding="utf-8")
    return spec


@needs("kubectl")
@pytest.mark.parametrize("version", VERSIONS)
def test_a_fresh_reference_lab_comes_up_at_the_minor(tmp_path: Path, version: str) -> None:
    with upped(at_version(tmp_path, version)) as lab:
        assert lab.outcome.health.ok, lab.outcome.health.problems()
        nodes = kubectl_nodes(lab.outcome.kubeconfig)
        with lab.api() as api:
            server = api.version()
    assert sorted(n["metadata"]["name"] for n in nodes) == [
        "k8s-master-1",
        "k8s-worker-2",
        "k8s-worker-3",
    ]
    for node in nodes:
        conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conditions.get("Ready") == "True", node["metadata"]["name"]
        assert node["status"]["nodeInfo"]["kubeletVersion"] == f"v{version}"
        # Ubuntu's containerd 1.7 up to 1.33, Docker's containerd.io 2.x from 1.34
        runtime = "containerd://1.7." if version.startswith("1.31.") else "containerd://2."
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith(runtime)
    assert server["gitVersion"] == f"v{version}"
