"""A Proxmox cluster as PVE holds it, written by the engine's config writer, read by the parsers.

``PveLab`` keeps what PVE keeps: each VM's config as PVE's strings (``"4096"``, ``"virtio=..,
bridge=vmbr0,tag=20"``, ``"local-lvm:vm-200-disk-0,discard=on,size=32G"``), its status, and the
ISO volumes per node. ``apply`` carries a plan out the way apply's chains do, writing only what
the engine's own functions compute (``config_changes``, ``seed_drive_value``, ``seed_attached``);
``observe`` builds the replies PVE would send (``/cluster/resources``, ``.../storage/.../content``,
``.../qemu/{vmid}/config``) and reads them with the core's parsers. So "a plan after applying it
is a no-op" holds only if the writer writes what the parser reads and the planner compares.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from homelab.core.desired import DesiredVm, is_seed_volume_of
from homelab.core.observed import Observed, volume_filename
from homelab.core.plan.actions import (
    AdoptVm,
    CreateVm,
    DestroyVm,
    NoOp,
    Plan,
    ReplaceVm,
    UpdateVm,
)
from homelab.core.pve_reply import (
    MIB,
    parse_config,
    parse_property_string,
    parse_resources,
    parse_size_bytes,
    parse_storage_content,
)
from homelab.core.render.network import vm_mac
from homelab.engine.apply.vmconfig import config_changes, seed_attached, seed_drive_value

TEMPLATE_NAMES = ("ubuntu-2404-cloudinit", "ubuntu-2604-cloudinit", "ubuntu-2404", "ubuntu-2204")
TEMPLATE_DISK = "3G"
SEED_SIZE = 376_832


@dataclass
class RawVm:
    """One QEMU guest: its node, its power state, and its config as PVE's strings."""

    node: str
    config: dict[str, str]
    status: str = "stopped"

    @property
    def template(self) -> bool:
        return self.config.get("template") == "1"


