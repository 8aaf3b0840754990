"""apt's locks on a first boot: apt-daily and unattended-upgrades hold them for a while.

apt (2.7.14) waits for the dpkg locks only with ``-o DPkg::Lock::Timeout=N`` and never for the
lists lock; cloud-init's own ``packages`` waits 30 s. The seed must get a node up even when
unattended-upgrades holds dpkg for minutes, and start qemu-guest-agent before the long
installs.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

import pytest

from homelab_sim.guest import apt
from homelab_sim.guest.cluster_guest import ClusterGuest
from homelab_sim.guest.shell import BufferSink, Streams
from homelab_sim.guest.system import GuestSystem
from homelab_sim.pve.simulator import PveSimulator
from tests.sim.guest.support import create, guests, rendered, run_for, start
from tests.sim.support import Api

FRONTEND = "/var/lib/dpkg/lock-frontend"
HELD = f"Could not get lock {FRONTEND}. It is held by process 731 (unattended-upgr)"
UNABLE = f"E: Unable to acquire the dpkg frontend lock ({FRONTEND}), is another process using it?"
NOTICE = "N: Be aware that removing the lock file is not a solution and may break your system."


class Run:
    def __init__(self, system: GuestSystem, args: list[str], start: float = 100.0) -> None:
        self.time = start
        out, err = BufferSink(), BufferSink()
        gen: Generator[float, None, int] = apt.apt_get(
            system, args, Streams(out, err), lambda: self.time
        )
        while True:
            try:
                self.time += next(gen)
            except StopIteration as stop:
                self.status: int = stop.value
                break
        self.elapsed = self.time - start
        self.out, self.err = out.value(), err.value()


def _busy(seconds: float = 300.0) -> GuestSystem:
    system = GuestSystem.stock()
    assert Run(system, ["update"], start=0.0).status == 0  # the archive's lists
    system.hold_apt_at_boot(100.0, seconds)
    return system


def test_install_without_a_timeout_fails_at_once_with_apts_text() -> None:
    run = Run(_busy(), ["install", "-y", "containerd"])
    assert run.status == 100
    assert run.err == f"E: {HELD}\n{NOTICE}\n{UNABLE}\n"
    assert run.elapsed == 0
    assert run.out == ""


@pytest.mark.parametrize(
    "option",
    [
        ["-o", "DPkg::Lock::Timeout=60"],
        ["-odpkg::lock::timeout=60"],
        ["--option=Dpkg::Lock::Timeout=60"],
        ["--option", "DPKG::LOCK::TIMEOUT=60"],
    ],
)
def test_a_short_timeout_waits_then_fails(option: list[str]) -> None:
    run = Run(_busy(), [*option, "install", "-y", "containerd"])
    assert (run.status, run.elapsed) == (100, 60)
    assert run.out == f"Waiting for cache lock: {HELD}...\n"
    assert run.err == f"{UNABLE}\n"


def test_a_long_enough_timeout_waits_for_the_lock_and_installs() -> None:
    system = _busy(300.0)
    run = Run(system, ["-o", "DPkg::Lock::Timeout=600", "install", "-y", "containerd"])
    assert run.status == 0, run.err
    assert run.elapsed == 300 + apt.SECONDS_PER_PACKAGE
    assert "containerd" in system.installed
    # after the hold, no wait at all
    again = Run(system, ["install", "-y", "qemu-guest-agent"], start=400.0)
    assert (again.status, again.elapsed) == (0, apt.SECONDS_PER_PACKAGE)


def test_update_never_waits_for_the_lists_lock() -> None:
    run = Run(_busy(), ["-o", "DPkg::Lock::Timeout=600", "update"], start=110.0)
    assert run.status == 100
    assert run.err == (
        "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 702 (apt-get)\n"
        f"{NOTICE}\nE: Unable to lock directory /var/lib/apt/lists/\n"
    )
    assert Run(_busy(), ["update"], start=160.0).status == 0  # apt-daily's update is over


def test_the_holds_survive_a_restart_of_the_simulator() -> None:
    system = _busy()
    assert GuestSystem.from_dict(system.to_dict()).apt_holds == system.apt_holds


def _boot_busy(sim: PveSimulator, api: Api, name: str, seconds: float) -> int:
    lab = rendered("home-lab")
    vmid = create(api, lab, name)
    rule = {"method": "POST", "path": f"/nodes/*/qemu/{vmid}/status/start", "count": 1,
            "fault": "apt_lock", "seconds": seconds}  # fmt: skip
    assert api.ok("PUT", "/_sim/faults", json={"rules": [rule]}) is None
    start(api, lab, name)
    return vmid


def test_a_first_boot_with_apt_busy_for_minutes_still_makes_the_node(
    sim: PveSimulator, api: Api
) -> None:
    vmid = _boot_busy(sim, api, "k8s-master-1", 300.0)
    model = sim.guest
    assert isinstance(model, ClusterGuest)
    system = model.machines[vmid].system
    assert system.apt_holder(FRONTEND, sim.clock.now()) is not None  # the fault took
    agent_up_with: set[str] | None = None
    for _ in range(120):
        run_for(sim, api, 10, step=10)
        if (
            agent_up_with is None
            and api.call("POST", f"/nodes/pve/qemu/{vmid}/agent/ping").is_success
        ):
            agent_up_with = set(system.installed)
    entry = guests(api)["k8s-master-1"]
    assert entry["cloud_init"]["status"] == "done", entry["log"][-15:]
    assert entry["kubeadm"]["phase"] == "done"
    assert any(HELD in line for line in entry["log"])  # apt did wait for unattended-upgrades
    # the agent answered before the long installs (containerd, the Kubernetes packages)
    assert agent_up_with is not None and "qemu-guest-agent" in agent_up_with
    assert not {"kubeadm", "kubelet", "containerd"} & agent_up_with


def test_the_stock_image_has_no_guest_agent_until_the_seed_starts_one(
    sim: PveSimulator, api: Api
) -> None:
    lab = rendered("home-lab")
    bare = replace(lab.artifacts.seeds["k8s-worker-3"], user_data=b"#cloud-config\n")
    vmid = create(api, lab, "k8s-worker-3", bare)
    start(api, lab, "k8s-worker-3")
    run_for(sim, api, 600)
    assert guests(api)["k8s-worker-3"]["cloud_init"]["status"] == "done"
    ping = api.call("POST", f"/nodes/pve/qemu/{vmid}/agent/ping")
    assert (ping.status_code, ping.reason_phrase) == (500, "QEMU guest agent is not running")
