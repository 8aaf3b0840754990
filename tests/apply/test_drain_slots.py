"""How many nodes apply drains at once: ``--max-unavailable`` workers, control planes alone."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from homelab.engine.apply.drains import drained
from homelab.engine.apply.runtime import Limits, Runtime
from homelab.engine.apply.vmids import VmidAllocator
from homelab.engine.kube.drain import DrainReport
from tests.apply.support import Cli, Lab


class CountingDrainer:
    """Stands for the cluster: records how many nodes are cordoned at once, and which."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cordoned: set[str] = set()
        self.most = 0
        self.planes_together = 0

    def exists(self, node: str) -> bool:
        return True

    def drain(self, node: str) -> DrainReport:
        with self.lock:
            self.cordoned.add(node)
            self.most = max(self.most, len(self.cordoned))
            planes = sum(1 for n in self.cordoned if n.startswith("cp-"))
            self.planes_together = max(self.planes_together, planes)
        return DrainReport(node=node, evicted=[], forced=[])

    def uncordon(self, node: str) -> None:
        with self.lock:
            self.cordoned.discard(node)

    def delete_node(self, node: str) -> None:
        self.uncordon(node)

    def wait_ready(self, node: str, timeout: float) -> None:
        return None


def _runtime(lab: Lab, nodes: Any, max_unavailable: int) -> Runtime:
    return Runtime(
        client=None,  # type: ignore[arg-type]  # drains do not talk to Proxmox
        journal=lab.ctx.store.intents(lab.ctx.lab),
        lab=lab.ctx.lab,
        iso_storage="local",
        seeds={},
        allocator=VmidAllocator(range(200, 300), taken=[]),
        limits=Limits(max_unavailable=max_unavailable),
        nodes=nodes,
    )


def _drain_all(rt: Runtime, names: list[str]) -> None:
    def one(name: str) -> None:
        with drained(rt, name, "pve", gone=True, control_plane=name.startswith("cp-")):
            time.sleep(0.2)  # the disruption itself

    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_at_most_max_unavailable_workers_are_drained_at_once(lab: Lab, n: int) -> None:
    nodes = CountingDrainer()
    _drain_all(_runtime(lab, nodes, n), [f"worker-{i}" for i in range(6)])
    assert nodes.most == n
    assert nodes.cordoned == set()
    assert lab.ctx.store.intents(lab.ctx.lab).all() == {}  # every drain journaled and cleared


def test_control_planes_go_one_at_a_time_whatever_max_unavailable_says(lab: Lab) -> None:
    nodes = CountingDrainer()
    _drain_all(_runtime(lab, nodes, 3), ["cp-1", "cp-2", "cp-3", "worker-1", "worker-2"])
    assert nodes.planes_together == 1
    assert nodes.most <= 3


def test_the_command_line_takes_max_unavailable(cli: Cli) -> None:
    code, _, err = cli("apply", str(cli.spec), "--yes", "--max-unavailable", "0")
    assert code == 2 and "--max-unavailable" in err
    code, out, err = cli("apply", str(cli.spec), "--yes", "--max-unavailable", "2")
    assert code == 0, err
    assert "Apply complete: 3 created." in out
