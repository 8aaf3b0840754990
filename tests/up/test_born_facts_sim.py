"""What a node was born with, read back from cloud-init's copy of its user-data, so a lost
record never plans a replace.

On the simulator over the wire: the guest keeps the user-data it ran where cloud-init keeps it
(``/var/lib/cloud/instance/user-data.txt``, 0600, root's); keys pushed after birth, then the
key record lost (a store restored from an older backup, a team member's fresh store): the next
plan renders the seed with the born keys, read from that file, and replaces nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab.core.plan.actions import NoOp
from homelab.core.plan.text import format_plan
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.userdata import USER_DATA
from homelab.engine.state.access import FIRST_RECORD, RECORD, NodeKeys, NodeKeysRecord
from homelab.engine.upgrade.versions import NodeVersion, NodeVersions
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.provision import apply_lab
from homelab_sim.guest import cloudinit
from homelab_sim.guest.system import GuestSystem
from tests.up.firstboot import twin_user_data
from tests.up.keys import NEW_KEY, OLD, guest_keys
from tests.up.simlab import Upped, copy_example, upped

OLD_KEY = OLD.split('"')[1]
NODES = ("k8s-master-1", "k8s-worker-2", "k8s-worker-3")


@pytest.fixture(scope="module")
def home_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upped]:
    spec = copy_example("home-lab.yaml", tmp_path_factory.mktemp("born"))
    with upped(spec) as lab:
        yield lab


class Guest:
    """What a cloud-init step needs of a simulated machine to keep the user-data."""

    def __init__(self) -> None:
        self.system = GuestSystem.stock()


def test_the_simulated_cloud_init_keeps_the_raw_user_data_0600_root() -> None:
    text = "#cloud-config\nhostname: n1\n"
    (store, *_rest) = cloudinit.program(cloudinit.parse_user_data(text))
    guest = Guest()
    steps = store.run(guest)  # type: ignore[arg-type]  # the step touches only .system
    with pytest.raises(StopIteration):
        while True:
            next(steps)
    entry = guest.system.files[USER_DATA]
    assert (store.stage, store.module) == ("init", "store_userdata")
    assert (entry.content, entry.mode, entry.owner) == (text.encode(), 0o600, "root:root")


def test_the_guest_keeps_the_user_data_it_ran(home_lab: Upped) -> None:
    (vm,) = [v for v in home_lab.conn.client.cluster_vms() if v.name == "k8s-worker-2"]
    channel = GuestChannel(home_lab.conn.client, home_lab.conn.clock)
    content = channel.read_file(vm.node, vm.vmid, USER_DATA)
    assert content == home_lab.ctx.artifacts.seeds["k8s-worker-2"].user_data


def test_keys_pushed_then_the_record_lost_plan_no_replace(home_lab: Upped) -> None:
    spec = home_lab.ctx.spec_path
    original = spec.read_text()
    spec.write_text(original.replace(OLD, f'ssh_authorized_keys: ["{NEW_KEY}"]'))
    try:
        ctx = prepare_lab(spec)
        try:
            plan, _ = make_plan(home_lab.conn, ctx)
            assert plan.key_pushes == NODES, format_plan(plan)
            applied = apply_lab(home_lab.conn, ctx, confirm=lambda _p: True)
            assert f"SSH keys pushed to {', '.join(NODES)}" in applied.done
            assert guest_keys(home_lab, "k8s-worker-2")[0] == f"{NEW_KEY}\n"
            ctx.store.secrets(ctx.lab).put(RECORD, b'{"nodes": {}}')  # the record is lost
        finally:
            ctx.close()
        ctx = prepare_lab(spec)  # a new command, with no key record
        try:
            plan, _ = make_plan(home_lab.conn, ctx)
            assert all(isinstance(a, NoOp) for a in plan.actions), format_plan(plan)
            assert not plan.has_changes and plan.key_pushes == (), format_plan(plan)
            assert plan.warnings == ()
            assert NodeKeysRecord(ctx.store, ctx.lab).all() == dict.fromkeys(
                NODES, NodeKeys(born=(OLD_KEY,), current=(NEW_KEY,))
            )
        finally:
            ctx.close()
    finally:
        spec.write_text(original)


def test_a_node_whose_user_data_cannot_be_read_is_guessed_with_a_warning(
    tmp_path: Path,
) -> None:
    with upped(copy_example("home-lab.yaml", tmp_path)) as lab:
        (vm,) = [v for v in lab.conn.client.cluster_vms() if v.name == "k8s-worker-3"]
        channel = GuestChannel(lab.conn.client, lab.conn.clock)
        assert channel.run(vm.node, vm.vmid, ["rm", "-f", USER_DATA]).ok
        lab.ctx.store.secrets(lab.ctx.lab).put(RECORD, b'{"nodes": {}}')
        ctx = prepare_lab(lab.ctx.spec_path, store=lab.ctx.store)
        plan, _ = make_plan(lab.conn, ctx)
        (warning,) = plan.warnings
        assert warning.startswith(
            "vm k8s-worker-3: cloud-init's user-data could not be read through the guest agent"
        )
        assert "the SSH keys and the first control plane it was born with are guessed" in warning
        assert "the plan shows the node replaced: do not apply that" in warning
        assert f"warning: {warning}" in format_plan(plan)
        assert not plan.has_changes  # no key was pushed: the guess is right
        assert NodeKeysRecord(ctx.store, ctx.lab).all()["k8s-worker-3"] == NodeKeys(
            (OLD_KEY,), (OLD_KEY,)
        )


def test_a_lost_record_reseeded_from_the_kubelets_takes_the_born_version_of_the_user_data(
    home_lab: Upped,
) -> None:
    """A store that lost its records seeds each node's birth version from its kubelet; after
    an upgrade that is not the one its seed pinned. The user-data says which it was."""
    ctx = prepare_lab(home_lab.ctx.spec_path)
    try:
        version = ctx.spec.kubernetes.version
        versions = NodeVersions(ctx.store, ctx.lab)
        versions.put("k8s-worker-2", NodeVersion(version, "1.29.14"))  # what a kubelet told
        ctx.store.secrets(ctx.lab).put(RECORD, b'{"nodes": {}}')
    finally:
        ctx.close()
    ctx = prepare_lab(home_lab.ctx.spec_path)
    try:
        plan, _ = make_plan(home_lab.conn, ctx)
        # no replace (keys pushed by another test of the module may be pushed back)
        assert (plan.changes, plan.warnings) == ((), ()), format_plan(plan)
        assert NodeVersions(ctx.store, ctx.lab).all()["k8s-worker-2"] == NodeVersion(
            version, version
        )
    finally:
        ctx.close()


def test_a_user_data_without_bootstrap_steps_is_guessed_with_a_warning(tmp_path: Path) -> None:
    with upped(copy_example("home-lab.yaml", tmp_path)) as lab:
        (vm,) = [v for v in lab.conn.client.cluster_vms() if v.name == "k8s-worker-2"]
        channel = GuestChannel(lab.conn.client, lab.conn.clock)
        channel.write_file(vm.node, vm.vmid, USER_DATA, twin_user_data(lab.ctx, "k8s-worker-2"))
        lab.ctx.store.secrets(lab.ctx.lab).put(FIRST_RECORD, b'{"nodes": {}}')
        ctx = prepare_lab(lab.ctx.spec_path, store=lab.ctx.store)
        plan, _ = make_plan(lab.conn, ctx)
        assert plan.warnings == (
            "vm k8s-worker-2: its user-data does not tell which control plane was the "
            "cluster's first at its birth: taken to be k8s-master-1; if it was another, the "
            "plan shows the node replaced: do not apply that",
        )
        assert not plan.has_changes, format_plan(plan)
