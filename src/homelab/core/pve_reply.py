"""Every Proxmox VE reply homelab reads, parsed into typed values: the one place that knows
what PVE's JSON looks like. Pure functions, no I/O.

PVE 8/9 payloads come from Perl's JSON encoder: booleans are ``0``/``1``, numbers may be strings
(``memory`` is ``"4096"`` in 8.x, ``nextid`` is ``"100"``), tags are ``;``-joined (space or comma
separated when written by hand), sizes are ``32G``/``32768M``/bytes, drives and NICs are property
strings, and optional fields are simply absent. Each of those forms is read here (``pve_int``,
``pve_bool``, ``pve_tags``); anything else (``data`` of the wrong type, a field that is not what
PVE sends) raises ``MalformedReply``, never a stray TypeError or KeyError. Parsers accept the
whole ``{"data": ...}`` envelope or its content.

    primitives         pve_int, pve_bool, pve_tags, pve_list, property strings, sizes
    /cluster/resources parse_resources            -> ObservedVm (QEMU guests)
                       parse_cluster_resources    -> ClusterResources (+ node capacities)
    /cluster/options   parse_tag_access           -> TagAccess (who may set which tags)
    .../qemu/{id}/config parse_config, config_values -> VmConfig, {key: text}
    .../status/current parse_vm_status            -> VmStatus
    .../storage/...    parse_storage_items, parse_storage_content, parse_storage_status
    agent network      parse_interfaces           -> {interface: IPv4 addresses}
    tasks              parse_upid, parse_task_status, parse_task_log
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from typing import Any

from homelab.core.desired import parse_description_record
from homelab.core.observed import (
    Disk,
    NetDevice,
    NodeCapacity,
    ObservedVm,
    StorageSpace,
    VmConfig,
)
from homelab.errors import LabError

__all__ = [
    "GIB",
    "MIB",
    "ClusterResources",
    "InvalidUpid",
    "MalformedReply",
    "StorageItem",
    "StorageStatus",
    "TagAccess",
    "TaskLog",
    "TaskStatus",
    "Upid",
    "VmStatus",
    "capacities_from_resources",
    "ceil_gib",
    "config_values",
    "iso_volids",
    "parse_cluster_resources",
    "parse_config",
    "parse_interfaces",
    "parse_net",
    "parse_property_string",
    "parse_resources",
    "parse_size_bytes",
    "parse_storage_content",
    "parse_storage_items",
    "parse_storage_status",
    "parse_tag_access",
    "parse_task_log",
    "parse_task_status",
    "parse_upid",
    "parse_vm_status",
    "pve_bool",
    "pve_int",
    "pve_list",
    "pve_tags",
    "reply_list",
    "reply_object",
    "unwrap",
]

MIB = 1024 * 1024
GIB = 1024 * MIB
_SIZE_UNITS = {"": 1, "K": 1024, "M": MIB, "G": GIB, "T": 1024 * GIB}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)\s*$")
_INT_RE = re.compile(r"\s*-?\d+(\.0+)?\s*")
_LIST_SPLIT_RE = re.compile(r"[;,\s]+")
_DISK_KEY_RE = re.compile(r"^(scsi|virtio|sata|ide)\d+$")
_VOLUME_KEY_RE = re.compile(r"^((scsi|virtio|sata|ide)\d+|efidisk0|tpmstate0)$")
_NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "vmxnet3", "i82551", "i82557b", "i82559er")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
UPID_RE = re.compile(
    r"^UPID:(?P<node>[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):(?P<pid>[0-9A-Fa-f]{8}):"
    r"(?P<pstart>[0-9A-Fa-f]{8,9}):(?P<starttime>[0-9A-Fa-f]{8}):(?P<type>[^:\s/]+):"
    r"(?P<id>[^:\s/]*):(?P<user>[^:\s/]+):$"
)
WARNINGS_RE = re.compile(r"^WARNINGS: (\d+)$")


class MalformedReply(LabError):
    """Proxmox answered with a payload whose shape homelab cannot read."""


class InvalidUpid(MalformedReply):
    """A task-starting call returned something that is not a task id (UPID)."""


# ---- primitives -------------------------------------------------------------------------------


def unwrap(payload: Any) -> Any:
    """Accept either the PVE envelope ``{"data": ...}`` or its content."""
    envelope = {"data", "total", "changes"}
    if isinstance(payload, Mapping) and "data" in payload and set(payload) <= envelope:
        return payload["data"]
    return payload


def pve_int(value: Any, field: str) -> int:
    """An integer that PVE may send as a number, a numeric string or an integral float."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(float(value))
    raise MalformedReply(f"Proxmox sent {field}={_show(value)}; expected an integer")


