"""The lab's DNS names (OPNsense's Unbound) beyond the firewall: the API server's certificate
names api.<domain>, `homelab kubeconfig --server-name` uses it (and refuses a name the
certificate lacks), and `up`'s summary prints the names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from homelab.core.render.kubeadm import cert_sans
from homelab.core.spec.opnsense import dns_names
from tests.network.support import EXAMPLE, spec_from
from tests.support.cli import run_main
from tests.support.paths import EXAMPLES


def test_the_certificate_names_the_endpoint_by_dns_only_with_opnsense() -> None:
    spec = spec_from(EXAMPLE.read_text())
    assert dns_names(spec) == {
        "api": "api.home-lab.home.arpa",
        **{vm: f"{vm}.home-lab.home.arpa" for vm in spec.vms},
    }
    assert cert_sans(spec) == ["10.0.20.10", "api.home-lab.home.arpa", "k8s-master-1"]
    plain = spec_from((EXAMPLES / "home-lab.yaml").read_text())
    assert dns_names(plain) == {}
    assert cert_sans(plain) == ["10.0.20.10", "k8s-master-1"]


def test_kubeconfig_by_server_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(EXAMPLE.read_text())
    code, out, _ = run_main(
        monkeypatch,
        capsys,
        "kubeconfig",
        str(spec),
        "--server-name",
        "api.home-lab.home.arpa",
        "--stdout",
    )
    assert code == 0
    cluster = yaml.safe_load(out)["clusters"][0]["cluster"]
    assert cluster["server"] == "https://api.home-lab.home.arpa:6443"
    code, _, err = run_main(
        monkeypatch, capsys, "kubeconfig", str(spec), "--server-name", "nas.lan"
    )
    assert code != 0
    assert "does not name 'nas.lan'" in err and "api.home-lab.home.arpa" in err


def test_up_prints_the_labs_dns_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text(EXAMPLE.read_text())
    try:
        code, out, err = run_main(monkeypatch, capsys, "up", str(spec), "--sim", "--yes")
        assert code == 0, err
        assert "API by name:       https://api.home-lab.home.arpa:6443" in out
        assert "k8s-worker-2.home-lab.home.arpa" in out
    finally:
        assert run_main(monkeypatch, capsys, "sim", "stop", str(spec))[0] == 0
