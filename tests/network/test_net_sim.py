"""End to end against the simulated OPNsense (26.1 and 26.7; Dnsmasq and Kea): the reference
lab's firewall applied, a second apply with zero writes, foreign objects untouched, a plan
that would lock the tool out refused, the drop-client fault rolled back (26.1 by OPNsense's
own timer, 26.7 by restoring the downloaded configuration), refusals at their spec line."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from homelab.core.network.verdicts import Packet, alias_table, evaluate
from homelab.core.spec.models import LabSpec
from homelab.engine.opnsense.errors import (
    FirewallRolledBack,
    FirewallUnreachable,
    LockoutRefused,
    UnsupportedFirewall,
)
from homelab.engine.opnsense.observe import read_inventory
from homelab.errors import SpecError
from homelab.verbs.net import Firewall, net_apply, net_plan, net_status, net_test, resolve_place
from homelab.verbs.provision import PlanRefused
from homelab_sim.opnsense import OpnsenseSimulator
from tests.network.support import MakeSim, spec_from, writes

FIRMWARES = [("26.1.2", "dnsmasq"), ("26.1.2", "kea"), ("26.7", "dnsmasq"), ("26.7", "kea")]
MODULE_APPLIES = {
    "interfaces/vlan_settings": 1,
    "firewall/alias": 1,
    "firewall/filter": 1,
    "unbound/service": 1,
}


def _spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("version", "dhcp"), FIRMWARES)
def test_the_reference_lab_applies_once_then_makes_no_write(
    lab: LabSpec, make_sim: MakeSim, tmp_path: Path, version: str, dhcp: str
) -> None:
    sim, firewall = make_sim(lab, version, dhcp)
    nas = sim.seed("alias", {"name": "my_nas", "type": "host", "content": "10.0.10.50"})
    admin = next(iter(sim.configured("rule")))
    before = {"rule": sim.configured("rule")[admin], "alias": sim.configured("alias")[nas]}
    outcome = net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert outcome.report is not None
    assert sum(outcome.report.writes.values()) == 24
    service = "kea/service" if dhcp == "kea" else "dnsmasq/service"
    assert dict(sim.log.applies) == {**MODULE_APPLIES, service: 1}
    assert outcome.report.guard.startswith("savepoint" if version == "26.1.2" else "backup")
    assert not sim.rollbacks  # 26.1: cancelRollback came after the probe
    # foreign objects untouched, the lab's running
    assert sim.configured("rule")[admin] == before["rule"]
    assert sim.configured("alias")[nas] == before["alias"]
    assert len(sim.running("rule")) == 1 + 11
    reservations = sim.running("kea" if dhcp == "kea" else "dnsmasq")
    assert len(reservations) == 3
    # the second apply writes nothing and applies nothing
    sim.log.clear()
    again = net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert again.report is None and again.plan.is_noop
    assert writes(sim) == [] and not sim.log.applies
    assert net_status(lab, firewall).in_sync


@pytest.mark.parametrize(
    ("source", "to", "port", "protocol", "allowed", "rule"),
    [
        ("10.0.10.5", "api", 6443, "tcp", True, "'mgmt reaches the Kubernetes API'"),
        ("10.0.10.7", "k8s-worker-2", 22, "tcp", True, "'mgmt reaches SSH on the lab VMs'"),
        ("10.0.10.7", "k8s-worker-2", 31000, "tcp", True, "'mgmt reaches NodePorts'"),
        ("10.0.10.7", "10.0.20.201", 443, "tcp", True, "'mgmt reaches the LoadBalancer pool'"),
        ("10.0.10.7", "k8s-worker-2", 5432, "tcp", False, "default deny"),
        ("k8s-worker-2", "10.0.10.5", 22, "tcp", False, "'apps may not reach mgmt'"),
        ("k8s-worker-2", "10.0.20.1", 53, "udp", True, "'apps resolves names on the firewall'"),
        ("k8s-worker-2", "10.0.20.1", 22, "tcp", False, "'apps may not reach the firewall'"),
        ("k8s-worker-2", "1.1.1.1", 443, "tcp", True, "'apps reaches the internet'"),
    ],
)  # fmt: skip
def test_net_test_agrees_with_the_firewall(
    lab: LabSpec,
    make_sim: MakeSim,
    tmp_path: Path,
    source: str,
    to: str,
    port: int,
    protocol: str,
    allowed: bool,
    rule: str,
) -> None:
    sim, firewall = make_sim(lab)
    net_apply(lab, tmp_path / "lab.yaml", firewall)
    packet, verdict = net_test(lab, firewall, source, to, port, protocol)
    assert (verdict.allowed, verdict.rule) == (allowed, rule)
    witness = sim.evaluate(
        packet.interface, str(packet.source), str(packet.destination), protocol, port
    )
    assert witness.allowed == allowed


def test_net_test_names_what_it_cannot_place(lab: LabSpec, make_sim: MakeSim) -> None:
    _, firewall = make_sim(lab)
    with pytest.raises(SpecError, match="'nas' is no VM of the lab"):
        net_test(lab, firewall, "nas", "api", 22)
    with pytest.raises(SpecError, match=r"192\.168\.9\.9 is in none of the networks"):
        net_test(lab, firewall, "192.168.9.9", "api", 22)


def test_drift_is_shown_and_repaired_with_one_write(
    lab: LabSpec, make_sim: MakeSim, tmp_path: Path
) -> None:
    sim, firewall = make_sim(lab)
    net_apply(lab, tmp_path / "lab.yaml", firewall)
    vms = next(u for u, a in sim.configured("alias").items() if a["name"] == "lab_home_lab_vms")
    firewall.client.save(f"firewall/alias/setItem/{vms}", "alias", {"content": "10.0.20.10"})
    status = net_status(lab, firewall)
    assert not status.in_sync
    assert [(c.op, c.label) for c in status.plan.changes] == [("update", "lab_home_lab_vms")]
    sim.log.clear()
    outcome = net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert outcome.report is not None and outcome.report.writes == {"alias": 1}
    assert dict(sim.log.applies) == {"firewall/alias": 1, "firewall/filter": 1}


def _only_the_lab_lets_the_tool_in(
    lab: LabSpec, firewall: Firewall, sim: OpnsenseSimulator
) -> None:
    """The lab applied, then the admin's own rule removed: the lab's rule is the tool's path."""
    net_apply(lab, Path("lab.yaml"), firewall)
    admin = next(
        u for u, r in sim.configured("rule").items() if r["description"].startswith("admin")
    )
    firewall.client.post(f"firewall/filter/delRule/{admin}")
    firewall.client.post("firewall/filter/apply")
    assert sim.client_can_reach()


