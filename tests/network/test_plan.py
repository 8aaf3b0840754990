"""The firewall plan, pure: desired objects, ownership, diff, conflicts, the lockout proof."""

from __future__ import annotations

import json

import pytest

from homelab.core.network.desired import alias_prefix, own_aliases, rule_objects
from homelab.core.network.objects import Inventory, Observed, mark, owner_of
from homelab.core.network.plan import plan_network, rollback_mode
from homelab.core.network.render import NO_CHANGES, plan_text, plan_to_dict
from homelab.core.spec.models import LabSpec
from tests.network.support import observed_as_applied, spec_from


def test_marks_round_trip() -> None:
    assert owner_of(mark("home-lab", "mgmt reaches SSH")) == ("home-lab", "mgmt reaches SSH")
    assert owner_of("made by hand") is None
    assert alias_prefix("home-lab") == "lab_home_lab"


def test_own_aliases_hold_the_vms_the_endpoint_and_the_pool(lab: LabSpec) -> None:
    aliases = own_aliases(lab)
    assert aliases["lab_home_lab_vms"].content == ["10.0.20.10", "10.0.20.21", "10.0.20.22"]
    assert aliases["lab_home_lab_api"].content == ["10.0.20.10"]
    pool = aliases["lab_home_lab_lb"].content
    assert pool[0] == "10.0.20.200/29" and pool[-1] == "10.0.20.250/32"


def test_rules_keep_spec_order_user_rules_first(lab: LabSpec) -> None:
    rules = rule_objects(lab)
    labels = [r.label for r in rules]
    assert labels[0] == "admin reaches Grafana"
    assert labels[1] == "homelab reaches the OPNsense API"
    assert "apps may not reach mgmt" in labels
    sequences = [int(r.fields["sequence"]) for r in rules]
    assert sequences == sorted(sequences)
    api = rules[1].fields
    assert (api["source_net"], api["destination_net"], api["destination_port"]) == (
        "10.0.10.5", "10.0.10.1", "443")  # fmt: skip
    block = next(r for r in rules if r.label == "apps may not reach mgmt").fields
    assert (block["interface"], block["destination_net"], block["log"]) == (
        "opt2",
        "10.0.10.0/24",
        "1",
    )


def test_a_rule_with_several_ports_becomes_one_rule_per_port(example_text: str) -> None:
    spec = spec_from(example_text.replace("ports: [3000]", "ports: [3000, '9090-9093']", 1))
    labels = [r.label for r in rule_objects(spec)][:2]
    assert labels == ["admin reaches Grafana (port 3000)", "admin reaches Grafana (port 9090-9093)"]


def test_a_first_plan_creates_everything_and_needs_one_apply_per_module(lab: LabSpec) -> None:
    plan = plan_network(lab, Inventory("26.7", "dnsmasq"))
    assert {c.op for c in plan.changes} == {"create"}
    assert plan.modules == ["vlan", "assign", "alias", "rule", "host", "dhcp"]
    assert not plan.errors and not plan.locks_out
    assert plan.lockout is not None and plan.lockout.rule == "'homelab reaches the OPNsense API'"
    text = plan_text(plan)
    assert (
        "+ rule mgmt reaches the Kubernetes API (mgmt: mgmt -> lab_home_lab_api tcp/6443 pass)"
        in text
    )
    assert "+ interface mgmt (VLAN 10 on vtnet1 as opt1, 10.0.10.1/24)" in text
    modules = "vlan, assign, alias, rule, host, dhcp"
    assert text.endswith(f"Firewall plan: 26 to add, 0 to change, 0 to destroy (apply: {modules}).")
    data = json.loads(json.dumps(plan_to_dict(plan)))
    assert data["tool_path"] == {"allowed": True, "rule": "'homelab reaches the OPNsense API'"}


def test_applied_objects_plan_nothing(lab: LabSpec) -> None:
    plan = plan_network(lab, Inventory("26.7", "dnsmasq", observed_as_applied(lab)))  # type: ignore[arg-type]
    assert plan.is_noop and plan.unchanged == 26
    assert plan_text(plan) == NO_CHANGES


def test_changed_gone_and_duplicate_objects(lab: LabSpec) -> None:
    objects = observed_as_applied(lab)
    vms = next(o for o in objects["alias"] if o.fields["name"] == "lab_home_lab_vms")
    objects["alias"].remove(vms)
    objects["alias"].append(
        Observed("alias", vms.uuid, {**vms.fields, "content": "10.0.20.10"}, vms.owner)
    )
    objects["host"].append(Observed("host", "old", {"hostname": "old-vm"}, ("home-lab", "old-vm")))
    first = objects["rule"][0]
    objects["rule"].append(Observed("rule", "dup", dict(first.fields), first.owner))
    plan = plan_network(lab, Inventory("26.7", "dnsmasq", objects))  # type: ignore[arg-type]
    ops = {(c.op, c.module, c.label) for c in plan.changes}
    assert ops == {
        ("update", "alias", "lab_home_lab_vms"),
        ("delete", "host", "old-vm"),
        ("delete", "rule", "admin reaches Grafana"),
    }
    update = next(c for c in plan.changes if c.op == "update")
    assert update.changed == {"content": ("10.0.20.10", "10.0.20.10\n10.0.20.21\n10.0.20.22")}
    assert plan.modules == ["alias", "rule", "host"]
    text = plan_text(plan)
    assert "~ alias lab_home_lab_vms: content '10.0.20.10' -> " in text
    assert "- DNS override old-vm (uuid old): not in the spec" in text