def pve_bool(value: Any, field: str) -> bool:
    """A PVE boolean: 0/1, "0"/"1", true/false (and yes/no, on/off as PVE's schema allows)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return pve_int(value, field) != 0


def pve_list(value: Any, field: str) -> tuple[str, ...]:
    """A PVE list (content types, tags): items separated by ``;``, ``,`` or whitespace."""
    if value is None:
        return ()
    if not isinstance(value, str):
        raise MalformedReply(f"Proxmox sent {field}={_show(value)}; expected a string")
    return tuple(item for item in _LIST_SPLIT_RE.split(value) if item)


def pve_tags(value: Any, field: str = "tags") -> tuple[str, ...]:
    """``"homelab;lab-x"`` -> sorted case-insensitively as PVE does, de-duplicated. The case
    is kept: the user's tags are written back as they were."""
    return tuple(sorted(set(pve_list(value, field)), key=_tag_order))


def _tag_order(tag: str) -> tuple[str, str]:
    return tag.lower(), tag


def _opt_int(raw: Mapping[str, Any], key: str) -> int | None:
    value = raw.get(key)
    return None if value is None or value == "" else pve_int(value, key)


def _opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise MalformedReply(f"Proxmox sent {key}={_show(value)}; expected a string")


def _req_str(raw: Mapping[str, Any], key: str, what: str) -> str:
    value = _opt_str(raw, key)
    if value is None:
        raise MalformedReply(f"Proxmox sent {what} without {key!r}")
    return value


def reply_object(payload: Any, what: str) -> Mapping[str, Any]:
    """The ``data`` of a reply that must be an object (MalformedReply otherwise)."""
    data = unwrap(payload)
    if not isinstance(data, Mapping):
        raise MalformedReply(f"Proxmox sent {what} that is not an object")
    return data