def _without_defaults(text: str) -> str:
    return text.replace("default_rules: true ", "default_rules: false", 1)


@pytest.mark.parametrize("version", ["26.1.2", "26.7"])
def test_a_plan_that_blocks_the_tool_is_refused_before_any_write(
    lab: LabSpec, example_text: str, make_sim: MakeSim, tmp_path: Path, version: str
) -> None:
    sim, firewall = make_sim(lab, version)
    _only_the_lab_lets_the_tool_in(lab, firewall, sim)
    spec = spec_from(_without_defaults(example_text))
    sim.log.clear()
    with pytest.raises(LockoutRefused, match=r"10\.0\.10\.5 to 10\.0\.10\.1:443.*default deny"):
        net_apply(spec, tmp_path / "lab.yaml", firewall)
    assert writes(sim) == []


def test_a_blocking_rule_behind_the_admins_own_rule_is_no_lockout(
    example_text: str, make_sim: MakeSim, tmp_path: Path
) -> None:
    spec = spec_from(_blocking(example_text))
    sim, firewall = make_sim(spec)
    outcome = net_apply(spec, tmp_path / "lab.yaml", firewall)
    assert outcome.plan.lockout is not None
    assert outcome.plan.lockout.rule == "'admin: GUI from my workstation' (not the lab's)"
    assert sim.client_can_reach()


