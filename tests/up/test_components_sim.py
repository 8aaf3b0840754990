"""`up` records the components it installed; the plan shows what a changed spec would move.

On the simulator: before the first `up` the plan lists every component to install; after it,
none; a changed LoadBalancer pool shows MetalLB's configuration changing (a plan of the VMs
alone would not tell); the next `up` applies it and the plan is quiet again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from homelab.core.plan.text import format_plan
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.up import up_lab
from tests.up.simlab import Upped, copy_example, upped


@pytest.fixture(scope="module")
def home_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upped]:
    spec = copy_example("home-lab.yaml", tmp_path_factory.mktemp("components"))
    with upped(spec) as lab:
        yield lab


def test_after_up_the_plan_has_no_component_to_move(home_lab: Upped) -> None:
    plan, _ = make_plan(home_lab.conn, home_lab.ctx)
    assert plan.components == () and "component" not in format_plan(plan)


def test_a_changed_pool_shows_metallb_then_up_applies_it(home_lab: Upped) -> None:
    spec = home_lab.ctx.spec_path
    original = spec.read_text()
    spec.write_text(original.replace("10.0.20.200-10.0.20.250", "10.0.20.200-10.0.20.240"))
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(home_lab.conn, ctx)
        assert [(c.name, c.op) for c in plan.components] == [("metallb", "reconfigure")]
        assert not plan.has_changes  # nothing for apply: the VMs are as they were
        text = format_plan(plan)
        assert "~ component metallb v0.14.9: its configuration changed (up applies it)" in text
        assert text.endswith(
            "No changes to the VMs. `homelab up` would also install or move 1 cluster component.\n"
        )
        up_lab(home_lab.conn, ctx, confirm=lambda _p: True)
        again, _ = make_plan(home_lab.conn, ctx)
        assert again.components == ()
    finally:
        ctx.close()
        spec.write_text(original)


def test_a_lab_never_up_lists_every_component_to_install(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from homelab.verbs.connection import open_connection

    spec = copy_example("home-lab.yaml", tmp_path_factory.mktemp("fresh"))
    ctx = prepare_lab(spec)
    try:
        with open_connection(ctx.spec, spec, sim=True) as conn:
            plan, _ = make_plan(conn, ctx)
        assert [(c.name, c.op) for c in plan.components] == [
            ("calico", "install"),
            ("metallb", "install"),
        ]
    finally:
        ctx.close()
