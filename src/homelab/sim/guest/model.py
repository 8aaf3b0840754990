"""The guest extension point: what a simulated VM does between "start" and "agent answers".

``GuestModel`` is called by the simulator when a VM boots (with the cidata seed read from its
attached ISO, if any), when it stops, when the guest agent is asked for interfaces or OS info,
and at every request (``tick``) so a model can progress on the virtual clock. The cluster
bootstrap (cloud-init + kubeadm) replaces ``CidataGuest`` with a richer model through
``PveSimulator(guest=...)``; VM-level data a model wants persisted goes in ``vm.guest``.

``CidataGuest`` (default): the agent comes up ``BOOT_TO_AGENT`` virtual seconds after boot,
if the config enables it, with the addresses of the seed's network-config (v1 or v2), else of
the PVE ``ipconfigN`` keys, else a DHCP-like address derived from the VMID.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Protocol

import yaml

from homelab.sim.guest.clusters import ClusterBook
from homelab.sim.guest.machine import Machine
from homelab.sim.guest.seed import SeedFiles
from homelab.sim.kube import KubeRegistry
from homelab.sim.pve import latency
from homelab.sim.pve.clock import VirtualClock
from homelab.sim.pve.state import Vm

Interface = dict[str, Any]
_LOOPBACK: Interface = {
    "name": "lo",
    "hardware-address": "00:00:00:00:00:00",
    "ip-addresses": [
        {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
        {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128},
    ],
}


class GuestModel(Protocol):
    def on_boot(self, vm: Vm, seed: SeedFiles | None, clock: VirtualClock) -> None:
        """The VM's QEMU just started; ``seed`` is its cidata seed, if one is attached."""

    def on_stop(self, vm: Vm) -> None:
        """The VM stopped (shutdown, stop or the stop half of a reboot)."""

    def agent_ready(self, vm: Vm, now: float) -> bool:
        """Whether the guest agent answers now (the VM runs and its config enables it)."""

    def agent_interfaces(self, vm: Vm) -> list[Interface]:
        """The reply to ``guest-network-get-interfaces``."""

    def agent_osinfo(self, vm: Vm) -> dict[str, Any]:
        """The reply to ``guest-get-osinfo``."""

    def tick(self, now: float) -> bool | None:
        """Called at every request with the virtual time; True if the guests' state moved."""

    def report(self, vms: list[Vm], log_lines: int = 40) -> dict[str, Any]:
        """Per VM name (of ``vms``, the VMs that exist): what its guest is doing."""

    def snapshot(self) -> dict[str, Any]:
        """Model-wide state to persist with the simulator's (per-VM state goes in vm.guest)."""

    def restore(self, data: dict[str, Any], vms: list[Vm], clock: VirtualClock) -> None:
        """After a restart: ``data`` from ``snapshot``, the VMs as they were saved."""


class CidataGuest:
    """Default guest: Ubuntu 24.04 whose agent starts after a fixed boot latency."""

    def __init__(self, boot_to_agent: float = latency.BOOT_TO_AGENT) -> None:
        self.boot_to_agent = boot_to_agent

    def on_boot(self, vm: Vm, seed: SeedFiles | None, clock: VirtualClock) -> None:
        vm.seed = seed
        vm.agent_ready_at = clock.now() + self.boot_to_agent

    def on_stop(self, vm: Vm) -> None:
        vm.agent_ready_at = None

    def agent_ready(self, vm: Vm, now: float) -> bool:
        ready = vm.agent_ready_at
        return vm.status == "running" and ready is not None and now >= ready

    def agent_interfaces(self, vm: Vm) -> list[Interface]:
        nics = _nics(vm)
        addresses = _seed_addresses(vm.seed, nics) or _ipconfig_addresses(vm, nics)
        out = [_LOOPBACK]
        for index, (key, mac) in enumerate(nics):
            name, cidrs = addresses.get(mac.lower(), (f"ens{18 + index}", []))
            if not cidrs and key == "net0":
                cidrs = [_dhcp_address(vm.vmid)]
            out.append(_interface(name, mac, cidrs))
        return out

    def agent_osinfo(self, vm: Vm) -> dict[str, Any]:
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

    def report(self, vms: list[Vm], log_lines: int = 40) -> dict[str, Any]:
        return {}

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, data: dict[str, Any], vms: list[Vm], clock: VirtualClock) -> None:
        return None


