"""``ClusterGuest``: the default guest model of the simulator (cloud-init and kubeadm).

A VM that boots with a cidata seed gets a ``machine.Machine`` that carries out its user-data
on the virtual clock; one without a seed boots as ``CidataGuest`` does. ``tick`` runs the
machines in virtual-time order, ``report`` is ``GET /_sim/guests``, ``snapshot``/``restore``
keep the clusters' records across restarts (each machine's own state is in ``vm.guest``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from homelab_sim.clock import VirtualClock
from homelab_sim.guest import patching, systemd, yamlio
from homelab_sim.guest.blockdev import boot_disk_of
from homelab_sim.guest.clusters import ClusterBook, ClusterRecord
from homelab_sim.guest.machine import Machine
from homelab_sim.guest.model import BOOT_TO_AGENT, CidataGuest, GuestVm
from homelab_sim.guest.seed import SeedFiles
from homelab_sim.guest.system import AGENT_UNIT, APT_BUSY, GuestSystem
from homelab_sim.kube import KubeRegistry
from homelab_sim.kube.cluster import SimCluster

ETCD_MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"
DISK_SEED = "disk_seed"
FINISHED = ("done", "error")
#: cloud-init on a boot without any cidata medium: ds-identify finds no data source
NO_DATASOURCE = {"status": "disabled", "stage": "ds-identify", "module": None}


class ClusterGuest(CidataGuest):
    """The default guest: a VM with a cidata seed carries out its user-data (cloud-init,
    packages, runcmd, kubeadm) on the virtual clock; one without a seed boots as before.

    Machines run in virtual-time order (``tick`` always advances the machine furthest
    behind, up to ``now``), so what one guest sees of another is causally right. Clusters
    created by ``kubeadm init`` go to ``kube`` (a ``homelab_sim.kube.KubeRegistry``); the
    guests' own knowledge of them (CA, tokens, serving control planes) is ``book``.
    """

    def __init__(
        self, kube: KubeRegistry | None = None, boot_to_agent: float = BOOT_TO_AGENT
    ) -> None:
        super().__init__(boot_to_agent)
        self.book = ClusterBook(kube)
        self.book.kube_vip_at = self._kube_vip_at
        self.machines: dict[int, Machine] = {}
        self.vms: dict[int, GuestVm] = {}
        self.clock: VirtualClock | None = None

    def _clusters(self) -> list[SimCluster]:
        return self.book.backend.clusters() if self.book.backend is not None else []

    def on_boot(self, vm: GuestVm, seed: SeedFiles | None, clock: VirtualClock) -> None:
        from_disk = seed is None and _disk_seed(vm) is not None
        if from_disk:
            # No cidata medium, but a disk whose cloud-init ran: ds-identify finds no data
            # source and cloud-init does nothing; the system (and the network configuration
            # cloud-init wrote) comes up from the disk.
            seed = _disk_seed(vm)
        super().on_boot(vm, seed, clock)
        self.clock = clock
        for cluster in self._clusters():
            cluster.kubelet_booted(vm.name())
        apt_busy = float(vm.guest.pop(APT_BUSY, 0.0))
        self.vms[vm.vmid] = vm
        for ip in _vm_ips(self, vm):
            self.book.running_ips.add(ip)
        if seed is None:
            self.machines.pop(vm.vmid, None)
            return
        meta = _meta(seed.meta_data)
        instance = str(meta.get("instance-id") or f"iid-{vm.vmid}")
        self._revive(vm)
        saved = vm.guest.get("machine")
        if from_disk and saved:
            instance = str(saved.get("instance_id") or instance)
            if (saved.get("cloud_init") or {}).get("status") not in FINISHED:
                saved = {**saved, "cloud_init": dict(NO_DATASOURCE)}
        elif saved and saved.get("instance_id") != instance:
            # cloud-init runs once per instance: only a new instance-id runs the user-data
            # again (the same one, e.g. a seed's secret-free twin, is "already done")
            saved = {"system": saved.get("system"), "instance_id": instance}
        if not from_disk:
            vm.guest[DISK_SEED] = seed.model_dump()  # /var/lib/cloud/instance, on the disk
        machine = Machine(
            name=vm.name(),
            book=self.book,
            cpus=vm.vcpus(),
            mem_mib=vm.memory_bytes() // 1024**2,
            user_data=seed.user_data,
            instance_id=instance,
            start=clock.now(),
            saved=_rebooted(saved, clock.now()) if saved else None,
            boot_disk=_boot_disk(vm),
        )
        if machine.disk is not None:
            machine.disk.boot()  # cloud-init's growpart and resizefs, at every boot
        machine.system.hold_apt_at_boot(clock.now(), apt_busy)
        patching.booted(machine.system, f"{vm.vmid}/{instance}/{clock.now()}")
        if saved:
            reboot_system(machine, _vm_ips(self, vm))
        self.machines[vm.vmid] = machine
        self._save(vm.vmid)

    def agent_ready(self, vm: GuestVm, now: float) -> bool:
        """A VM that runs its user-data answers once its own qemu-guest-agent runs: the stock
        Ubuntu cloud image has none, the seed installs and starts it."""
        if not super().agent_ready(vm, now):
            return False
        machine = self.machines.get(vm.vmid)
        return machine is None or AGENT_UNIT in machine.system.active

    def agent_exec(
        self, vm: GuestVm, argv: list[str], stdin: bytes
    ) -> tuple[int, str, str, float] | None:
        machine = self.machines.get(vm.vmid)
        if machine is None:
            return None
        outcome = machine.agent_exec(argv, stdin)
        if machine.reboot_requested and self.clock is not None:
            # the guest reboots (QEMU keeps running): the agent and kubelet go down, and the
            # machine boots again from its disk
            self.on_stop(vm)
            self.on_boot(vm, vm.seed, self.clock)
        return outcome

    def agent_file(self, vm: GuestVm, path: str) -> bytes | None:
        machine = self.machines.get(vm.vmid)
        return machine.system.read(path) if machine is not None else None

    def agent_write(self, vm: GuestVm, path: str, data: bytes) -> bool:
        machine = self.machines.get(vm.vmid)
        if machine is None:
            return False
        machine.system.write(path, data)
        return True

    def on_stop(self, vm: GuestVm) -> None:
        super().on_stop(vm)
        for cluster in self._clusters():
            cluster.kubelet_stopped(vm.name())
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
        for vmid, machine in sorted(self.machines.items()):
            if machine.run_timers(now):
                moved.add(vmid)
            if not machine.runnable():
                machine.time = max(machine.time, now)  # an idle machine's clock is the world's
        return bool(moved)

    def report(self, vms: Sequence[GuestVm], log_lines: int = 40) -> dict[str, Any]:
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
        """The clusters' records; each running machine is saved into its ``vm.guest``."""
        for vmid in self.machines:
            self._save(vmid)
        return {"clusters": self.book.to_dict()}

    def restore(self, data: dict[str, Any], vms: Sequence[GuestVm], clock: VirtualClock) -> None:
        """After a simulator restart: the clusters' records, the machines of running VMs."""
        self.book.load(data.get("clusters") or {})
        self.clock = clock
        for vm in vms:
            self.vms[vm.vmid] = vm
            if vm.status != "running":
                continue
            for ip in _vm_ips(self, vm):
                self.book.running_ips.add(ip)
            saved = vm.guest.get("machine")
            seed = vm.seed or _disk_seed(vm)
            if saved is None or seed is None:
                continue
            self.machines[vm.vmid] = Machine(
                name=vm.name(),
                book=self.book,
                cpus=vm.vcpus(),
                mem_mib=vm.memory_bytes() // 1024**2,
                user_data=seed.user_data,
                instance_id=str(saved.get("instance_id")),
                start=clock.now(),
                saved=saved,
                boot_disk=_boot_disk(vm),
            )

    def _etcd_cluster(self, vm: GuestVm) -> str | None:
        """The cluster whose etcd data ``vm``'s disk holds (a control plane's), if any."""
        machine = self.machines.get(vm.vmid)
        if machine is not None:
            member, system = machine.membership, machine.system
            if member and system.exists(ETCD_MANIFEST):
                return str(member["cluster"])
            return None
        saved = vm.guest.get("machine") or {}
        saved_member = saved.get("membership")
        files = ((saved.get("system") or {}).get("files")) or {}
        if saved_member and ETCD_MANIFEST in files:
            return str(saved_member["cluster"])
        return None

    def backup_extras(self, vm: GuestVm) -> dict[str, Any]:
        """A control plane's backup holds its etcd: the cluster's record and store."""
        name = self._etcd_cluster(vm)
        record = self.book.records.get(name) if name else None
        cluster = self.book.cluster(record) if record is not None else None
        if record is None or cluster is None:
            return {}
        with cluster.lock:
            data = cluster.to_dict()
        return {"etcd": {"record": asdict(record), "cluster": data}}

    def on_destroy(self, vm: GuestVm) -> None:
        """The last control plane of a cluster destroyed: its etcd data is gone with its disk,
        and the cluster with it (until a backup of a control plane brings it back)."""
        name = self._etcd_cluster(vm)
        self.machines.pop(vm.vmid, None)
        self.vms.pop(vm.vmid, None)
        if name is None:
            return
        others = [v for v in self.vms.values() if self._etcd_cluster(v) == name]
        if others:
            return
        self.book.records.pop(name, None)
        if self.book.backend is not None:
            self.book.backend.drop(name)

    def _revive(self, vm: GuestVm) -> None:
        """A restored control plane boots with the etcd data of a cluster that is gone: the
        cluster comes back as it was when the backup was made."""
        saved = (vm.guest.get("etcd") or {}) if isinstance(vm.guest.get("etcd"), dict) else {}
        record, data = saved.get("record"), saved.get("cluster")
        if not record or not data or record.get("name") in self.book.records:
            return
        self.book.records[str(record["name"])] = ClusterRecord(**record)
        if self.book.backend is not None:
            self.book.backend.adopt(data)

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


