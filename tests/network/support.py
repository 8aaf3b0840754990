"""Helpers of the firewall tests: the reference lab with its opnsense: section, and a simulated
OPNsense shaped like it (in-process, over the httpx transport: the same bytes, no sockets)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from homelab.core.network.desired import desired_objects
from homelab.core.network.objects import Observed, compact_mark, owner_of
from homelab.core.secret import Secret
from homelab.core.spec.models import LabSpec
from homelab.core.spec.validate import validate_text
from homelab.engine.opnsense.client import OpnsenseClient
from homelab.engine.opnsense.settings import FirewallSettings
from homelab.verbs.net import Firewall
from homelab_sim.opnsense import OpnsenseSimulator, OpnsenseTransport
from tests.support.paths import EXAMPLES

EXAMPLE = EXAMPLES / "home-lab-opnsense.yaml"
WRITE_VERBS = ("add", "set", "del", "toggle")
MakeSim = Callable[..., tuple[OpnsenseSimulator, Firewall]]


def spec_from(text: str) -> LabSpec:
    result = validate_text(text, "lab.yaml")
    assert result.spec is not None, result.lines()
    return result.spec


def firewall_for(sim: OpnsenseSimulator, recovery: Path) -> Firewall:
    settings = FirewallSettings("https://10.0.10.1", sim.api_key, Secret(sim.api_secret.reveal()))
    client = OpnsenseClient(settings, transport=OpnsenseTransport(sim))
    return Firewall(client, sim.advance, recovery)


def writes(sim: OpnsenseSimulator) -> list[str]:
    """The paths of the write requests the simulator answered (add/set/del/toggle)."""
    found = []
    for entry in sim.log.entries:
        command = entry.path.rstrip("/").split("/")
        if len(command) > 4 and command[4].startswith(WRITE_VERBS):
            found.append(entry.path)
    return found


def observed_as_applied(spec: LabSpec, dhcp: str = "dnsmasq") -> dict[str, list[Observed]]:
    """What the firewall holds after the lab was applied: every desired object, owned, and
    each routed network's VLAN assigned (26.7)."""
    found: dict[str, list[Observed]] = {}
    for index, obj in enumerate(desired_objects(spec, dhcp)):
        description = next(v for k, v in obj.fields.items() if k in ("descr", "description"))
        fields = dict(obj.fields)
        if obj.module == "vlan":
            fields["vlanif"] = f"vlan0{index + 1} [{obj.label.upper()}]"
        found.setdefault(obj.module, []).append(
            Observed(obj.module, f"uuid-{index}", fields, owner_of(description))
        )
    assert spec.opnsense is not None
    for index, (name, routed) in enumerate(spec.opnsense.networks.items()):
        net = spec.networks[name]
        fields = {
            "descr": compact_mark(spec.name, name),
            "if": f"vlan0{index + 1}",
            "enable": "1",
            "lock": "0",
            "type4": "staticv4",
            "ipaddr": f"{net.gateway}/{net.cidr.prefixlen}",
            "pending_action": "",
        }
        found.setdefault("assign", []).append(
            Observed("assign", routed.interface, fields, owner_of(fields["descr"]))
        )
    return found
