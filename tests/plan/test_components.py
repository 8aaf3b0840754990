"""The cluster's components in the plan: read from the rendering, compared with the record of
the last `up` (pure; the simulated `up` writing the record is in tests/up)."""

from __future__ import annotations

from homelab.core.plan.actions import Plan
from homelab.core.plan.components import (
    Component,
    ComponentChange,
    component_changes,
    desired_components,
)
from homelab.core.plan.json import plan_from_dict, plan_to_dict
from homelab.core.plan.text import format_plan
from homelab.core.render.lab import render_lab
from tests.render.support import load_example, pki_for


def rendered(lab: str, **versions: str) -> tuple[Component, ...]:
    spec = load_example(lab)
    if versions:
        mon = spec.monitoring
        assert mon is not None
        spec = spec.model_copy(update={"monitoring": mon.model_copy(update=versions)})
    return desired_components(render_lab(spec, pki_for(lab)).cluster)


def test_every_addon_and_helm_release_is_a_component_with_its_version() -> None:
    found = {c.name: c.version for c in rendered("monitored-lab")}
    assert found == {
        "calico": "v3.28.5",
        "metallb": "v0.14.9",
        "flux": "v2.9.4",
        "helmrelease monitoring/kube-prometheus-stack": "88.5.3",
        "helmrelease monitoring/loki": "18.11.0",
        "helmrelease monitoring/alloy": "1.11.1",
    }
    assert {c.name for c in rendered("home-lab")} == {"calico", "metallb"}


def test_without_a_record_everything_is_installed_and_with_one_nothing_changes() -> None:
    now = rendered("home-lab")
    assert [c.op for c in component_changes(now, None)] == ["install", "install"]
    assert component_changes(now, {c.name: c for c in now}) == ()


def test_a_version_a_configuration_and_a_component_gone_are_told_apart() -> None:
    now = {c.name: c for c in rendered("monitored-lab")}
    before = dict(now)
    loki = now["helmrelease monitoring/loki"]
    before[loki.name] = Component(loki.name, "18.10.0", "0" * 16)
    metallb = now["metallb"]
    before["metallb"] = Component("metallb", metallb.version, "f" * 16)
    before["helmrelease monitoring/old"] = Component("helmrelease monitoring/old", "1.0.0", "a")
    changes = {c.name: c for c in component_changes(tuple(now.values()), before)}
    assert {n: (c.op, c.marker()) for n, c in changes.items()} == {
        "metallb": ("reconfigure", "~"),
        "helmrelease monitoring/loki": ("upgrade", "~"),
        "helmrelease monitoring/old": ("left", "*"),
    }
    assert changes["helmrelease monitoring/loki"].text() == (
        "component helmrelease monitoring/loki 18.10.0 -> 18.11.0 (up upgrades it)"
    )
    assert "up leaves it in the cluster" in changes["helmrelease monitoring/old"].text()


def test_values_from_the_spec_move_a_release_s_configuration_not_others() -> None:
    base = {c.name: c for c in rendered("monitored-lab")}
    longer = {c.name: c for c in rendered("monitored-lab", retention="30d")}
    moved = {n for n in base if base[n] != longer[n]}
    assert "helmrelease monitoring/kube-prometheus-stack" in moved  # Prometheus keeps 30d
    assert not moved & {"calico", "metallb", "flux", "helmrelease monitoring/alloy"}
    assert all(base[n].version == longer[n].version for n in moved)


def test_the_plan_shows_and_keeps_them_but_they_are_no_change_of_apply() -> None:
    changes = component_changes(rendered("home-lab"), None)
    plan = Plan(lab="home-lab", actions=(), components=changes)
    assert not plan.has_changes
    text = format_plan(plan)
    assert "+ component calico v3.28.5 (up installs it)" in text
    assert plan_from_dict(plan_to_dict(plan)).components == changes
    assert isinstance(plan.components[0], ComponentChange)