def _nics(vm: Vm) -> list[tuple[str, str]]:
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
        doc = yaml.safe_load(seed.network_config)
    except yaml.YAMLError:
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


def _ipconfig_addresses(vm: Vm, nics: list[tuple[str, str]]) -> dict[str, tuple[str, list[str]]]:
    """PVE's own cloud-init drive: ``ipconfigN: ip=10.0.10.11/24,gw=10.0.10.1``."""
    out: dict[str, tuple[str, list[str]]] = {}
    for index, (key, mac) in enumerate(nics):
        raw = str(vm.config.get(f"ipconfig{key[3:]}", ""))
        opts = dict(p.split("=", 1) for p in raw.split(",") if "=" in p)
        cidrs = [opts[k] for k in ("ip", "ip6") if opts.get(k, "dhcp") not in {"dhcp", "auto"}]
        out[mac.lower()] = (f"ens{18 + index}", cidrs)
    return out


class ClusterGuest(CidataGuest):
    """The default guest: a VM with a cidata seed carries out its user-data (cloud-init,
    packages, runcmd, kubeadm) on the virtual clock; one without a seed boots as before.

    Machines run in virtual-time order (``tick`` always advances the machine furthest
    behind, up to ``now``), so what one guest sees of another is causally right. Clusters
    created by ``kubeadm init`` go to ``kube`` (a ``homelab.sim.kube.KubeRegistry``); the
    guests' own knowledge of them (CA, tokens, serving control planes) is ``book``.
    """

    def __init__(
        self, kube: KubeRegistry | None = None, boot_to_agent: float = latency.BOOT_TO_AGENT
    ) -> None:
        super().__init__(boot_to_agent)
        self.book = ClusterBook(kube)
        self.book.kube_vip_at = self._kube_vip_at
        self.machines: dict[int, Machine] = {}
        self.vms: dict[int, Vm] = {}

    def on_boot(self, vm: Vm, seed: SeedFiles | None, clock: VirtualClock) -> None:
        super().on_boot(vm, seed, clock)
        self.vms[vm.vmid] = vm
        for ip in _vm_ips(self, vm):
            self.book.running_ips.add(ip)
        if seed is None:
            self.machines.pop(vm.vmid, None)
            return
        meta = _meta(seed.meta_data)
        instance = str(meta.get("instance-id") or f"iid-{vm.vmid}")
        saved = vm.guest.get("machine")
        if saved and saved.get("instance_id") != instance:
            saved = {"system": saved.get("system"), "instance_id": instance}
        machine = Machine(
            name=vm.name(),
            book=self.book,
            cpus=vm.vcpus(),
            mem_mib=vm.memory_bytes() // 1024**2,
            user_data=seed.user_data,
            instance_id=instance,
            start=clock.now(),
            saved=_rebooted(saved, clock.now()) if saved else None,
        )
        if saved:
            reboot_system(machine, _vm_ips(self, vm))
        self.machines[vm.vmid] = machine
        self._save(vm.vmid)

    def on_stop(self, vm: Vm) -> None:
        super().on_stop(vm)
        machine = self.machines.pop(vm.vmid, None)
        for ip in _vm_ips(self, vm):
            self.book.running_ips.discard(ip)
            for record in self.book.records.values():
                if ip in record.api_ips:
                    record.api_ips.remove(ip)
                    record.stopped_api_ips.append(ip)
        if machine is not None:
            machine.system.swap_on = machine.system.fstab_has_swap()
            machine.system.active.clear()
            vm.guest["machine"] = machine.to_dict()

    def tick(self, now: float) -> bool:
        """Advance every running machine up to ``now``; True if any of them moved."""
        moved: set[int] = set()
        while True:
            runnable = [
                (m.time, vmid, m)
                for vmid, m in self.machines.items()
                if m.runnable() and m.time <= now
            ]
            if not runnable:
                break
            _, vmid, machine = min(runnable, key=lambda item: (item[0], item[1]))
            machine.advance()
            moved.add(vmid)
        for vmid in moved:
            self._save(vmid)
        return bool(moved)

    def report(self, vms: list[Vm], log_lines: int = 40) -> dict[str, Any]:
        """Per VM (by name): cloud-init and kubeadm phases, last error, recent log lines.

        Templates and VMs that never booted are left out."""
        out: dict[str, Any] = {}
        for vm in sorted(vms, key=lambda v: v.vmid):
            vmid = vm.vmid
            if vm.is_template() or (vmid not in self.vms and "machine" not in vm.guest):
                continue
            machine = self.machines.get(vmid) if self.vms.get(vmid) is vm else None
            entry: dict[str, Any] = {"vmid": vmid, "status": vm.status}
            if machine is not None:
                entry.update(machine.report(log_lines=log_lines))
            elif "machine" in vm.guest:
                saved = vm.guest["machine"]
                entry.update(
                    {
                        "cloud_init": saved.get("cloud_init"),
                        "kubeadm": saved.get("kubeadm"),
                        "last_error": saved.get("last_error"),
                        "log": list(saved.get("log", []))[-log_lines:] if log_lines else [],
                    }
                )
            else:
                entry.update({"cloud_init": None, "kubeadm": None, "last_error": None, "log": []})
            out[vm.name()] = entry
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"clusters": self.book.to_dict()}

    def restore(self, data: dict[str, Any], vms: list[Vm], clock: VirtualClock) -> None:
        """After a simulator restart: the clusters' records, the machines of running VMs."""
        self.book.load(data.get("clusters") or {})
        for vm in vms:
            self.vms[vm.vmid] = vm
            if vm.status != "running":
                continue
            for ip in _vm_ips(self, vm):
                self.book.running_ips.add(ip)
            saved = vm.guest.get("machine")
            if saved is None or vm.seed is None:
                continue
            self.machines[vm.vmid] = Machine(
                name=vm.name(),
                book=self.book,
                cpus=vm.vcpus(),
                mem_mib=vm.memory_bytes() // 1024**2,
                user_data=vm.seed.user_data,
                instance_id=str(saved.get("instance_id")),
                start=clock.now(),
                saved=saved,
            )

    def _save(self, vmid: int) -> None:
        vm, machine = self.vms.get(vmid), self.machines.get(vmid)
        if vm is not None and machine is not None:
            vm.guest["machine"] = machine.to_dict()

    def _kube_vip_at(self, ip: str) -> tuple[str, str] | None:
        for vmid, machine in self.machines.items():
            vm = self.vms.get(vmid)
            if vm is not None and ip in _vm_ips(self, vm):
                return machine.kube_vip()
        return None