@dataclass
class PveLab:
    """The cluster: VMs by VMID and, per node, the ISO volumes of the ISO storage."""

    nodes: tuple[str, ...]
    vms: dict[int, RawVm] = field(default_factory=dict)
    isos: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def with_templates(cls, nodes: tuple[str, ...] = ("pve",)) -> PveLab:
        """Nothing but the cloud-init templates the test labs name, one copy on each node."""
        lab = cls(nodes=nodes, isos={node: {} for node in nodes})
        for n, name in enumerate(TEMPLATE_NAMES):
            for i, node in enumerate(nodes):
                vmid = 9000 + 100 * n + i
                lab.vms[vmid] = RawVm(node=node, config=template_config(vmid, name))
        return lab

    # ---- what PVE answers ---------------------------------------------------------------------

    def resources(self) -> list[dict[str, Any]]:
        """``GET /cluster/resources?type=vm``: numbers as numbers, tags as PVE joins them."""
        entries = []
        for vmid, vm in sorted(self.vms.items()):
            config = vm.config
            entry: dict[str, Any] = {
                "id": f"qemu/{vmid}",
                "type": "qemu",
                "vmid": vmid,
                "node": vm.node,
                "name": config["name"],
                "status": vm.status,
                "template": int(vm.template),
                "maxcpu": int(config.get("cores", "1")) * int(config.get("sockets", "1")),
                "maxmem": int(config.get("memory", "512")) * MIB,
                "maxdisk": boot_disk_bytes(config),
                "cpu": 0,
                "mem": 0,
                "uptime": 0,
            }
            if "tags" in config:
                entry["tags"] = config["tags"]
            entries.append(entry)
        return json.loads(json.dumps(entries))  # type: ignore[no-any-return]

    def storage_content(self, node: str) -> list[dict[str, Any]]:
        """``GET /nodes/{node}/storage/{iso_storage}/content?content=iso``."""
        return [
            {"volid": volid, "content": "iso", "format": "iso", "size": size, "ctime": 1}
            for volid, size in sorted(self.isos.get(node, {}).items())
        ]

    def config_reply(self, vmid: int) -> dict[str, Any]:
        """``GET /nodes/{node}/qemu/{vmid}/config``: the strings, and the digest of them."""
        config = dict(self.vms[vmid].config)
        digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()
        return {"data": {**config, "digest": digest}}

    def observe(self) -> Observed:
        """What observation reads from these replies, every guest's config merged in."""
        observed = Observed(
            vms=parse_resources({"data": self.resources()}),
            seed_volumes={
                node: parse_storage_content(self.storage_content(node)) for node in self.nodes
            },
            nodes=tuple(self.nodes),
        )
        configs = {
            vmid: parse_config(self.config_reply(vmid))
            for vmid, vm in self.vms.items()
            if not vm.template
        }
        return observed.with_configs(configs)

    # ---- what apply does -------------------------------------------------------------------

    def apply(self, plan: Plan, first_vmid: int = 200) -> None:
        """Carry out ``plan`` as a successful apply does, step by step."""
        assert plan.is_applicable, (plan.errors, plan.needs_configs)
        for action in plan.actions:
            if isinstance(action, NoOp):
                continue
            if isinstance(action, DestroyVm | ReplaceVm):
                self.destroy(action.vmid, plan.lab)
            if isinstance(action, DestroyVm):
                continue
            want = action.desired
            if isinstance(action, UpdateVm):
                self.update(action)
            elif isinstance(action, AdoptVm):
                self.configure(action.vmid, want)
            else:
                vmid = want.vmid or next(i for i in range(first_vmid, 10**6) if i not in self.vms)
                self.create(action, vmid)

    def create(self, action: CreateVm | ReplaceVm, vmid: int) -> None:
        want = action.desired
        source = action.source
        assert source is not None, f"no template source for {want.name}"
        self.clone(source.vmid, vmid, action.node, want)
        self.configure(vmid, want, mac=vm_mac(want.lab, want.name))
        self.seed(vmid, want)
        self.resize(vmid, want.disk_gib)
        self.vms[vmid].status = "running"

    def update(self, action: UpdateVm) -> None:
        want = action.desired
        self.configure(action.vmid, want)
        if any(change.key.startswith("disk") for change in action.changes):
            self.resize(action.vmid, want.disk_gib)
        if action.reseed:
            self.seed(action.vmid, want)
        self.vms[action.vmid].status = "running"

    def clone(self, source: int, vmid: int, node: str, want: DesiredVm) -> None:
        """``POST .../qemu/{source}/clone``: the template's config, new disk, name, description."""
        config = {k: v for k, v in self.vms[source].config.items() if k != "template"}
        disk = parse_property_string(config["scsi0"], "file")
        storage = want.storage if want.clone == "full" else disk["file"].partition(":")[0]
        config["scsi0"] = f"{storage}:vm-{vmid}-disk-0,discard=on,size={disk['size']}"
        config["ide2"] = f"{storage}:vm-{vmid}-cloudinit,media=cdrom"
        config["name"] = want.name
        config["description"] = want.description
        self.vms[vmid] = RawVm(node=node, config=config)

    def configure(self, vmid: int, want: DesiredVm, mac: str | None = None) -> None:
        """``PUT .../config`` with exactly what the engine's writer says differs."""
        self.vms[vmid].config.update(config_changes(want, self.vms[vmid].config, mac))

    def seed(self, vmid: int, want: DesiredVm) -> None:
        """Upload the seed ISO, attach it, delete this VM's superseded seeds on its node."""
        vm = self.vms[vmid]
        isos = self.isos.setdefault(vm.node, {})
        isos[want.seed_volid] = SEED_SIZE
        if not seed_attached(vm.config, want.seed_volid):
            vm.config["ide2"] = seed_drive_value(want.seed_volid)
        for volid in list(isos):
            if volid != want.seed_volid and is_seed_volume_of(
                want.lab, want.name, volume_filename(volid)
            ):
                del isos[volid]

    def resize(self, vmid: int, gib: int) -> None:
        """``PUT .../resize``: PVE rewrites the drive's ``size`` in GiB."""
        config = self.vms[vmid].config
        parts = [p for p in config["scsi0"].split(",") if not p.startswith("size=")]
        config["scsi0"] = ",".join([*parts, f"size={gib}G"])

    def destroy(self, vmid: int, lab: str) -> None:
        """Stop, destroy with purge; the chain then deletes the VM's seed ISOs on its node."""
        vm = self.vms.pop(vmid)
        isos = self.isos.get(vm.node, {})
        for volid in list(isos):
            if is_seed_volume_of(lab, vm.config["name"], volume_filename(volid)):
                del isos[volid]


def template_config(vmid: int, name: str) -> dict[str, str]:
    """A cloud-init template as PVE 8 stores it (``qm config`` of a prepared cloud image)."""
    mac = "BC:24:11:" + ":".join(f"{b:02X}" for b in vmid.to_bytes(3, "big"))
    return {
        "agent": "1",
        "boot": "order=scsi0",
        "cores": "2",
        "cpu": "x86-64-v2-AES",
        "description": "Ubuntu cloud image, cloud-init ready",
        "ide2": f"local-lvm:vm-{vmid}-cloudinit,media=cdrom",
        "memory": "2048",
        "name": name,
        "net0": f"virtio={mac},bridge=vmbr0",
        "ostype": "l26",
        "scsi0": f"local-lvm:base-{vmid}-disk-0,discard=on,size={TEMPLATE_DISK}",
        "scsihw": "virtio-scsi-single",
        "serial0": "socket",
        "sockets": "1",
        "template": "1",
        "vga": "serial0",
    }


def boot_disk_bytes(config: dict[str, str]) -> int:
    size = parse_property_string(config["scsi0"], "file").get("size")
    return parse_size_bytes(size) if size else 0
