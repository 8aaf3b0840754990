"""`homelab net plan | apply | status | test SPEC --sim`: in-process, over loopback HTTPS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homelab.simulated.opnsense import ENV_DHCP, ENV_VERSION, STATE_FILE
from tests.network.support import EXAMPLE
from tests.support.cli import run_main
from tests.support.paths import EXAMPLES

Run = tuple[int, str, str]


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(EXAMPLE.read_text())
    monkeypatch.delenv(ENV_VERSION, raising=False)
    monkeypatch.delenv(ENV_DHCP, raising=False)
    return path


def net(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    return run_main(monkeypatch, capsys, "net", *args)


def test_plan_apply_then_nothing_to_do(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = net(monkeypatch, capsys, "plan", str(spec), "--sim", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["opnsense_version"] == "26.7" and plan["dhcp_server"] == "dnsmasq"
    assert len(plan["changes"]) == 24 and plan["tool_path"]["allowed"]
    code, out, _ = net(monkeypatch, capsys, "apply", str(spec), "--sim", "--yes")
    assert code == 0
    assert "+ rule apps may not reach mgmt" in out
    assert "Applied 24 write(s); reconfigured vlan, alias, rule, host, dhcp" in out
    code, out, _ = net(monkeypatch, capsys, "plan", str(spec), "--sim")
    assert code == 0 and out.strip().endswith("No changes. The firewall matches the spec.")
    # the simulated firewall's routed interfaces were assigned by hand: left as they are
    assert "* interface opt1 (mgmt) was assigned by hand with 10.0.10.1/24" in out
    code, out, _ = net(monkeypatch, capsys, "apply", str(spec), "--sim", "--json")
    assert code == 0 and json.loads(out)["writes"] == {}
    code, out, _ = net(monkeypatch, capsys, "status", str(spec), "--sim")
    assert code == 0 and "OPNsense 26.7, DHCP: dnsmasq: in sync" in out
    assert "homelab's path to the API: allowed by 'admin: GUI from my workstation'" in out
    code, out, _ = net(monkeypatch, capsys, "status", str(spec), "--sim", "--json")
    assert json.loads(out)["in_sync"] is True


def test_net_test_answers_allowed_or_blocked(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert net(monkeypatch, capsys, "apply", str(spec), "--sim", "--yes")[0] == 0
    code, out, _ = net(
        monkeypatch, capsys, "test", str(spec), "k8s-worker-2", "10.0.10.5", "22", "--sim"
    )
    assert code == 2
    assert (
        out.strip()
        == "10.0.20.21 -> 10.0.10.5:22/tcp on opt2: blocked by 'apps may not reach mgmt'"
    )
    code, out, _ = net(
        monkeypatch, capsys, "test", str(spec), "10.0.10.5", "api", "6443", "--sim", "--json"
    )
    assert code == 0
    assert json.loads(out) == {
        "interface": "opt1", "from": "10.0.10.5", "to": "10.0.20.10", "port": 6443,
        "protocol": "tcp", "allowed": True, "rule": "'mgmt reaches the Kubernetes API'",
    }  # fmt: skip
    code, _, err = net(
        monkeypatch, capsys, "test", str(spec), "a", "b", "22", "-p", "sctp", "--sim"
    )
    assert code == 1 and "--protocol sctp: tcp or udp" in err


def test_status_shows_drift(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = net(monkeypatch, capsys, "status", str(spec), "--sim")
    assert code == 0 and "drift (24 to change)" in out and "  + VLAN mgmt" in out


def test_the_simulated_firewall_keeps_its_firmware_and_state(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_VERSION, "26.1.2")
    monkeypatch.setenv(ENV_DHCP, "kea")
    assert net(monkeypatch, capsys, "apply", str(spec), "--sim", "--yes")[0] == 0
    monkeypatch.delenv(ENV_VERSION)
    code, out, _ = net(monkeypatch, capsys, "status", str(spec), "--sim")
    assert "OPNsense 26.1.2, DHCP: kea: in sync" in out
    state = spec.parent / ".homelab" / "home-lab" / "sim" / STATE_FILE
    assert state.exists()
    state.write_text("{not json")
    code, _, err = net(monkeypatch, capsys, "plan", str(spec), "--sim")
    assert code == 1 and "cannot read the simulated firewall" in err


def test_a_plan_with_errors_exits_1(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_DHCP, "isc")
    code, out, _ = net(monkeypatch, capsys, "plan", str(spec), "--sim")
    assert code == 1 and "! opnsense.networks: apps ask for DHCP reservations" in out
    code, _, err = net(monkeypatch, capsys, "apply", str(spec), "--sim", "--yes")
    assert code == 1 and "ISC DHCP has no API for static mappings" in err


def test_a_spec_without_the_section_or_the_secret(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = net(monkeypatch, capsys, "plan", str(EXAMPLES / "home-lab.yaml"), "--sim")
    assert code == 1 and "the spec has no opnsense: section" in err
    monkeypatch.delenv("HOMELAB_OPNSENSE_SECRET", raising=False)
    code, _, err = net(monkeypatch, capsys, "plan", str(spec))
    assert code == 1 and "no OPNsense API secret: set HOMELAB_OPNSENSE_SECRET" in err


def test_apply_asks_before_it_writes(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = net(monkeypatch, capsys, "apply", str(spec), "--sim")
    assert code == 1 and "needs confirmation" in err
    code, out, _ = net(monkeypatch, capsys, "plan", str(spec), "--sim", "--json")
    assert len(json.loads(out)["changes"]) == 24  # nothing was written


def test_lab_status_shows_the_firewall_side(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`homelab status` of a lab with an opnsense: section: drift before the firewall is
    applied, in sync after (text and --json), beside the VMs."""
    code, out, _ = run_main(monkeypatch, capsys, "status", str(spec), "--sim", "--no-health")
    assert code == 0
    assert "firewall: OPNsense 26.7, DHCP dnsmasq: drift (24 to change;" in out
    assert net(monkeypatch, capsys, "apply", str(spec), "--sim", "--yes")[0] == 0
    code, out, _ = run_main(monkeypatch, capsys, "status", str(spec), "--sim", "--no-health")
    assert code == 0 and "firewall: OPNsense 26.7, DHCP dnsmasq: in sync" in out
    code, out, _ = run_main(
        monkeypatch, capsys, "status", str(spec), "--sim", "--no-health", "--json"
    )
    firewall = json.loads(out)["firewall"]
    assert firewall["in_sync"] is True and firewall["drift"] == []
    assert run_main(monkeypatch, capsys, "sim", "stop", str(spec))[0] == 0
