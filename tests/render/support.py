"""Helpers for the render tests: the example labs and the committed TEST-ONLY PKI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from homelab.core.cluster import ClusterSecrets
from homelab.core.render.artifacts import Artifacts
from homelab.core.secret import Secret
from homelab.core.spec.models import LabSpec
from tests.support.paths import EXAMPLES

FIXTURES = Path(__file__).parent / "fixtures"
TEST_PKI = FIXTURES / "test-only-pki"
LABS = ("home-lab", "ha-lab")


def load_example(lab: str) -> LabSpec:
    data = yaml.safe_load((EXAMPLES / f"{lab}.yaml").read_text(encoding="utf-8"))
    return LabSpec.model_validate(data)


def pki_for(lab: str) -> ClusterSecrets:
    """The committed TEST-ONLY PKI, labelled for ``lab``."""

    def read(name: str) -> str:
        return (TEST_PKI / name).read_text(encoding="ascii")

    token_id, token_secret = read("bootstrap-token").strip().split(".")
    return ClusterSecrets(
        lab=lab,
        ca_cert=read("ca.crt"),
        ca_key=Secret(read("ca.key")),
        etcd_ca_cert=read("etcd-ca.crt"),
        etcd_ca_key=Secret(read("etcd-ca.key")),
        front_proxy_ca_cert=read("front-proxy-ca.crt"),
        front_proxy_ca_key=Secret(read("front-proxy-ca.key")),
        sa_pub=read("sa.pub"),
        sa_key=Secret(read("sa.key")),
        bootstrap_token_id=token_id,
        bootstrap_token_secret=Secret(token_secret),
    )


def cloud_config(user_data: bytes) -> Any:
    text = user_data.decode("utf-8")
    header, _, body = text.partition("\n")
    assert header == "#cloud-config"
    return yaml.safe_load(body)


def kubeadm_docs(artifacts: Artifacts, vm: str) -> list[dict[str, Any]]:
    files = cloud_config(artifacts.seeds[vm].user_data)["write_files"]
    (config,) = [f["content"] for f in files if f["path"] == "/etc/homelab/kubeadm.yaml"]
    return list(yaml.safe_load_all(config))


GOLDEN = Path(__file__).parent / "golden"


def rendered_files(artifacts: Artifacts) -> dict[str, bytes]:
    files = {f"cluster/{name}": content for name, content in artifacts.cluster.items()}
    for vm, seed in artifacts.seeds.items():
        files.update({f"{vm}/{name}": content for name, content in seed.files().items()})
    return files
