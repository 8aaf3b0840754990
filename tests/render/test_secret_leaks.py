"""Secrets appear only where a node needs them, and never in a repr or str."""

from __future__ import annotations

from homelab.core.render.artifacts import Artifacts
from homelab.core.spec.models import LabSpec
from tests.render.support import pki_for


def key_bodies(lab: str) -> list[str]:
    """A distinctive line from the middle of each private key (survives any re-wrapping)."""
    s = pki_for(lab)
    keys = [s.ca_key, s.etcd_ca_key, s.front_proxy_ca_key, s.sa_key]
    return [k.reveal().splitlines()[5] for k in keys]


def test_private_keys_only_in_control_plane_user_data(
    rendered: dict[str, Artifacts], specs: dict[str, LabSpec]
) -> None:
    for lab, artifacts in rendered.items():
        secrets = key_bodies(lab)
        for vm, seed in artifacts.seeds.items():
            for name, content in seed.files().items():
                text = content.decode()
                allowed = name == "user-data" and specs[lab].vms[vm].role == "control-plane"
                for secret in secrets:
                    assert (secret in text) == allowed, f"{lab}/{vm}/{name}"
        for name, content in artifacts.cluster.items():
            assert not any(s in content.decode() for s in secrets), f"cluster/{name}"


def test_bootstrap_token_only_in_user_data(rendered: dict[str, Artifacts]) -> None:
    for lab, artifacts in rendered.items():
        token = pki_for(lab).bootstrap_token_secret.reveal()
        for vm, seed in artifacts.seeds.items():
            assert token in seed.user_data.decode(), vm  # every node joins or inits with it
            assert token not in seed.meta_data.decode() + seed.network_config.decode()
        for content in artifacts.cluster.values():
            assert token not in content.decode()


def test_reprs_show_no_secret(rendered: dict[str, Artifacts]) -> None:
    secrets = pki_for("ha-lab")
    shown = (
        repr(secrets) + str(secrets) + repr(rendered["ha-lab"]) + repr(secrets.bootstrap_token())
    )
    assert secrets.bootstrap_token_secret.reveal() not in shown
    for body in key_bodies("ha-lab"):
        assert body not in shown
    assert "***" in shown and secrets.bootstrap_token_id in shown


def test_the_twin_holds_no_secret_and_keeps_the_instance_and_network(
    rendered: dict[str, Artifacts],
) -> None:
    for lab, artifacts in rendered.items():
        secrets = [*key_bodies(lab), pki_for(lab).bootstrap_token_secret.reveal()]
        for vm, seed in artifacts.seeds.items():
            twin = seed.clean
            assert twin is not None, vm
            assert (twin.meta_data, twin.network_config) == (seed.meta_data, seed.network_config)
            for name, content in twin.files().items():
                assert not [s for s in secrets if s in content.decode()], f"{lab}/{vm}/{name}"
            text = twin.user_data.decode()
            assert text.startswith("#cloud-config\n") and f"hostname: {vm}" in text
            assert "kubeadm join" not in text and "kubeadm init" not in text
            assert pki_for(lab).ca_cert.splitlines()[5] in text  # the public CA stays