def _blocking(text: str) -> str:
    return text.replace(
        "    - {description: admin reaches Grafana",
        "    - {description: no GUI, from: mgmt, to: firewall, ports: [443], action: block}\n"
        "    - {description: admin reaches Grafana",
        1,
    )


def test_26_1_rolls_back_by_itself_when_the_client_is_dropped(
    lab: LabSpec, make_sim: MakeSim, tmp_path: Path
) -> None:
    sim, firewall = make_sim(lab, "26.1.2")
    rules_before = sim.running("rule")
    sim.drop_after_apply(requests=3)  # the probe's three tries
    with pytest.raises(FirewallRolledBack, match="rolled the rules back to savepoint"):
        net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert sim.running("rule") == rules_before
    assert not any("cancelRollback" in entry.path for entry in sim.log.entries)


def test_a_forced_lockout_on_26_1_is_undone_by_the_rollback_timer(
    lab: LabSpec, example_text: str, make_sim: MakeSim, tmp_path: Path
) -> None:
    sim, firewall = make_sim(lab, "26.1.2")
    _only_the_lab_lets_the_tool_in(lab, firewall, sim)
    rules_before = sim.running("rule")
    spec = spec_from(_without_defaults(example_text))
    with pytest.raises(FirewallRolledBack, match="savepoint"):
        net_apply(spec, tmp_path / "lab.yaml", firewall, force=True)
    assert sim.running("rule") == rules_before
    assert sim.client_can_reach()


def test_a_forced_lockout_on_26_7_leaves_the_old_configuration_for_the_console(
    lab: LabSpec, example_text: str, make_sim: MakeSim, tmp_path: Path
) -> None:
    """26.7 has no rollback timer: rules that shut the tool out stay until a console restore."""
    sim, firewall = make_sim(lab, "26.7")
    _only_the_lab_lets_the_tool_in(lab, firewall, sim)
    spec = spec_from(_without_defaults(example_text))
    with pytest.raises(FirewallUnreachable) as caught:
        net_apply(spec, tmp_path / "lab.yaml", firewall, force=True)
    assert not sim.client_can_reach()
    saved = Path(caught.value.message.rsplit("saved in ", 1)[1])
    assert b"[homelab home-lab] homelab reaches the OPNsense API" in saved.read_bytes()


def test_26_7_restores_the_downloaded_configuration(
    lab: LabSpec, make_sim: MakeSim, tmp_path: Path
) -> None:
    sim, firewall = make_sim(lab, "26.7")
    rules_before, aliases_before = sim.configured("rule"), sim.configured("alias")
    sim.drop_after_apply(requests=3)
    with pytest.raises(FirewallRolledBack, match="restored the configuration it downloaded"):
        net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert sim.configured("rule") == rules_before
    assert sim.running("rule") == rules_before
    assert sim.configured("alias") == aliases_before
    assert any("revertBackup" in entry.path for entry in sim.log.entries)
    assert any("core/backup/download/this" in entry.path for entry in sim.log.entries)


def test_26_7_keeps_the_configuration_for_the_console_when_it_cannot_restore(
    lab: LabSpec, make_sim: MakeSim, tmp_path: Path
) -> None:
    sim, firewall = make_sim(lab, "26.7")
    sim.drop_after_apply(seconds=3600)
    with pytest.raises(FirewallUnreachable, match="saved in") as caught:
        net_apply(lab, tmp_path / "lab.yaml", firewall)
    saved = Path(caught.value.message.rsplit("saved in ", 1)[1])
    assert saved.parent == firewall.recovery_dir
    assert saved.read_bytes().lstrip().startswith(b"<?xml")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert caught.value.hint is not None and "Console recovery" in caught.value.hint


def test_an_object_opnsense_refuses_is_reported_at_its_spec_line(
    example_text: str, make_sim: MakeSim, tmp_path: Path
) -> None:
    text = example_text.replace(
        "  default_rules: true", "    ssh: {type: port, content: [22]}\n  default_rules: true", 1
    )
    path = _spec_file(tmp_path, text)
    spec = spec_from(text)
    _, firewall = make_sim(spec)
    with pytest.raises(SpecError) as caught:
        net_apply(spec, path, firewall)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "    ssh: {type" in row)
    message = caught.value.message
    assert message.startswith(f"{path}:{line}:")
    assert "opnsense.aliases.ssh: OPNsense refused alias ssh" in message
    assert "Reserved protocol or service names may not be used" in message


