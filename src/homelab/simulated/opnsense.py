"""The lab's OPNsense, simulated, for ``homelab net ... --sim``.

``run_firewall(spec, spec_path)`` starts an OPNsense simulator (``homelab_sim.opnsense``) shaped
like the spec's firewall: WAN and LAN, and one interface per routed network with its gateway
address (the assignment an admin makes once by hand), the tool appearing from
``opnsense.source``. A fresh simulated firewall holds what such an admin made before the lab: a
rule on the tool's interface letting the tool's address reach the GUI/API port (without it, a
real OPNsense would not let the tool in either). It is served over HTTPS on loopback with its
certificate pinned, and the client's waits advance its virtual clock.

Its configuration is kept under ``.homelab/<lab>/sim/opnsense.json`` so successive commands
see the same firewall (objects keep their fields; uuids are new each time, as after a
restore). ``HOMELAB_SIM_OPNSENSE_VERSION`` (default 26.7) and ``HOMELAB_SIM_OPNSENSE_DHCP``
(dnsmasq, kea or isc; default dnsmasq) choose the firmware of a new simulated firewall.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homelab.core.network.desired import tool_network
from homelab.core.secret import Secret
from homelab.core.spec.models import LabSpec
from homelab.engine.opnsense.settings import FirewallSettings
from homelab.engine.state import state_dir
from homelab.errors import SimulatorError
from homelab_sim.errors import SimError
from homelab_sim.opnsense import Interface, OpnsenseSimulator
from homelab_sim.server import start_opnsense_server

ENV_VERSION = "HOMELAB_SIM_OPNSENSE_VERSION"
ENV_DHCP = "HOMELAB_SIM_OPNSENSE_DHCP"
STATE_FILE = "opnsense.json"
# Seeded in this order: rules name aliases, Kea reservations name subnets.
TABLES = ("vlan", "alias", "rule", "unbound", "dnsmasq", "kea_subnet", "kea")
WAN = Interface("wan", "vtnet0", "192.0.2.2/24", "WAN")
LAN = Interface("lan", "vtnet0_lan", "192.168.1.1/24", "LAN")


@dataclass(frozen=True)
class SimulatedFirewall:
    settings: FirewallSettings
    sim: OpnsenseSimulator


def _interfaces(spec: LabSpec) -> list[Interface]:
    assert spec.opnsense is not None
    found = [WAN, LAN]
    for name, routed in spec.opnsense.networks.items():
        net = spec.networks[name]
        address = f"{net.gateway}/{net.cidr.prefixlen}"
        device = f"{routed.parent}_vlan{net.vlan}"
        found.append(Interface(routed.interface, device, address, name.upper()))
    return found


def new_simulator(
    spec: LabSpec, *, version: str | None = None, dhcp: str | None = None, fresh: bool = True
) -> OpnsenseSimulator:
    """A firewall for ``spec``; ``fresh``: as an admin left it (see the module docstring)."""
    assert spec.opnsense is not None
    opn = spec.opnsense
    parents = sorted({routed.parent for routed in opn.networks.values()})
    try:
        sim = OpnsenseSimulator(
            version=version or os.environ.get(ENV_VERSION, "26.7"),
            dhcp=dhcp or os.environ.get(ENV_DHCP, "dnsmasq"),
            interfaces=_interfaces(spec),
            devices=("vtnet0", *parents),
            api_port=opn.port,
        )
    except SimError as exc:
        raise SimulatorError(f"cannot start the simulated OPNsense: {exc}") from exc
    interface = opn.networks[tool_network(spec)].interface
    sim.set_client(interface, str(opn.source))
    if not fresh:
        return sim
    gateway = spec.networks[tool_network(spec)].gateway
    sim.seed(
        "rule",
        {
            "interface": interface,
            "action": "pass",
            "protocol": "TCP",
            "source_net": str(opn.source),
            "destination_net": str(gateway),
            "destination_port": str(opn.port),
            "sequence": "10",
            "description": "admin: GUI from my workstation",
        },
    )
    for name, routed in opn.networks.items():
        if routed.dhcp and sim.dhcp == "kea":
            sim.seed("kea_subnet", {"subnet": str(spec.networks[name].cidr)})
    return sim


def _state_path(spec_path: Path, lab: str) -> Path:
    folder = state_dir(spec_path) / lab / "sim"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / STATE_FILE


def save_state(sim: OpnsenseSimulator, path: Path) -> None:
    """The simulated firewall's configuration as JSON (no secrets: the key is made anew)."""
    tables = {table: list(sim.configured(table).items()) for table in TABLES}
    data = {"version": sim.version, "dhcp": sim.dhcp, "tables": tables}
    path.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")


def load_state(spec: LabSpec, path: Path) -> OpnsenseSimulator:
    """A simulator holding the configuration saved at ``path``."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        version, dhcp = str(data["version"]), str(data["dhcp"])
        sim = new_simulator(spec, version=version, dhcp=dhcp, fresh=False)
        renamed: dict[str, str] = {}
        for table in TABLES:
            for old, fields in data["tables"].get(table, []):
                if table == "kea" and "subnet" in fields:
                    fields = {**fields, "subnet": renamed.get(fields["subnet"], fields["subnet"])}
                renamed[old] = sim.seed(table, fields)
    except (OSError, ValueError, KeyError, TypeError, SimError) as exc:
        raise SimulatorError(
            f"cannot read the simulated firewall in {path}: {exc}",
            hint=f"delete {path} to start from a new simulated firewall",
        ) from exc
    return sim


@contextlib.contextmanager
def run_firewall(spec: LabSpec, spec_path: Path) -> Iterator[SimulatedFirewall]:
    """Serve the lab's simulated OPNsense on loopback; its state saved at the end."""
    assert spec.opnsense is not None
    path = _state_path(spec_path, spec.name)
    sim = load_state(spec, path) if path.exists() else new_simulator(spec)
    server = start_opnsense_server(sim)
    settings = FirewallSettings(
        endpoint=server.endpoint,
        key=sim.api_key,
        secret=Secret(sim.api_secret.reveal()),
        fingerprint=server.fingerprint,
    )
    try:
        yield SimulatedFirewall(settings, sim)
    finally:
        server.stop()
        save_state(sim, path)
