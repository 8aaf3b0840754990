"""Rendering at every supported minor (issue 10): the kubeadm config API, containerd, Calico.

Each minor's seeds are checked against the schemas of what reads them (cloud-init, and the
kubeadm/kubelet/kube-proxy documents against the schema of their own ``apiVersion``): v1beta3
up to 1.30, v1beta4 from 1.31 (the only API kubeadm 1.37 reads). The two kubeadm schemas tell
the APIs apart, so a map-shaped ``extraArgs`` under v1beta4 (or a list under v1beta3) fails.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
import yaml

from homelab.core.render.artifacts import Artifacts
from homelab.core.render.lab import render_lab
from homelab.core.render.versions import VERSIONS
from homelab.core.spec.models import SUPPORTED_K8S_MINORS, LabSpec
from tests.render.schemas import assert_seeds_valid, component_validators
from tests.render.support import (
    GOLDEN,
    cloud_config,
    kubeadm_docs,
    load_example,
    pki_for,
    rendered_files,
)
from tests.support.golden import updating

V1BETA3, V1BETA4 = "kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"


def at_version(lab: str, version: str) -> LabSpec:
    data = load_example(lab).model_dump(mode="json")
    data["kubernetes"]["version"] = version
    return LabSpec.model_validate(data)


@functools.cache
def render(lab: str, version: str) -> Artifacts:
    return render_lab(at_version(lab, version), pki_for(lab))


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


def runcmd_text(artifacts: Artifacts, vm: str) -> str:
    return yaml.safe_dump(cloud_config(artifacts.seeds[vm].user_data)["runcmd"])


def installed(artifacts: Artifacts, vm: str) -> list[str]:
    """The packages of the runcmd ``apt-get install`` that installs the kubelet."""
    for cmd in cloud_config(artifacts.seeds[vm].user_data)["runcmd"]:
        if (
            isinstance(cmd, list)
            and "install" in cmd
            and any(a.startswith("kubelet=") for a in cmd)
        ):
            return cmd[cmd.index("-y") + 1 :]
    raise AssertionError("no apt-get install of the kubelet")


def written(artifacts: Artifacts, vm: str, path: str) -> str | None:
    files = cloud_config(artifacts.seeds[vm].user_data)["write_files"]
    return next((f["content"] for f in files if f["path"] == path), None)


def test_every_minor_from_1_29_to_1_37_is_supported() -> None:
    assert tuple(f"1.{m}" for m in range(29, 38)) == SUPPORTED_K8S_MINORS


@pytest.mark.parametrize("minor", SUPPORTED_K8S_MINORS)
@pytest.mark.parametrize("lab", ["monitored-lab", "ha-lab"])
def test_seeds_of_every_minor_match_the_schemas_of_their_config_api(lab: str, minor: str) -> None:
    artifacts = render(lab, f"{minor}.0")
    assert_seeds_valid(artifacts)
    api = V1BETA3 if minor in ("1.29", "1.30") else V1BETA4
    for vm in artifacts.seeds:
        kubeadm = [d for d in kubeadm_docs(artifacts, vm) if d["apiVersion"].startswith("kubeadm")]
        assert kubeadm and {d["apiVersion"] for d in kubeadm} == {api}, vm


def test_v1beta4_turns_every_extra_args_map_into_a_name_value_list() -> None:
    old = by_kind(kubeadm_docs(render("monitored-lab", "1.30.14"), "k8s-master-1"))
    new = by_kind(kubeadm_docs(render("monitored-lab", "1.31.14"), "k8s-master-1"))
    reg = new["InitConfiguration"]["nodeRegistration"]
    assert old["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"] == {
        "node-ip": "10.0.20.10"
    }
    assert reg["kubeletExtraArgs"] == [{"name": "node-ip", "value": "10.0.20.10"}]
    cluster = new["ClusterConfiguration"]
    assert cluster["scheduler"]["extraArgs"] == [{"name": "bind-address", "value": "0.0.0.0"}]
    assert cluster["etcd"]["local"]["extraArgs"] == [
        {"name": "listen-metrics-urls", "value": "http://0.0.0.0:2381"}
    ]
    assert old["ClusterConfiguration"]["scheduler"]["extraArgs"] == {"bind-address": "0.0.0.0"}


@pytest.mark.parametrize(("version", "wrong"), [("1.30.14", V1BETA4), ("1.31.14", V1BETA3)])
def test_the_schemas_refuse_a_document_in_the_other_api(version: str, wrong: str) -> None:
    docs = by_kind(kubeadm_docs(render("monitored-lab", version), "k8s-master-1"))
    for kind in ("InitConfiguration", "ClusterConfiguration"):
        doc = {**docs[kind], "apiVersion": wrong}
        errors = list(component_validators()[wrong].iter_errors(doc))
        assert errors, f"{kind} rendered for {version} passed as {wrong}"


@pytest.mark.parametrize("minor", SUPPORTED_K8S_MINORS)
def test_containerd_comes_from_where_the_minor_needs_it(minor: str) -> None:
    artifacts = render("home-lab", f"{minor}.0")
    runcmd = runcmd_text(artifacts, "k8s-worker-2")
    config = written(artifacts, "k8s-worker-2", "/etc/containerd/config.toml") or ""
    docker = written(artifacts, "k8s-worker-2", "/etc/apt/sources.list.d/docker.list")
    pause = VERSIONS[minor].pause_image
    if minor in ("1.29", "1.30", "1.31", "1.32", "1.33"):  # Ubuntu's containerd 1.7
        assert "containerd" in installed(artifacts, "k8s-worker-2")
        assert "containerd.io" not in runcmd
        assert docker is None
        assert config.startswith("version = 2\n") and f'sandbox_image = "{pause}"' in config
    else:  # Docker's containerd.io 2.x (the 1.36+ kubelet needs 2.0+)
        packages = installed(artifacts, "k8s-worker-2")
        assert "containerd.io" in packages and "containerd" not in packages
        assert docker == (
            "deb [signed-by=/etc/apt/keyrings/docker.gpg] "
            "https://download.docker.com/linux/ubuntu noble stable\n"
        )
        assert "https://download.docker.com/linux/ubuntu/gpg" in runcmd
        assert config.startswith("version = 3\n")
        assert f'[plugins."io.containerd.cri.v1.images".pinned_images]\n  sandbox = "{pause}"' in (
            config
        )
        options = '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]'
        assert f"{options}\n  SystemdCgroup = true" in config
    assert runcmd.index("docker.gpg" if docker else "kubernetes-apt-keyring") < runcmd.index(
        "update"
    )


@pytest.mark.parametrize("minor", SUPPORTED_K8S_MINORS)
def test_calico_3_30_and_later_apply_their_operator_crds_first(minor: str) -> None:
    artifacts = render("home-lab", f"{minor}.0")
    index = yaml.safe_load(artifacts.cluster["addons.yaml"])
    manifests = [e["manifest"] for e in index["addons"] if e["component"] == "calico"]
    tag = VERSIONS[minor].calico
    base = f"https://raw.githubusercontent.com/projectcalico/calico/{tag}/manifests/"
    separate = tuple(int(x) for x in tag[1:].split(".")[:2]) >= (3, 30)
    expected = [base + "operator-crds.yaml"] if separate else []
    assert manifests == [*expected, base + "tigera-operator.yaml"]


@pytest.mark.parametrize("version", ["1.31.14", "1.37.0"])
def test_the_ha_lab_at_a_v1beta4_minor_matches_its_golden(version: str) -> None:
    """Byte for byte, like the 1.29 goldens (HOMELAB_UPDATE_GOLDEN=1 rewrites them)."""
    files = rendered_files(render("ha-lab", version))
    root = GOLDEN / f"ha-lab-{version}"
    if updating():
        for stale in [p for p in root.rglob("*") if p.is_file()]:
            stale.unlink()
        for rel, content in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(content)
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk == set(files), "golden file set differs; HOMELAB_UPDATE_GOLDEN=1 to rewrite"
    for rel, content in sorted(files.items()):
        assert (root / rel).read_bytes() == content, f"{version}/{rel} differs from its golden"
