"""SSH keys changed in the spec: pushed into every running node, no VM replaced.

On the simulator over the wire (the guests' cloud-init writes ``~/.ssh/authorized_keys`` at
first boot as cloud-init does): a new key list plans one push per node and no replace; apply
writes the file through the guest agent (0600, the user's own); the next plan is a no-op. A
store that lost its key record reads the guests' files back instead of replacing the lab.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from homelab.core.plan.actions import NoOp
from homelab.core.plan.text import format_plan
from homelab.engine.state.access import RECORD
from homelab.verbs.guest_log import guest_history
from homelab.verbs.lab import lab_status, make_plan, prepare_lab
from homelab.verbs.provision import apply_lab
from tests.up.keys import NEW_KEY, OLD, guest_keys
from tests.up.simlab import Upped, copy_example, upped


@pytest.fixture(scope="module")
def home_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upped]:
    spec = copy_example("home-lab.yaml", tmp_path_factory.mktemp("keys"))
    with upped(spec) as lab:
        yield lab


def test_the_first_boot_wrote_the_specs_key(home_lab: Upped) -> None:
    text, _ = guest_keys(home_lab, "k8s-worker-2")
    assert text == OLD.split('"')[1] + "\n"


def test_a_key_change_is_pushed_not_a_replace(home_lab: Upped) -> None:
    """Also for a lab whose store has no key record yet (made before it kept one): the
    guests' files say what each node was born with."""
    spec = home_lab.ctx.spec_path
    original = spec.read_text()
    home_lab.ctx.store.secrets(home_lab.ctx.lab).put(RECORD, b'{"nodes": {}}')
    old_key = OLD.split('"')[1]
    spec.write_text(original.replace(OLD, f'ssh_authorized_keys: ["{old_key}", "{NEW_KEY}"]'))
    ctx = prepare_lab(spec)
    try:
        plan, _ = make_plan(home_lab.conn, ctx)
        assert all(isinstance(a, NoOp) for a in plan.actions), format_plan(plan)
        assert plan.key_pushes == ("k8s-master-1", "k8s-worker-2", "k8s-worker-3")
        text = format_plan(plan)
        assert "~ vm k8s-worker-2: SSH keys pushed through the guest agent (no restart)" in text
        assert "SSH keys to push to 3 node(s)" in text
        rows, _ = lab_status(home_lab.conn, ctx)
        assert {r.vm: r.drift for r in rows} == dict.fromkeys(
            ("k8s-master-1", "k8s-worker-2", "k8s-worker-3"), "ssh keys"
        )
        applied = apply_lab(home_lab.conn, ctx, confirm=lambda _p: True)
        assert "SSH keys pushed to k8s-master-1, k8s-worker-2, k8s-worker-3" in applied.done
        for name in ("k8s-master-1", "k8s-worker-2", "k8s-worker-3"):
            assert guest_keys(home_lab, name)[0] == f"{old_key}\n{NEW_KEY}\n"
        kept = [r.data for r in guest_history(ctx, vm="k8s-worker-2", last=4)]
        assert [d.get("path") or d["argv"][0] for d in kept] == [
            "install",
            "/home/ubuntu/.ssh/.authorized_keys.homelab",
            "install",
            "rm",
        ], kept
    finally:
        ctx.close()
    ctx = prepare_lab(spec)  # a new command: the record says what each node was born with
    try:
        again, _ = make_plan(home_lab.conn, ctx)
        assert not again.has_changes, format_plan(again)
    finally:
        ctx.close()
        spec.write_text(original)
