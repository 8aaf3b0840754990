"""``EtcdHost.wait_healthy`` against the simulated HA lab: a member whose VM is down fails the
gate (named, once the timeout passed); started again, it passes once the member caught up."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.etcd import EtcdHost
from homelab.errors import LabError
from homelab_sim.kube.cluster import CATCH_UP_ENV
from tests.up.simlab import copy_example, upped


class Unhealthy(LabError):
    """The caller's error type."""


def test_the_gate_names_a_member_down_then_waits_for_it_to_catch_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CATCH_UP_ENV, "60")
    spec = copy_example("ha-lab.yaml", tmp_path)
    with upped(spec) as lab:
        vms = {v.name: v for v in lab.conn.client.cluster_vms()}
        first, third = vms["k8s-master-1"], vms["k8s-master-3"]
        host = EtcdHost(
            GuestChannel(lab.conn.client, lab.conn.clock),
            "k8s-master-1",
            first.node,
            first.vmid,
            Unhealthy,
        )
        clock = lab.conn.clock
        assert host.wait_healthy(clock, 30.0) == 3, "three members, all healthy"

        lab.conn.client.run_task(lambda: lab.conn.client.stop(third.node, third.vmid), what="stop")
        started = clock.monotonic()
        with pytest.raises(Unhealthy, match=r"vm k8s-master-1: etcd not healthy after 20 s") as no:
            host.wait_healthy(clock, 20.0)
        assert no.value.message.endswith(
            "(a member down or behind the leader): https://10.0.20.13:2379 unhealthy"
        ), no.value.message
        assert clock.monotonic() - started >= 20.0, "it waited out its timeout"

        lab.conn.client.run_task(
            lambda: lab.conn.client.start(third.node, third.vmid), what="start"
        )
        started = clock.monotonic()
        assert host.wait_healthy(clock, 600.0, poll=2.0) == 3
        assert clock.monotonic() - started >= 60.0, "the restarted member had to catch up first"