def test_isc_dhcp_is_refused_with_the_reason(
    lab: LabSpec, make_sim: MakeSim, tmp_path: Path
) -> None:
    sim, firewall = make_sim(lab, "26.1.2", "isc")
    with pytest.raises(PlanRefused, match="ISC DHCP has no API for static mappings"):
        net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert writes(sim) == []
    _, plan = net_plan(lab, firewall)
    assert plan.dhcp == "isc"


def test_an_old_opnsense_is_refused(lab: LabSpec, make_sim: MakeSim, tmp_path: Path) -> None:
    sim, firewall = make_sim(lab, "25.7.4")
    with pytest.raises(UnsupportedFirewall, match=r"OPNsense 25\.7\.4 is not supported"):
        net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert writes(sim) == []


def test_a_no_at_the_question_writes_nothing(
    lab: LabSpec, make_sim: MakeSim, tmp_path: Path
) -> None:
    from homelab.verbs.provision import Aborted

    sim, firewall = make_sim(lab)
    asked: list[object] = []

    def refuse(plan: object) -> bool:
        asked.append(plan)
        return False

    with pytest.raises(Aborted, match="nothing applied"):
        net_apply(lab, tmp_path / "lab.yaml", firewall, confirm=refuse)
    assert len(asked) == 1 and writes(sim) == []


@pytest.mark.parametrize("version", ["26.1.2", "26.7"])
def test_the_tools_verdicts_agree_with_the_firewall_everywhere(
    lab: LabSpec, make_sim: MakeSim, tmp_path: Path, version: str
) -> None:
    """The witness: for every pair of lab places, port and protocol, the simulated firewall's
    own evaluation of its running rules gives the verdict homelab computes."""
    sim, firewall = make_sim(lab, version)
    net_apply(lab, tmp_path / "lab.yaml", firewall)
    places = ["10.0.10.5", "10.0.10.9", "10.0.10.1", "10.0.20.1", "10.0.20.230", "8.8.8.8",
              *lab.vms]  # fmt: skip
    sources = ["10.0.10.5", "10.0.10.9", *lab.vms]
    inventory = read_inventory(firewall.client)
    rules, aliases = inventory.of("rule"), alias_table(inventory.of("alias"))
    compared = 0
    for source in sources:
        src = resolve_place(lab, source)
        interface = "opt1" if str(src).startswith("10.0.10.") else "opt2"
        for to in places:
            dst = resolve_place(lab, to)
            for port in (22, 53, 123, 443, 3000, 6443, 31000):
                for protocol in ("tcp", "udp"):
                    verdict = evaluate(rules, aliases, Packet(interface, src, dst, port, protocol))
                    witness = sim.evaluate(interface, str(src), str(dst), protocol, port)
                    assert verdict.allowed == witness.allowed, (source, to, port, verdict, witness)
                    compared += 1
    assert compared == 5 * 9 * 7 * 2


def test_a_lab_rule_left_on_an_interface_no_longer_routed_is_deleted(
    lab: LabSpec, make_sim: MakeSim, tmp_path: Path
) -> None:
    """searchRule without an interface lists every rule, so the plan sees the lab's rules
    wherever they are (a network the spec stopped routing left its rules on its interface)."""
    sim, firewall = make_sim(lab)
    net_apply(lab, tmp_path / "lab.yaml", firewall)
    stale = sim.seed(
        "rule",
        {
            "interface": "lan",
            "action": "pass",
            "protocol": "TCP",
            "destination_port": "8080",
            "description": "[homelab home-lab] from a network no longer routed",
        },
    )
    plan = net_plan(lab, firewall)[1]
    assert [(c.op, c.uuid) for c in plan.changes] == [("delete", stale)]
    net_apply(lab, tmp_path / "lab.yaml", firewall)
    assert stale not in sim.configured("rule")