def _disk_seed(vm: GuestVm) -> SeedFiles | None:
    """The seed cloud-init last read, as its disk keeps it; None for a disk that never ran
    cloud-init (a fresh clone)."""
    kept = vm.guest.get(DISK_SEED)
    if not isinstance(kept, dict) or not vm.guest.get("machine"):
        return None
    return SeedFiles.model_validate(kept)


def _meta(text: str) -> dict[str, Any]:
    try:
        doc = yamlio.load(text)
    except yamlio.YAMLError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _vm_ips(guest: CidataGuest, vm: GuestVm) -> list[str]:
    """The addresses the VM answers on: not those of a NIC whose link is down (``link_down=1``:
    the guest still has its address, but no frame reaches the bridge)."""
    down = {
        str(value).split(",", 1)[0].split("=", 1)[-1].lower()
        for key, value in vm.config.items()
        if key.startswith("net") and "link_down=1" in str(value).split(",")
    }
    out = []
    for iface in guest.agent_interfaces(vm):
        if str(iface.get("hardware-address", "")).lower() in down:
            continue
        for addr in iface["ip-addresses"]:
            if addr["ip-address-type"] == "ipv4" and not addr["ip-address"].startswith("127."):
                out.append(str(addr["ip-address"]))
    return out


def _rebooted(saved: dict[str, Any], now: float) -> dict[str, Any]:
    """A saved machine booting again: its clock restarts at boot; a finished run stays done."""
    out = dict(saved)
    out["time"] = now + 8.0
    out["booted_at"] = now
    return out


def boot_timers(system: GuestSystem, now: float) -> None:
    """The enabled timers start at boot (timers.target), reading their unit files afresh."""
    for unit in sorted(u for u in system.active if u.endswith(".timer")):
        try:
            settings = systemd.load_timer(system.files, system.text, unit)
        except systemd.UnitError:
            system.active.discard(unit)
            continue
        systemd.start_timer(system.timers.setdefault(unit, {}), settings, now)


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
    boot_timers(system, machine.time)
    for record in machine.book.records.values():
        for ip in [ip for ip in record.stopped_api_ips if ip in ips]:
            if system.exists("/etc/kubernetes/manifests/kube-apiserver.yaml"):
                record.stopped_api_ips.remove(ip)
                if ip not in record.api_ips:
                    record.api_ips.append(ip)


def _boot_disk(vm: GuestVm) -> Callable[[], tuple[str, int] | None]:
    """The VM's boot disk as its guest sees it now (QEMU passes a resize on at once)."""
    return lambda: boot_disk_of(vm.config)