def test_foreign_objects_are_kept_and_another_labs_too(lab: LabSpec) -> None:
    objects = observed_as_applied(lab)
    objects["rule"].append(
        Observed("rule", "mine", {"description": "by hand", "interface": "opt1"})
    )
    objects["alias"].append(
        Observed("alias", "other", {"name": "x"}, owner_of(mark("other-lab", "x")))
    )
    plan = plan_network(lab, Inventory("26.7", "dnsmasq", objects))  # type: ignore[arg-type]
    assert plan.is_noop


def test_a_foreign_object_in_the_way_is_an_error_that_says_how_to_adopt(lab: LabSpec) -> None:
    foreign = Observed("alias", "f1", {"name": "lab_home_lab_vms", "description": "by hand"})
    plan = plan_network(lab, Inventory("26.7", "dnsmasq", {"alias": [foreign]}))
    assert len(plan.errors) == 1
    assert "uuid f1" in plan.errors[0]
    assert mark("home-lab", "lab_home_lab_vms") in plan.errors[0]
    assert not any(c.label == "lab_home_lab_vms" for c in plan.changes)


def test_a_plan_that_blocks_the_tools_path_is_flagged(example_text: str) -> None:
    blocking = example_text.replace(
        "    - {description: admin reaches Grafana",
        "    - {description: no GUI, from: mgmt, to: firewall, ports: [443], action: block}\n"
        "    - {description: admin reaches Grafana",
        1,
    )
    plan = plan_network(spec_from(blocking), Inventory("26.7", "dnsmasq"))
    assert plan.locks_out
    assert plan.lockout is not None and plan.lockout.text() == "blocked by 'no GUI'"
    assert "! this plan blocks homelab's own path to the API: blocked by 'no GUI'" in plan_text(
        plan
    )
    assert plan_to_dict(plan)["locks_out"] is True


def test_without_default_rules_the_path_is_what_foreign_rules_say(example_text: str) -> None:
    spec = spec_from(example_text.replace("default_rules: true ", "default_rules: false", 1))
    assert plan_network(spec, Inventory("26.7", "dnsmasq")).locks_out
    admin = Observed("rule", "a", {"action": "pass", "interface": "opt1", "description": "admin"})
    plan = plan_network(spec, Inventory("26.7", "dnsmasq", {"rule": [admin]}))
    assert not plan.locks_out


@pytest.mark.parametrize(("dhcp", "word"), [("isc", "ISC DHCP"), ("none", "no DHCP server")])
def test_reservations_need_dnsmasq_or_kea(lab: LabSpec, dhcp: str, word: str) -> None:
    plan = plan_network(lab, Inventory("26.1.2", dhcp))
    assert len(plan.errors) == 1 and word in plan.errors[0]
    assert "no API for static mappings" in plan.errors[0]
    assert "dhcp" not in plan.modules


def test_kea_reservations_name_the_subnets_uuid(lab: LabSpec) -> None:
    plan = plan_network(lab, Inventory("26.7", "kea", kea_subnets={"10.0.20.0/24": "s-1"}))
    reservation = next(c for c in plan.changes if c.module == "dhcp")
    assert reservation.fields["subnet"] == "s-1"
    assert reservation.fields["hw_address"].startswith("02:")
    missing = plan_network(lab, Inventory("26.7", "kea"))
    assert missing.errors == (
        "Kea has no DHCPv4 subnet 10.0.20.0/24: add it (Services > Kea DHCP)",
    )


@pytest.mark.parametrize(
    ("version", "mode"),
    [("26.1", "savepoint"), ("26.1.2", "savepoint"), ("26.7", "backup"), ("27.1_3", "backup"),
     ("25.7.4", None), ("banana", None)],
)  # fmt: skip
def test_rollback_mode_per_version(version: str, mode: str | None) -> None:
    assert rollback_mode(version) == mode


def test_an_unsupported_version_is_a_plan_error(lab: LabSpec) -> None:
    plan = plan_network(lab, Inventory("25.7.4", "dnsmasq"))
    assert plan.errors[0] == "OPNsense 25.7.4 is not supported (supported: 26.1 and 26.7 or later)"


def test_every_object_points_back_to_its_spec_path(lab: LabSpec) -> None:
    from homelab.verbs.net import object_path

    assert object_path(lab, "vlan", "mgmt") == ("opnsense", "networks", "mgmt")
    assert object_path(lab, "alias", "admin_hosts") == ("opnsense", "aliases", "admin_hosts")
    assert object_path(lab, "alias", "lab_home_lab_lb") == ("kubernetes", "load_balancer")
    assert object_path(lab, "rule", "admin reaches Grafana") == ("opnsense", "rules", 0)
    assert object_path(lab, "rule", "apps reaches the internet") == ("opnsense", "default_rules")
    assert object_path(lab, "host", "api") == ("kubernetes",)
    assert object_path(lab, "host", "k8s-worker-2") == ("vms", "k8s-worker-2")
    assert object_path(lab, "dhcp", "k8s-worker-2") == ("vms", "k8s-worker-2")
    assert object_path(lab, "nat", "x") == ("opnsense",)
