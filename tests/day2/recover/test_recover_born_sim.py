"""`state recover` rebuilds what each node was born with from cloud-init's copy of its
user-data, on the simulator over the wire: after a key push, and on the HA lab whose first
control plane was rebuilt (it joined the running one), the plan after a recover changes nothing
and the per-node records are the ones the lost store held."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from homelab.core.plan.text import format_plan
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.userdata import USER_DATA
from homelab.engine.state import open_store
from homelab.engine.state.access import (
    FIRST_RECORD,
    BornFirstRecord,
    NodeKeys,
    NodeKeysRecord,
)
from homelab.engine.upgrade.versions import NodeVersions
from homelab.verbs.connection import Connection, open_connection
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.spec import load_valid_spec
from homelab.verbs.state_recover import COMPONENTS_LINE, RecoveryPlan, recover_store
from homelab.verbs.up import up_lab
from tests.day2.recover.support import lose_store
from tests.support.paths import EXAMPLES
from tests.up.firstboot import twin_user_data, without
from tests.up.keys import NEW_KEY, OLD
from tests.up.simlab import copy_example

OLD_KEY = OLD.split('"')[1]


@contextmanager
def running(example: str, into: Path) -> Iterator[tuple[Path, Connection]]:
    spec = copy_example(example, into)
    ctx = prepare_lab(spec)
    try:
        with open_connection(ctx.spec, spec, sim=True) as conn:
            up_lab(conn, ctx, confirm=lambda _plan: True, timeout=1800)
            ctx.close()
            yield spec, conn
    finally:
        ctx.close()


def apply(conn: Connection, spec: Path) -> None:
    """`up`: apply, then wait for the cluster's health."""
    ctx = prepare_lab(spec)
    try:
        outcome = up_lab(conn, ctx, confirm=lambda _p: True, timeout=1800)
        report = outcome.applied.report
        assert report is None or all(o.ok for o in report.outcomes)
    finally:
        ctx.close()


def records(spec: Path) -> tuple[dict[str, NodeKeys], dict[str, tuple[str, str]], dict[str, str]]:
    lab = load_valid_spec(spec).name
    with open_store(spec) as store:
        return (
            NodeKeysRecord(store, lab).all(),
            BornFirstRecord(store, lab).all(),
            NodeVersions(store, lab).born(),
        )


def lose_and_recover(conn: Connection, spec: Path) -> RecoveryPlan:
    with open_store(spec) as store:
        store_id = store.store_id
    lose_store(spec, store_id)
    shown: list[RecoveryPlan] = []

    def confirm(plan: RecoveryPlan) -> bool:
        shown.append(plan)
        return True

    assert recover_store(conn, load_valid_spec(spec), spec, confirm=confirm) is not None
    return shown[0]


def plan_after(conn: Connection, spec: Path) -> str:
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(conn, ctx)
    finally:
        ctx.close()
    assert (plan.errors, plan.changes, plan.key_pushes, plan.warnings) == ((), (), (), ()), (
        format_plan(plan)
    )
    return format_plan(plan)


def test_recover_after_a_key_push_plans_no_change(tmp_path: Path) -> None:
    with running("home-lab.yaml", tmp_path) as (spec, conn):
        spec.write_text(spec.read_text().replace(OLD, f'ssh_authorized_keys: ["{NEW_KEY}"]'))
        apply(conn, spec)  # the keys are pushed: authorized_keys holds the new key
        before = records(spec)
        assert set(before[0].values()) == {NodeKeys((OLD_KEY,), (NEW_KEY,))}
        shown = lose_and_recover(conn, spec)
        assert shown.warnings == ()
        lines = "\n".join(shown.lines())
        assert "k8s-master-1, k8s-worker-2, k8s-worker-3" in lines
        assert COMPONENTS_LINE in lines
        assert records(spec) == before
        text = plan_after(conn, spec)
        assert "+ component calico" in text  # the components record is not read back


def test_recover_of_the_ha_lab_whose_first_control_plane_was_rebuilt(tmp_path: Path) -> None:
    with running("ha-lab.yaml", tmp_path) as (spec, conn):
        without(spec, "k8s-master-1")
        apply(conn, spec)  # it leaves
        spec.write_text((EXAMPLES / "ha-lab.yaml").read_text())
        apply(conn, spec)  # and comes back: it joins k8s-master-2, its seed a join
        before = records(spec)
        assert before[1]["k8s-master-1"] == ("k8s-master-2", "10.0.20.12")
        assert before[1]["k8s-master-3"] == ("k8s-master-1", "10.0.20.11")
        with open_store(spec) as store:  # the born-first record alone is lost
            store.secrets(load_valid_spec(spec).name).put(FIRST_RECORD, b'{"nodes": {}}')
        plan_after(conn, spec)  # read back from the user-data: no replace
        assert records(spec) == before
        shown = lose_and_recover(conn, spec)
        assert shown.warnings == ()
        assert records(spec) == before
        plan_after(conn, spec)


def test_recover_warns_for_a_user_data_that_does_not_tell_the_first(tmp_path: Path) -> None:
    with running("home-lab.yaml", tmp_path) as (spec, conn):
        ctx = prepare_lab(spec)
        try:
            twin = twin_user_data(ctx, "k8s-worker-2")
        finally:
            ctx.close()
        (vm,) = [v for v in conn.client.cluster_vms() if v.name == "k8s-worker-2"]
        GuestChannel(conn.client, conn.clock).write_file(vm.node, vm.vmid, USER_DATA, twin)
        shown = lose_and_recover(conn, spec)
        assert shown.warnings == (
            "vm k8s-worker-2: its user-data does not tell which control plane was the "
            "cluster's first at its birth: the next plan takes it to be k8s-master-1; if it "
            "was another, the plan shows the node replaced: do not apply that",
        )
        keys, firsts, versions = records(spec)
        assert "k8s-worker-2" in keys and "k8s-worker-2" in versions
        assert "k8s-worker-2" not in firsts and "k8s-worker-3" in firsts