def _meta(text: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _vm_ips(guest: CidataGuest, vm: Vm) -> list[str]:
    out = []
    for iface in guest.agent_interfaces(vm):
        for addr in iface["ip-addresses"]:
            if addr["ip-address-type"] == "ipv4" and not addr["ip-address"].startswith("127."):
                out.append(str(addr["ip-address"]))
    return out


def _rebooted(saved: dict[str, Any], now: float) -> dict[str, Any]:
    """A saved machine booting again: its clock restarts at boot; a finished run stays done."""
    out = dict(saved)
    out["time"] = now + 8.0
    return out


def reboot_system(machine: Machine, ips: list[str]) -> None:
    """What a reboot does to a configured node: modules-load.d, sysctl.d, fstab swap, units."""
    system = machine.system
    for name in system.listdir("/etc/modules-load.d"):
        for line in (system.text(f"/etc/modules-load.d/{name}") or "").splitlines():
            if line.strip() and not line.startswith("#"):
                system.modules.add(line.strip())
    for name in sorted(system.listdir("/etc/sysctl.d")):
        for line in (system.text(f"/etc/sysctl.d/{name}") or "").splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                system.set_sysctl(key.strip(), value.strip())
    system.swap_on = system.fstab_has_swap() and system.units.get("swap.target") != "masked"
    system.active = {unit for unit, state in system.units.items() if state == "enabled"}
    for record in machine.book.records.values():
        for ip in [ip for ip in record.stopped_api_ips if ip in ips]:
            if system.exists("/etc/kubernetes/manifests/kube-apiserver.yaml"):
                record.stopped_api_ips.remove(ip)
                if ip not in record.api_ips:
                    record.api_ips.append(ip)
