"""The guest extension point: what a simulated VM does between "start" and "agent answers".

``GuestModel`` is called by the simulator when a VM boots (with the cidata seed read from its
attached ISO, if any), when it stops, when the guest agent is asked for interfaces or OS info,
and at every request (``tick``) so a model can progress on the virtual clock. The default
guest of ``PveSimulator`` is ``cluster_guest.ClusterGuest``, which extends ``CidataGuest``
with cloud-init and kubeadm; VM-level data a model wants persisted goes in ``vm.guest``.

``CidataGuest``: the agent comes up ``BOOT_TO_AGENT`` virtual seconds after boot,
if the config enables it, with the addresses of the seed's network-config (v1 or v2), else of
the PVE ``ipconfigN`` keys, else a DHCP-like address derived from the VMID.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any, Protocol

from homelab_sim.clock import VirtualClock
from homelab_sim.guest import yamlio
from homelab_sim.guest.seed import SeedFiles

# virtual seconds from the end of the start task to a responding guest agent (the boot of
# Ubuntu 24.04 with cloud-init); pve/latency.py lists it with the other latencies
BOOT_TO_AGENT = 30.0

Interface = dict[str, Any]
_LOOPBACK: Interface = {
    "name": "lo",
    "hardware-address": "00:00:00:00:00:00",
    "ip-addresses": [
        {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
        {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128},
    ],
}


class GuestVm(Protocol):
    """What a guest model sees of a VM (the PVE side's ``Vm`` has all of it)."""

    seed: SeedFiles | None
    agent_ready_at: float | None

    @property
    def vmid(self) -> int: ...

    @property
    def status(self) -> str: ...

    @property
    def config(self) -> dict[str, str | int]: ...

    @property
    def guest(self) -> dict[str, Any]:
        """Free room for the model's per-VM state, saved with the VM."""

    def is_template(self) -> bool: ...

    def name(self) -> str: ...

    def memory_bytes(self) -> int: ...

    def vcpus(self) -> int: ...


class GuestModel(Protocol):
    def on_boot(self, vm: GuestVm, seed: SeedFiles | None, clock: VirtualClock) -> None:
        """The VM's QEMU just started; ``seed`` is its cidata seed, if one is attached."""

    def on_stop(self, vm: GuestVm) -> None:
        """The VM stopped (shutdown, stop or the stop half of a reboot)."""

    def agent_ready(self, vm: GuestVm, now: float) -> bool:
        """Whether the guest agent answers now (the VM runs and its config enables it)."""

    def agent_interfaces(self, vm: GuestVm) -> list[Interface]:
        """The reply to ``guest-network-get-interfaces``."""

    def agent_osinfo(self, vm: GuestVm) -> dict[str, Any]:
        """The reply to ``guest-get-osinfo``."""

    def agent_exec(
        self, vm: GuestVm, argv: list[str], stdin: bytes
    ) -> tuple[int, str, str, float] | None:
        """``guest-exec`` in the guest: (exit code, stdout, stderr, seconds); None when the
        guest has no model of its programs."""

    def agent_file(self, vm: GuestVm, path: str) -> bytes | None:
        """``guest-file-open``+``read`` of ``path``: its bytes, None when it does not exist."""

    def agent_write(self, vm: GuestVm, path: str, data: bytes) -> bool:
        """``guest-file-write``: False when the guest has no model of its files."""

    def tick(self, now: float) -> bool | None:
        """Called at every request with the virtual time; True if the guests' state moved."""

    def report(self, vms: Sequence[GuestVm], log_lines: int = 40) -> dict[str, Any]:
        """Per VM name (of ``vms``, the VMs that exist): what its guest is doing."""

    def snapshot(self) -> dict[str, Any]:
        """Model-wide state to persist with the simulator's (per-VM state goes in vm.guest)."""

    def restore(self, data: dict[str, Any], vms: Sequence[GuestVm], clock: VirtualClock) -> None:
        """After a restart: ``data`` from ``snapshot``, the VMs as they were saved."""

    def backup_extras(self, vm: GuestVm) -> dict[str, Any]:
        """What a backup of ``vm``'s disk holds beyond ``vm.guest`` (a control plane's etcd
        data), kept in the archive's ``vm.guest``."""

    def on_destroy(self, vm: GuestVm) -> None:
        """``vm`` is destroyed, its disks with it."""


class CidataGuest:
    """Default guest: Ubuntu 24.04 whose agent starts after a fixed boot latency."""

    def __init__(self, boot_to_agent: float = BOOT_TO_AGENT) -> None:
        self.boot_to_agent = boot_to_agent

    def on_boot(self, vm: GuestVm, seed: SeedFiles | None, clock: VirtualClock) -> None:
        vm.seed = seed
        vm.agent_ready_at = clock.now() + self.boot_to_agent

    def on_stop(self, vm: GuestVm) -> None:
        vm.agent_ready_at = None

    def agent_ready(self, vm: GuestVm, now: float) -> bool:
        ready = vm.agent_ready_at
        return vm.status == "running" and ready is not None and now >= ready

    def agent_interfaces(self, vm: GuestVm) -> list[Interface]:
        nics = _nics(vm)
        addresses = _seed_addresses(vm.seed, nics) or _ipconfig_addresses(vm, nics)
        out = [_LOOPBACK]
        for index, (key, mac) in enumerate(nics):
            name, cidrs = addresses.get(mac.lower(), (f"ens{18 + index}", []))
            if not cidrs and key == "net0":
                cidrs = [_dhcp_address(vm.vmid)]
            out.append(_interface(name, mac, cidrs))
        return out

    def agent_exec(
        self, vm: GuestVm, argv: list[str], stdin: bytes
    ) -> tuple[int, str, str, float] | None:
        return None  # this guest models no programs

    def agent_file(self, vm: GuestVm, path: str) -> bytes | None:
        return None

    def agent_write(self, vm: GuestVm, path: str, data: bytes) -> bool:
        return False

    def agent_osinfo(self, vm: GuestVm) -> dict[str, Any]:
        return {
            "id": "ubuntu",
            "name": "Ubuntu",
            "pretty-name": "Ubuntu 24.04.1 LTS",
            "version": "24.04.1 LTS (Noble Numbat)",
            "version-id": "24.04",
            "kernel-release": "6.8.0-45-generic",
            "kernel-version": "#45-Ubuntu SMP PREEMPT_DYNAMIC",
            "machine": "x86_64",
        }

    def tick(self, now: float) -> bool | None:
        return None

    def report(self, vms: Sequence[GuestVm], log_lines: int = 40) -> dict[str, Any]:
        return {}

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, data: dict[str, Any], vms: Sequence[GuestVm], clock: VirtualClock) -> None:
        return None

    def backup_extras(self, vm: GuestVm) -> dict[str, Any]:
        return {}

    def on_destroy(self, vm: GuestVm) -> None:
        return None


