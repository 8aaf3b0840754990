"""A worker added a day after the cluster was made joins: apply re-arms the bootstrap token
(kubeadm gave it 24 h, and the simulated tokencleaner deletes it once expired)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from homelab.engine.kube.diagnose import GuestPhase
from homelab.engine.kube.manifests import ManifestSource
from homelab.engine.site import Reach
from homelab.simulated.site import SimulatedSite
from homelab.verbs import provision
from homelab.verbs.connection import Connection
from homelab.verbs.lab import make_plan, prepare_lab
from homelab.verbs.provision import apply_lab
from homelab.verbs.rearm import TokenNotRearmed
from homelab.verbs.up import ClusterNotReady, up_lab
from tests.up.simlab import copy_example, upped

NEW_WORKER = (
    "  k8s-worker-4: {role: worker, cores: 2, memory: 4GiB, disk: 32GiB, network: apps, "
    "ip: 10.0.20.23}\n"
)
A_DAY_AND_AN_HOUR = 25 * 3600.0


def add_worker(spec: Path) -> None:
    text = spec.read_text()
    anchor = "  k8s-worker-3:"
    line_end = text.index("\n", text.index(anchor)) + 1
    spec.write_text(text[:line_end] + NEW_WORKER + text[line_end:])


def a_day_later_add_a_worker(spec: Path) -> list[str]:
    """Up the reference lab, let 25 h pass, add k8s-worker-4, up again; the Ready nodes."""
    with upped(spec) as lab:
        site = lab.conn.site
        assert isinstance(site, SimulatedSite)
        site.advance_clock(A_DAY_AND_AN_HOUR)
        add_worker(spec)
        ctx = prepare_lab(spec)
        try:
            outcome = up_lab(lab.conn, ctx, confirm=lambda _plan: True, timeout=1800)
        finally:
            ctx.close()
        return sorted(n.name for n in outcome.health.nodes if n.ready)


def test_a_worker_added_a_day_later_joins(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    ready = a_day_later_add_a_worker(spec)
    assert ready == ["k8s-master-1", "k8s-worker-2", "k8s-worker-3", "k8s-worker-4"]


def test_without_the_re_arm_the_expired_token_refuses_the_join(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provision, "rearm_join_token", lambda *_args: [])
    spec = copy_example("home-lab.yaml", tmp_path)
    with pytest.raises(ClusterNotReady) as caught:
        a_day_later_add_a_worker(spec)
    assert "k8s-worker-4" in caught.value.message
    assert "unknown or expired" in caught.value.message


@dataclass
class UnreachableApi:
    """A Site whose API address exists but nothing answers there (the control plane is down)."""

    real: SimulatedSite

    def reach(self, host: str, port: int) -> Reach:
        return Reach("https://127.0.0.1:9", server_name=host)

    def manifest_source(self) -> ManifestSource:
        return self.real.manifest_source()

    def guest_phases(self) -> dict[str, GuestPhase]:
        return self.real.guest_phases()


def test_an_unreachable_api_server_refuses_to_boot_the_new_node(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with upped(spec) as lab:
        site = lab.conn.site
        assert isinstance(site, SimulatedSite)
        add_worker(spec)
        ctx = prepare_lab(spec)
        conn = Connection(lab.conn.client, UnreachableApi(site), lab.conn.clock)
        try:
            with pytest.raises(TokenNotRearmed) as caught:
                apply_lab(conn, ctx, confirm=lambda _plan: True)
            plan, _observed = make_plan(lab.conn, ctx)
        finally:
            ctx.close()
    assert caught.value.message.startswith("not booting k8s-worker-4: they join with the lab's")
    assert "cannot be reached" in caught.value.message or "did not answer" in caught.value.message
    assert "nothing was changed" in caught.value.message
    assert [a.vm for a in plan.changes] == ["k8s-worker-4"]  # still to create: nothing booted
