"""Requests the firewall side sends: per apply of the reference lab, per no-op plan and apply.

For each simulated firmware (26.1 with Dnsmasq and Kea, 26.7 with Dnsmasq and Kea), the
reference lab's opnsense: section (examples/home-lab-opnsense.yaml) is applied to a fresh
in-process OPNsense simulator, then planned and applied again. Counted from the simulator's
request log: requests, writes (add/set/del) and applies/reconfigures per module. Goal: a no-op
plan reads one search per module (plus the version and the DHCP server), makes no write; an
apply calls each module's apply/reconfigure once.

    .venv/bin/python benchmarks/opnsense_requests.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.network.support import EXAMPLE, firewall_for, spec_from, writes  # noqa: E402

from homelab.simulated.opnsense import new_simulator  # noqa: E402
from homelab.verbs.net import net_apply, net_plan  # noqa: E402
from homelab_sim.opnsense import Interface, OpnsenseSimulator  # noqa: E402

FIRMWARES = [("26.1.2", "dnsmasq"), ("26.1.2", "kea"), ("26.7", "dnsmasq"), ("26.7", "kea")]
# 26.7 from a firewall with only WAN and LAN (homelab on LAN): the assignments are made too.
BARE = [("26.7", "dnsmasq"), ("26.7", "kea")]


def bare_simulator(version: str, dhcp: str) -> OpnsenseSimulator:
    interfaces = [Interface("wan", "vtnet0", "192.0.2.2/24", "WAN"),
                  Interface("lan", "vtnet2", "192.168.1.1/24", "LAN")]  # fmt: skip
    sim = OpnsenseSimulator(
        version=version, dhcp=dhcp, interfaces=interfaces, devices=("vtnet0", "vtnet1", "vtnet2")
    )
    sim.set_client("lan", "192.168.1.100")
    if dhcp == "kea":
        sim.seed("kea_subnet", {"subnet": "10.0.20.0/24"})
    return sim


def measure(version: str, dhcp: str, folder: Path, *, bare: bool = False) -> dict[str, object]:
    spec = spec_from(EXAMPLE.read_text())
    sim = bare_simulator(version, dhcp) if bare else new_simulator(spec, version=version, dhcp=dhcp)
    firewall = firewall_for(sim, folder / "recovery")
    started = time.perf_counter()
    net_apply(spec, folder / "lab.yaml", firewall)
    apply_seconds = time.perf_counter() - started
    first = {
        "requests": len(sim.log.entries),
        "writes": len(writes(sim)),
        "applies": sum(sim.log.applies.values()),
        "max_applies_per_module": max(sim.log.applies.values()),
    }
    sim.log.clear()
    _, plan = net_plan(spec, firewall)
    noop_plan = len(sim.log.entries)
    assert plan.is_noop
    sim.log.clear()
    net_apply(spec, folder / "lab.yaml", firewall)
    noop_apply = {"requests": len(sim.log.entries), "writes": len(writes(sim))}
    return {
        "apply": first,
        "apply_seconds": round(apply_seconds, 3),
        "noop_plan_requests": noop_plan,
        "noop_apply": noop_apply,
    }


def main() -> None:
    print(f"{'firmware':16} {'apply: req':>10} {'writes':>6} {'applies':>7} {'max/mod':>7} "
          f"{'no-op plan':>10} {'no-op apply':>11} {'writes':>6}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(v, d, False) for v, d in FIRMWARES] + [(v, d, True) for v, d in BARE]
        for version, dhcp, bare in runs:
            found = measure(version, dhcp, Path(tmp), bare=bare)
            first, again = found["apply"], found["noop_apply"]
            assert isinstance(first, dict) and isinstance(again, dict)
            name = f"{version} {dhcp}" + (" bare" if bare else "")
            print(
                f"{name:16} {first['requests']:>10} {first['writes']:>6} "
                f"{first['applies']:>7} {first['max_applies_per_module']:>7} "
                f"{found['noop_plan_requests']:>10} {again['requests']:>11} {again['writes']:>6}"
            )
    print("modules: vlan, alias, rule, host, dhcp (5), and interface assignments from 26.7 (6);")
    print("bare: a 26.7 firewall with only WAN and LAN, its assignments made by the apply;")
    print("a no-op plan also reads the version (1)")
    print("and the DHCP server (Kea, then ISC, then Dnsmasq: 1 to 3 requests)")


if __name__ == "__main__":
    main()