def reply_list(payload: Any, what: str) -> list[Mapping[str, Any]]:
    """The ``data`` of a reply that must be a list of objects (MalformedReply otherwise)."""
    data = unwrap(payload)
    if not isinstance(data, Sequence) or isinstance(data, str | bytes):
        raise MalformedReply(f"Proxmox sent {what} that is not a list")
    for entry in data:
        if not isinstance(entry, Mapping):
            raise MalformedReply(f"Proxmox sent {what} with an entry that is not an object")
    return list(data)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_size_bytes(value: str) -> int:
    """``32G``, ``32768M``, ``512K``, ``1T`` or plain bytes -> bytes."""
    match = _SIZE_RE.match(value)
    if not match:
        raise MalformedReply(f"Proxmox sent a disk size {_show(value)} that is not a size")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def ceil_gib(size_bytes: int) -> int:
    """Bytes -> whole GiB, rounded up (a 32.5 GiB disk is 33, never 'equal' to 32)."""
    return -(-size_bytes // GIB)


def parse_property_string(value: str, default_key: str | None = None) -> dict[str, str]:
    """``local-lvm:vm-201-disk-0,iothread=1,size=32G`` -> {default_key: volume, iothread, size}."""
    result: dict[str, str] = {}
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, val = part.partition("=")
        if sep:
            result[key.strip()] = val.strip()
        elif default_key is not None and default_key not in result:
            result[default_key] = part
        else:
            raise MalformedReply(f"Proxmox sent a property string {_show(value)} we cannot read")
    return result


# ---- /cluster/resources -----------------------------------------------------------------------


def parse_resources(payload: Any) -> tuple[ObservedVm, ...]:
    """``GET /cluster/resources`` (any ``type``) -> the QEMU guests (LXC, nodes... skipped)."""
    entries = reply_list(payload, "/cluster/resources")
    vms = [_parse_resource(entry) for entry in entries if entry.get("type") == "qemu"]
    return tuple(sorted(vms, key=lambda vm: vm.vmid))


@dataclass(frozen=True)
class ClusterResources:
    """One unfiltered ``GET /cluster/resources``: the QEMU guests, what each online node offers
    (CPUs, memory, storages with their ``shared`` flag), and every guest VMID (LXC included)."""

    vms: tuple[ObservedVm, ...]
    capacities: dict[str, NodeCapacity]
    guest_vmids: frozenset[int]


def parse_cluster_resources(payload: Any) -> ClusterResources:
    """``GET /cluster/resources`` (no ``type``) -> guests, node capacities and taken VMIDs."""
    entries = reply_list(payload, "/cluster/resources")
    vmids = frozenset(
        pve_int(entry["vmid"], "vmid")
        for entry in entries
        if entry.get("type") in ("qemu", "lxc") and entry.get("vmid") is not None
    )
    return ClusterResources(parse_resources(entries), capacities_from_resources(entries), vmids)


def _count(value: object) -> int | None:
    """A count from PVE's JSON: numbers or numeric strings (BEHAVIOUR.md), never a boolean."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return None
    return None


def capacities_from_resources(resources: Iterable[Any]) -> dict[str, NodeCapacity]:
    """Node capacities from the entries of ``/cluster/resources`` (unfiltered).

    Offline nodes are left out; an online node without ``maxcpu``/``maxmem`` (shown so to a
    token without ``Sys.Audit``) has None for them; a storage entry
    gives ``maxdisk`` as its total and ``maxdisk - disk`` as what is free.
    """
    nodes: dict[str, tuple[int | None, int | None]] = {}
    storages: dict[str, dict[str, StorageSpace]] = {}
    for entry in resources:
        if not isinstance(entry, Mapping):
            continue
        node = entry.get("node")
        if not isinstance(node, str):
            continue
        if entry.get("type") == "node":
            cpus, memory = _count(entry.get("maxcpu")), _count(entry.get("maxmem"))
            if entry.get("status", "online") == "online":
                # stats absent: the token lacks Sys.Audit on the node (extract_node_stats)
                nodes[node] = (cpus or None, memory or None)
        elif entry.get("type") == "storage" and isinstance(entry.get("storage"), str):
            total, used = _count(entry.get("maxdisk")), _count(entry.get("disk"))
            if total:
                avail = max(total - used, 0) if used is not None else None
                shared = _count(entry.get("shared")) == 1 or entry.get("shared") is True
                storages.setdefault(node, {})[entry["storage"]] = StorageSpace(total, avail, shared)
    return {
        node: NodeCapacity(node, cpus, memory, storages.get(node, {}))
        for node, (cpus, memory) in nodes.items()
    }


def _parse_resource(entry: Mapping[str, Any]) -> ObservedVm:
    if entry.get("vmid") is None:
        raise MalformedReply("Proxmox sent a VM resource without 'vmid'")
    maxmem = _opt_int(entry, "maxmem")
    maxcpu = _opt_int(entry, "maxcpu")
    maxdisk = _opt_int(entry, "maxdisk")
    return ObservedVm(
        vmid=pve_int(entry["vmid"], "vmid"),
        name=_opt_str(entry, "name"),
        node=_req_str(entry, "node", "a VM resource"),
        status=_opt_str(entry, "status") or "unknown",
        template=pve_bool(entry.get("template", 0), "template"),
        lock=_opt_str(entry, "lock"),
        tags=pve_tags(entry.get("tags")),
        maxmem_mib=maxmem // MIB if maxmem else None,
        cores=maxcpu or None,
        disk_gib=ceil_gib(maxdisk) if maxdisk else None,
    )


# ---- /nodes/{node}/qemu/{vmid}/config ----------------------------------------------------------


def config_values(payload: Any) -> dict[str, str]:
    """A VM config as ``{key: text}`` (numbers as their decimal text, booleans 0/1), without
    its digest: the values the config writer compares with what it wants."""
    config = reply_object(payload, "a VM config")
    return {
        str(k): _config_text(k, v) for k, v in config.items() if k != "digest" and v is not None
    }


def _config_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedReply(f"Proxmox sent the config value {key}={_show(value)}; expected text")


def parse_config(payload: Any) -> VmConfig:
    """``GET /nodes/{node}/qemu/{vmid}/config`` -> the managed settings, normalised."""
    config = reply_object(payload, "a VM config")
    description = _opt_str(config, "description")
    net0 = _opt_str(config, "net0")
    return VmConfig(
        name=_opt_str(config, "name"),
        cores=pve_int(config.get("cores", 1), "cores"),
        sockets=pve_int(config.get("sockets", 1), "sockets"),
        memory_mib=_parse_memory(config.get("memory", 512)),
        net0=parse_net(net0) if net0 else None,
        boot_disk=_find_boot_disk(config),
        cdroms=_find_cdroms(config),
        disks=_find_disks(config),
        agent=_parse_agent(config.get("agent")),
        description=description,
        record=parse_description_record(description) if description else None,
        tags=pve_tags(config.get("tags")),
        onboot=pve_bool(config.get("onboot", 0), "onboot"),
        template=pve_bool(config.get("template", 0), "template"),
        digest=_opt_str(config, "digest") or "",
        hotplug=parse_hotplug(config.get("hotplug")),
        numa=pve_bool(config.get("numa", 0), "numa"),
        vcpus=pve_int(config["vcpus"], "vcpus") if config.get("vcpus") else None,
    )


HOTPLUG_DEFAULT = ("disk", "network", "usb")
HOTPLUG_FEATURES = frozenset({"network", "disk", "cpu", "memory", "usb", "cloudinit"})


def parse_hotplug(value: Any) -> tuple[str, ...]:
    """``hotplug`` (format ``pve-hotplug-features``) -> its features, sorted: unset or ``1`` is
    PVE's default (network,disk,usb), ``0`` none (qemu-server ``parse_hotplug_features``)."""
    text = "1" if value is None else str(value)
    if text == "0":
        return ()
    if text == "1":
        return HOTPLUG_DEFAULT
    features = [f for f in re.split(r"[,;\s]+", text) if f]
    unknown = [f for f in features if f not in HOTPLUG_FEATURES]
    if unknown:
        raise MalformedReply(f"Proxmox sent hotplug={_show(value)}; unknown feature {unknown[0]}")
    return tuple(sorted(set(features)))


def _parse_memory(value: Any) -> int:
    """``4096``, ``"4096"`` or ``"current=4096"`` (8.x property string) -> MiB."""
    if isinstance(value, str) and "=" in value:
        props = parse_property_string(value, "current")
        return pve_int(props.get("current"), "memory")
    return pve_int(value, "memory")


def _parse_agent(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, int | bool):
        return bool(value)
    if not isinstance(value, str):
        raise MalformedReply(f"Proxmox sent agent={_show(value)}; expected a property string")
    props = parse_property_string(value, "enabled")
    return pve_bool(props.get("enabled", "0"), "agent")


def parse_net(value: str) -> NetDevice:
    """``virtio=BC:24:11:2E:4F:01,bridge=vmbr0,firewall=1,tag=20`` -> NetDevice."""
    props = parse_property_string(value, "model")
    model, mac = "", None
    for name in _NIC_MODELS:
        if name in props:
            model, mac = name, props[name] or None
            break
    else:
        model = props.get("model", "")
        mac = props.get("macaddr")
    return NetDevice(
        model=model,
        mac=mac.upper() if mac else None,
        bridge=props.get("bridge"),
        tag=pve_int(props["tag"], "net0 tag") if "tag" in props else None,
        firewall=pve_bool(props.get("firewall", "0"), "net0 firewall"),
    )


def _drive(config: Mapping[str, Any], key: str) -> dict[str, str] | None:
    value = _opt_str(config, key)
    return parse_property_string(value, "file") if value else None


def _is_cdrom(drive: Mapping[str, str]) -> bool:
    return drive.get("media") == "cdrom" or drive.get("file") in ("cdrom", "none")


def _find_boot_disk(config: Mapping[str, Any]) -> Disk | None:
    """The first disk in ``boot: order=...`` (else legacy ``bootdisk``, else scsi0/virtio0...)."""
    candidates: list[str] = []
    boot = config.get("boot")
    if isinstance(boot, str) and "order=" in boot:
        candidates += parse_property_string(boot, "legacy").get("order", "").split(";")
    if isinstance(config.get("bootdisk"), str):
        candidates.append(config["bootdisk"])
    candidates += sorted(str(key) for key in config if _DISK_KEY_RE.match(str(key)))
    for key in candidates:
        drive = _drive(config, key) if _DISK_KEY_RE.match(key) else None
        if drive is None or _is_cdrom(drive) or "file" not in drive:
            continue
        size = drive.get("size")
        size_gib = ceil_gib(parse_size_bytes(size)) if size else None
        return Disk(key=key, volid=drive["file"], size_gib=size_gib)
    return None


def _find_cdroms(config: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    found = []
    for key in sorted(str(k) for k in config if _DISK_KEY_RE.match(str(k))):
        drive = _drive(config, key)
        if drive is not None and _is_cdrom(drive):
            found.append((key, drive.get("file", "none")))
    return tuple(found)


def _find_disks(config: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Every drive that is not a CD-ROM, as (key, volume id) (``unusedN`` are not drives)."""
    found = []
    for key in sorted(str(k) for k in config if _VOLUME_KEY_RE.match(str(k))):
        drive = _drive(config, key)
        if drive is not None and not _is_cdrom(drive) and "file" in drive:
            found.append((key, drive["file"]))
    return tuple(found)


# ---- /nodes/{node}/qemu/{vmid}/status/current --------------------------------------------------


@dataclass(frozen=True)
class VmStatus:
    """The live state of one VM."""

    vmid: int
    status: str
    lock: str | None = None
    template: bool = False
    agent: bool = False
    #: the CPUs (``vcpus`` when set) and memory (bytes) the VM runs with, when PVE sent them
    cpus: int | None = None
    maxmem: int | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"


def parse_vm_status(payload: Any, vmid: int) -> VmStatus:
    """``GET .../qemu/{vmid}/status/current`` -> VmStatus (``vmid`` if the reply has none)."""
    raw = reply_object(payload, f"the status of VM {vmid}")
    return VmStatus(
        vmid=_opt_int(raw, "vmid") or vmid,
        status=_req_str(raw, "status", f"the status of VM {vmid}"),
        lock=_opt_str(raw, "lock"),
        template=pve_bool(raw.get("template", 0), "template"),
        agent=pve_bool(raw.get("agent", 0), "agent"),
        cpus=_opt_int(raw, "cpus"),
        maxmem=_opt_int(raw, "maxmem"),
    )


# ---- /nodes/{node}/storage/{storage}/... -------------------------------------------------------


@dataclass(frozen=True)
class StorageItem:
    """One volume of ``/nodes/{node}/storage/{storage}/content``."""

    volid: str
    content: str | None = None
    size: int | None = None
    #: the guest a backup or disk belongs to, and when the volume was made (Unix time)
    vmid: int | None = None
    ctime: int | None = None
    #: backups: the notes' first line, PBS's verification state ("ok"/"failed"), protection
    notes: str | None = None
    verified: str | None = None
    protected: bool = False


def parse_storage_items(payload: Any) -> tuple[StorageItem, ...]:
    """``GET .../storage/{storage}/content`` -> its volumes, in the order listed."""
    return tuple(
        StorageItem(
            volid=_req_str(entry, "volid", "a storage item"),
            content=_opt_str(entry, "content"),
            size=_opt_int(entry, "size"),
            vmid=_opt_int(entry, "vmid"),
            ctime=_opt_int(entry, "ctime"),
            notes=_opt_str(entry, "notes"),
            verified=_verification(entry.get("verification")),
            protected=str(entry.get("protected", 0)) in ("1", "True", "true"),
        )
        for entry in reply_list(payload, "storage content")
    )


def _verification(value: Any) -> str | None:
    """PBS's ``verification: {state, upid}`` of a backup -> its state."""
    if value is None:
        return None
    if isinstance(value, Mapping) and isinstance(value.get("state"), str):
        return str(value["state"])
    raise MalformedReply(f"Proxmox sent verification={_show(value)}; expected {{state, upid}}")


def parse_node_time(payload: Any) -> int:
    """``GET /nodes/{node}/time`` -> the node's clock (Unix time)."""
    value = reply_object(payload, "a node time").get("time")
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedReply(f"Proxmox sent a node time of {_show(value)}; expected an integer")
    return value


def parse_not_backed_up(payload: Any) -> tuple[StorageItem, ...]:
    """``GET /cluster/backup-info/not-backed-up`` -> the guests (volid: their name)."""
    return tuple(
        StorageItem(volid=_opt_str(entry, "name") or "", vmid=_opt_int(entry, "vmid"))
        for entry in reply_list(payload, "the guests not backed up")
    )


@dataclass(frozen=True)
class BackupJob:
    """One scheduled backup job of ``/cluster/backup``: which guests it backs up."""

    id: str
    enabled: bool
    all: bool
    vmids: frozenset[int]
    exclude: frozenset[int]
    node: str | None
    pool: str | None
    settings: Mapping[str, str] = field(default_factory=dict)  # every key, as text
    next_run: int | None = None

    def covers(self, vmid: int, node: str) -> bool | None:
        """Whether the job backs up guest ``vmid`` on ``node`` (None: it selects a pool, whose
        members this reply does not say). A disabled job backs nothing up, so it covers nothing
        here (PVE's ``not-backed-up`` view counts it)."""
        if not self.enabled or (self.node is not None and self.node != node):
            return False
        if self.all:
            return vmid not in self.exclude
        if self.pool is not None:
            return None
        return vmid in self.vmids


def parse_backup_jobs(payload: Any) -> tuple[BackupJob, ...]:
    """``GET /cluster/backup`` -> the scheduled jobs (PVE's ``enabled`` defaults to 1)."""
    jobs = []
    for entry in reply_list(payload, "backup jobs"):
        enabled = entry.get("enabled", 1)
        jobs.append(
            BackupJob(
                id=_req_str(entry, "id", "a backup job"),
                enabled=str(enabled) not in ("0", "False", "false"),
                all=str(entry.get("all", 0)) in ("1", "True", "true"),
                vmids=_vmid_list(entry.get("vmid")),
                exclude=_vmid_list(entry.get("exclude")),
                node=_opt_str(entry, "node"),
                pool=_opt_str(entry, "pool"),
                settings={
                    str(key): _setting_text(value)
                    for key, value in entry.items()
                    if key not in {"id", "type", "next-run"} and value is not None
                },
                next_run=_opt_int(entry, "next-run"),
            )
        )
    return tuple(jobs)


def _setting_text(value: Any) -> str:
    """A job setting as text: PVE sends ``prune-backups`` and the like as objects
    (``{"keep-last": "3"}``), which read back as the property string ``keep-last=3``."""
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _vmid_list(value: Any) -> frozenset[int]:
    if value is None or value == "":
        return frozenset()
    try:
        return frozenset(int(v) for v in str(value).replace(";", ",").split(",") if v.strip())
    except ValueError as exc:
        raise MalformedReply(f"Proxmox sent a backup job with a bad vmid list: {value!r}") from exc


def iso_volids(items: Sequence[StorageItem]) -> tuple[str, ...]:
    """The ISO volume ids among ``items`` (an item without a content type counts), sorted."""
    return tuple(sorted({item.volid for item in items if item.content in (None, "iso")}))


def parse_storage_content(payload: Any) -> tuple[str, ...]:
    """``GET .../storage/{storage}/content?content=iso`` -> the ISO volume ids, sorted."""
    return iso_volids(parse_storage_items(payload))


@dataclass(frozen=True)
class StorageStatus:
    """``/nodes/{node}/storage/{storage}/status``."""

    storage: str
    type: str | None
    content: tuple[str, ...]
    active: bool
    enabled: bool
    shared: bool


def parse_storage_status(payload: Any, storage: str) -> StorageStatus:
    raw = reply_object(payload, f"the status of storage {storage}")
    return StorageStatus(
        storage=_opt_str(raw, "storage") or storage,
        type=_opt_str(raw, "type"),
        content=pve_list(raw.get("content"), "content"),
        active=pve_bool(raw.get("active", 0), "active"),
        enabled=pve_bool(raw.get("enabled", 1), "enabled"),
        shared=pve_bool(raw.get("shared", 0), "shared"),
    )


# ---- guest agent: network-get-interfaces -------------------------------------------------------


def parse_interfaces(payload: Any) -> dict[str, tuple[IPv4Interface, ...]]:
    """IPv4 addresses per interface from the guest agent's ``network-get-interfaces``.

    ``lo`` and loopback/link-local addresses are left out: they say nothing about how to reach
    the guest. An interface with no usable IPv4 address maps to an empty tuple.
    """
    data = unwrap(payload)
    result = data.get("result") if isinstance(data, Mapping) else data
    interfaces: dict[str, tuple[IPv4Interface, ...]] = {}
    for entry in reply_list(result, "the guest agent's interfaces"):
        name = _req_str(entry, "name", "a guest interface")
        if name != "lo":
            interfaces[name] = _ipv4_addresses(entry.get("ip-addresses"))
    return interfaces


def _ipv4_addresses(addresses: Any) -> tuple[IPv4Interface, ...]:
    found: list[IPv4Interface] = []
    for item in reply_list(addresses or [], "a guest interface's addresses"):
        if item.get("ip-address-type") != "ipv4":
            continue
        text = _req_str(item, "ip-address", "a guest address")
        prefix = _opt_int(item, "prefix") or 32
        try:
            address = IPv4Interface(f"{text}/{prefix}")
        except ValueError as exc:
            raise MalformedReply(f"the guest agent reported {text}/{prefix}: {exc}") from exc
        if not (address.ip.is_loopback or address.ip.is_link_local):
            found.append(address)
    return tuple(found)


# ---- tasks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upid:
    """A parsed task id: ``UPID:node:pid:pstart:starttime:type:id:user:``."""

    raw: str
    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str

    def __str__(self) -> str:
        return self.raw


def parse_upid(payload: Any) -> Upid:
    """The UPID a task-starting call returned (InvalidUpid if it is not one)."""
    raw = unwrap(payload)
    match = UPID_RE.match(raw) if isinstance(raw, str) else None
    if match is None:
        shown = raw[:120] if isinstance(raw, str) else raw
        raise InvalidUpid(f"Proxmox returned {_show(shown)}, which is not a task id (UPID)")
    return Upid(
        raw=raw,
        node=match["node"],
        pid=int(match["pid"], 16),
        pstart=int(match["pstart"], 16),
        starttime=int(match["starttime"], 16),
        type=match["type"],
        id=match["id"],
        user=match["user"],
    )


@dataclass(frozen=True)
class TaskStatus:
    """``GET /nodes/{node}/tasks/{upid}/status``: running, or stopped with an exit status."""

    stopped: bool
    exitstatus: str | None = None

    @property
    def ok(self) -> bool:
        """Proxmox's own test: ``OK`` or ``WARNINGS: <n>``."""
        return self.exitstatus == "OK" or WARNINGS_RE.match(self.exitstatus or "") is not None

    @property
    def warnings(self) -> int:
        match = WARNINGS_RE.match(self.exitstatus or "")
        return int(match.group(1)) if match else 0


def parse_task_status(payload: Any) -> TaskStatus:
    raw = reply_object(payload, "a task status")
    status = _req_str(raw, "status", "a task status")
    if status != "stopped":
        return TaskStatus(stopped=False)
    return TaskStatus(stopped=True, exitstatus=_opt_str(raw, "exitstatus") or "unexpected status")


@dataclass(frozen=True)
class TaskLog:
    """A page of ``GET /nodes/{node}/tasks/{upid}/log``: its lines and the log's total length."""

    total: int
    lines: tuple[str, ...]


def parse_task_log(envelope: Any) -> TaskLog:
    """The whole envelope (``total`` is beside ``data``) -> TaskLog."""
    if not isinstance(envelope, Mapping):
        raise MalformedReply("Proxmox sent a task log that is not an API envelope")
    rows = reply_list(envelope.get("data") or [], "a task log")
    return TaskLog(
        total=_opt_int(envelope, "total") or 0,
        lines=tuple(_opt_str(row, "t") or "" for row in rows),
    )


# ---- /cluster/options -------------------------------------------------------------------------


@dataclass(frozen=True)
class TagAccess:
    """Datacenter tag rules (``GET /cluster/options``) as they apply to the token's user.

    ``user_allow`` is ``free`` (any tag), ``existing``, ``list`` or ``none``; ``allowed`` the
    tags PVE says this user may set (``allowed-tags``); ``registered`` the tags only a user with
    ``Sys.Modify`` on ``/`` may set or remove."""

    user_allow: str = "free"
    allow_list: tuple[str, ...] = ()
    registered: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()


def parse_tag_access(payload: Any) -> TagAccess:
    """``GET /cluster/options`` -> TagAccess (absent options are PVE's defaults)."""
    options = reply_object(payload, "datacenter options")
    access = options.get("user-tag-access") or {}
    if isinstance(access, str):  # as datacenter.cfg writes it: user-allow=list,user-allow-list=a;b
        access = parse_property_string(access)
    if not isinstance(access, Mapping):
        raise MalformedReply("Proxmox sent a user-tag-access that is not an object")
    user_allow = str(access.get("user-allow") or "free")
    if user_allow not in ("free", "existing", "list", "none"):
        raise MalformedReply(f"Proxmox sent a user-allow {_show(user_allow)} we do not know")
    return TagAccess(
        user_allow=user_allow,
        allow_list=_tag_list(access.get("user-allow-list"), "user-allow-list"),
        registered=_tag_list(options.get("registered-tags"), "registered-tags"),
        allowed=_tag_list(options.get("allowed-tags"), "allowed-tags"),
    )


def _tag_list(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return pve_tags(value)
    if isinstance(value, Sequence) and all(isinstance(tag, str) for tag in value):
        return tuple(value)
    raise MalformedReply(f"Proxmox sent {what} that is not a list of tags")


# ---- the guest agent's exec and files ---------------------------------------------------------


@dataclass(frozen=True)
class ExecStatus:
    """``agent/exec-status``: still running, or the exit code and what it wrote."""

    exited: bool
    exitcode: int | None = None
    out: str = ""
    err: str = ""
    truncated: bool = False


def parse_exec_pid(payload: Any) -> int:
    data = reply_object(payload, "an agent exec reply")
    pid = _opt_int(data, "pid")
    if pid is None:
        raise MalformedReply("Proxmox sent an agent exec reply without a pid")
    return pid


def parse_exec_status(payload: Any) -> ExecStatus:
    data = reply_object(payload, "an agent exec-status reply")
    exited = bool(_opt_int(data, "exited") or False)
    return ExecStatus(
        exited=exited,
        exitcode=_opt_int(data, "exitcode"),
        out=_opt_str(data, "out-data") or "",
        err=_opt_str(data, "err-data") or "",
        truncated=bool(_opt_int(data, "out-truncated") or _opt_int(data, "err-truncated")),
    )


@dataclass(frozen=True)
class FileRead:
    """``agent/file-read``: the bytes (sent one character per byte) and whether they are all."""

    content: bytes
    truncated: bool


def parse_file_read(payload: Any) -> FileRead:
    data = reply_object(payload, "an agent file-read reply")
    text = _opt_str(data, "content") or ""
    try:
        content = text.encode("latin-1")
    except UnicodeEncodeError:  # not one character per byte: take the text as sent
        content = text.encode("utf-8")
    return FileRead(content=content, truncated=bool(_opt_int(data, "truncated") or False))