def _nics(vm: GuestVm) -> list[tuple[str, str]]:
    """(netN, MAC) for each configured NIC, in index order."""
    out = []
    for key in sorted((k for k in vm.config if k.startswith("net")), key=lambda k: int(k[3:])):
        model = str(vm.config[key]).split(",", 1)[0]
        if "=" in model:
            out.append((key, model.split("=", 1)[1]))
    return out


def _interface(name: str, mac: str, cidrs: list[str]) -> Interface:
    addrs = []
    for cidr in cidrs:
        iface = ipaddress.ip_interface(cidr)
        kind = "ipv4" if iface.version == 4 else "ipv6"
        addrs.append(
            {
                "ip-address": str(iface.ip),
                "ip-address-type": kind,
                "prefix": iface.network.prefixlen,
            }
        )
    return {"name": name, "hardware-address": mac.lower(), "ip-addresses": addrs}


def _dhcp_address(vmid: int) -> str:
    return f"10.99.{(vmid // 250) % 250}.{vmid % 250 + 2}/16"


def _seed_addresses(
    seed: SeedFiles | None, nics: list[tuple[str, str]]
) -> dict[str, tuple[str, list[str]]]:
    """MAC -> (interface name, addresses) from a network-config v1 or v2."""
    if seed is None or not seed.network_config:
        return {}
    try:
        doc = yamlio.load(seed.network_config)
    except yamlio.YAMLError:
        return {}
    if not isinstance(doc, dict):
        return {}
    doc = doc.get("network", doc)
    if doc.get("version") == 2:
        return _from_v2(doc, nics)
    return _from_v1(doc, nics)


def _from_v2(doc: dict[str, Any], nics: list[tuple[str, str]]) -> dict[str, tuple[str, list[str]]]:
    out: dict[str, tuple[str, list[str]]] = {}
    ethernets = doc.get("ethernets") or {}
    for index, (name, eth) in enumerate(ethernets.items()):
        eth = eth or {}
        mac = str((eth.get("match") or {}).get("macaddress", "")).lower()
        if not mac and index < len(nics):
            mac = nics[index][1].lower()
        ifname = str(eth.get("set-name") or name)
        cidrs = [str(a) for a in eth.get("addresses") or []]
        if eth.get("dhcp4") and not cidrs:
            cidrs = []
        out[mac] = (ifname, cidrs)
    return out


def _from_v1(doc: dict[str, Any], nics: list[tuple[str, str]]) -> dict[str, tuple[str, list[str]]]:
    out: dict[str, tuple[str, list[str]]] = {}
    physicals = [c for c in doc.get("config") or [] if c.get("type") == "physical"]
    for index, item in enumerate(physicals):
        mac = str(item.get("mac_address", "")).lower()
        if not mac and index < len(nics):
            mac = nics[index][1].lower()
        cidrs = []
        for subnet in item.get("subnets") or []:
            if subnet.get("type") == "static" and subnet.get("address"):
                address = str(subnet["address"])
                if "/" not in address and subnet.get("netmask"):
                    prefix = ipaddress.ip_network(f"0.0.0.0/{subnet['netmask']}").prefixlen
                    address = f"{address}/{prefix}"
                cidrs.append(address)
        out[mac] = (str(item.get("name") or f"eth{index}"), cidrs)
    return out


def _ipconfig_addresses(
    vm: GuestVm, nics: list[tuple[str, str]]
) -> dict[str, tuple[str, list[str]]]:
    """PVE's own cloud-init drive: ``ipconfigN: ip=10.0.10.11/24,gw=10.0.10.1``."""
    out: dict[str, tuple[str, list[str]]] = {}
    for index, (key, mac) in enumerate(nics):
        raw = str(vm.config.get(f"ipconfig{key[3:]}", ""))
        opts = dict(p.split("=", 1) for p in raw.split(",") if "=" in p)
        cidrs = [opts[k] for k in ("ip", "ip6") if opts.get(k, "dhcp") not in {"dhcp", "auto"}]
        out[mac.lower()] = (f"ens{18 + index}", cidrs)
    return out
