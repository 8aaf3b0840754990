"""What exists on Proxmox, as typed values, and the pure parsers that read PVE's JSON into them.

Observation is cheap by design (ARCHITECTURE decision 5): one ``GET /cluster/resources?type=vm``
plus one ``GET /nodes/{node}/storage/{iso_storage}/content?content=iso`` per Proxmox node. A VM's
config (``GET /nodes/{node}/qemu/{vmid}/config``) is read only when the plan cannot decide without
it, then merged in with ``Observed.with_configs``.

PVE 8 payloads are parsed tolerantly, the way Perl's JSON encoder produces them: booleans are
``0``/``1``, numbers may be strings (``memory`` is ``"4096"`` in 8.x), tags are ``;``-joined (or
space/comma separated when written by hand), sizes are ``32G``/``32768M``/bytes, and drives and
NICs are property strings. Sizes are normalised to whole GiB rounding *up*, so a disk that is
bigger than the spec never looks equal to it. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from homelab.core.desired import DescriptionRecord, parse_description_record, seed_owner_of
from homelab.errors import ProxmoxError

MIB = 1024 * 1024
GIB = 1024 * MIB
_SIZE_UNITS = {"": 1, "K": 1024, "M": MIB, "G": GIB, "T": 1024 * GIB}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)\s*$")
_TAG_SPLIT_RE = re.compile(r"[;,\s]+")
_DISK_KEY_RE = re.compile(r"^(scsi|virtio|sata|ide)\d+$")
_NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "vmxnet3", "i82551", "i82557b", "i82559er")


class ObservationError(ProxmoxError):
    """Proxmox answered with a payload whose shape we cannot read."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NetDevice(_Frozen):
    """``net0``: the NIC model, its MAC, bridge and VLAN tag."""

    model: str
    mac: str | None
    bridge: str | None
    tag: int | None
    firewall: bool


class Disk(_Frozen):
    """The boot disk: its config key (``scsi0``), volume id and size in whole GiB (rounded up)."""

    key: str
    volid: str
    size_gib: int | None


class VmConfig(_Frozen):
    """The managed part of ``GET /nodes/{node}/qemu/{vmid}/config``, normalised."""

    name: str | None
    cores: int
    sockets: int
    memory_mib: int
    net0: NetDevice | None
    boot_disk: Disk | None
    cdroms: tuple[tuple[str, str], ...]
    agent: bool
    description: str | None
    record: DescriptionRecord | None
    tags: tuple[str, ...]
    onboot: bool
    digest: str

    def cdrom(self, key: str) -> str | None:
        """The volume id in CD-ROM drive ``key`` (``ide2``), or None."""
        return dict(self.cdroms).get(key)


class ObservedVm(_Frozen):
    """One QEMU guest as ``/cluster/resources`` lists it, plus its config once read."""

    vmid: int
    name: str | None
    node: str
    status: str
    template: bool
    lock: str | None
    tags: tuple[str, ...]
    maxmem_mib: int | None
    cores: int | None
    disk_gib: int | None
    config: VmConfig | None = None

    def has_tag(self, tag: str) -> bool:
        """Tags compare case-insensitively (PVE's default)."""
        return tag.lower() in {own.lower() for own in self.tags}


class Observed(_Frozen):
    """Everything observed: the guests, the ISO volumes per node and the node names."""

    vms: tuple[ObservedVm, ...]
    seed_volumes: dict[str, tuple[str, ...]]
    nodes: tuple[str, ...]

    def with_configs(self, configs: Mapping[int, VmConfig]) -> Observed:
        """A copy with the given configs (by vmid) attached to their VMs."""
        vms = tuple(
            vm.model_copy(update={"config": configs[vm.vmid]}) if vm.vmid in configs else vm
            for vm in self.vms
        )
        return self.model_copy(update={"vms": vms})

    def seed_index(self) -> SeedIndex:
        return SeedIndex(self.seed_volumes)


class SeedIndex:
    """The ISO volumes per node, indexed for the planner (built once per plan, O(1) lookups)."""

    def __init__(self, seed_volumes: Mapping[str, tuple[str, ...]]) -> None:
        self._sets = {node: frozenset(volids) for node, volids in seed_volumes.items()}
        self._by_owner: dict[str, dict[str, tuple[str, ...]]] = {}
        for node, volids in seed_volumes.items():
            per_owner = self._by_owner.setdefault(node, {})
            for volid in volids:
                owner = seed_owner_of(volume_filename(volid))
                if owner is not None:
                    per_owner[owner] = (*per_owner.get(owner, ()), volid)

    def has(self, node: str, volid: str) -> bool:
        return volid in self._sets.get(node, frozenset())

    def of(self, node: str, owner: str) -> tuple[str, ...]:
        """The seed ISO volume ids on ``node`` named for ``owner`` (one VM's, any digest)."""
        return self._by_owner.get(node, {}).get(owner, ())


def build_observed(resources: Any, iso_contents: Mapping[str, Any]) -> Observed:
    """The observation from its 1 + (Proxmox nodes) responses: ``/cluster/resources?type=vm``
    and, per node, ``GET /nodes/{node}/storage/{iso_storage}/content?content=iso``."""
    return Observed(
        vms=parse_resources(resources),
        seed_volumes={
            node: parse_storage_content(payload) for node, payload in iso_contents.items()
        },
        nodes=tuple(iso_contents),
    )


# ---- small tolerant readers -------------------------------------------------------------------


def unwrap(payload: Any) -> Any:
    """Accept either the PVE envelope ``{"data": ...}`` or its content."""
    envelope = {"data", "total", "changes"}
    if isinstance(payload, Mapping) and "data" in payload and set(payload) <= envelope:
        return payload["data"]
    return payload


def read_int(value: Any, field: str) -> int:
    """An integer that PVE may send as a number, a numeric string or a float."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.0+)?\s*", value):
        return int(float(value))
    raise ObservationError(f"Proxmox sent {field}={value!r}; expected an integer")


def read_bool(value: Any, field: str) -> bool:
    """A PVE boolean: 0/1, "0"/"1", true/false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return read_int(value, field) != 0


def parse_tags(value: Any) -> tuple[str, ...]:
    """``"homelab;lab-x"`` (or space/comma separated) -> sorted case-insensitively as PVE does,
    de-duplicated. The case is kept: the user's tags are written back as they were."""
    if value is None:
        return ()
    if not isinstance(value, str):
        raise ObservationError(f"Proxmox sent tags={value!r}; expected a string")
    return tuple(sorted({tag for tag in _TAG_SPLIT_RE.split(value) if tag}, key=_tag_order))


def _tag_order(tag: str) -> tuple[str, str]:
    return tag.lower(), tag


def parse_size_bytes(value: str) -> int:
    """``32G``, ``32768M``, ``512K``, ``1T`` or plain bytes -> bytes."""
    match = _SIZE_RE.match(value)
    if not match:
        raise ObservationError(f"Proxmox sent a disk size {value!r} that is not a size")
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
            raise ObservationError(f"Proxmox sent a property string {value!r} we cannot read")
    return result


# ---- /cluster/resources -----------------------------------------------------------------------


def parse_resources(payload: Any) -> tuple[ObservedVm, ...]:
    """``GET /cluster/resources?type=vm`` -> the QEMU guests (LXC and other entries skipped)."""
    entries = unwrap(payload)
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise ObservationError("Proxmox sent /cluster/resources that is not a list")
    vms = [_parse_resource(entry) for entry in entries if _is_qemu(entry)]
    return tuple(sorted(vms, key=lambda vm: vm.vmid))


def _is_qemu(entry: Any) -> bool:
    if not isinstance(entry, Mapping):
        raise ObservationError(f"Proxmox sent a resource entry {entry!r} that is not an object")
    return entry.get("type") == "qemu"


def _parse_resource(entry: Mapping[str, Any]) -> ObservedVm:
    try:
        vmid = read_int(entry["vmid"], "vmid")
        node = str(entry["node"])
    except KeyError as exc:
        raise ObservationError(f"Proxmox sent a VM resource without {exc.args[0]!r}") from exc
    maxmem = entry.get("maxmem")
    maxcpu = entry.get("maxcpu")
    maxdisk = entry.get("maxdisk")
    lock = entry.get("lock")
    return ObservedVm(
        vmid=vmid,
        name=str(entry["name"]) if entry.get("name") else None,
        node=node,
        status=str(entry.get("status") or "unknown"),
        template=read_bool(entry.get("template", 0), "template"),
        lock=str(lock) if lock else None,
        tags=parse_tags(entry.get("tags")),
        maxmem_mib=read_int(maxmem, "maxmem") // MIB if maxmem else None,
        cores=read_int(maxcpu, "maxcpu") if maxcpu else None,
        disk_gib=ceil_gib(read_int(maxdisk, "maxdisk")) if maxdisk else None,
    )


# ---- /nodes/{node}/storage/{storage}/content ---------------------------------------------------


def parse_storage_content(payload: Any) -> tuple[str, ...]:
    """``GET .../storage/{storage}/content?content=iso`` -> the ISO volume ids, sorted."""
    entries = unwrap(payload)
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise ObservationError("Proxmox sent storage content that is not a list")
    volids: set[str] = set()
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("volid"), str):
            raise ObservationError(f"Proxmox sent a storage item without a volid: {entry!r}")
        if entry.get("content", "iso") == "iso":
            volids.add(entry["volid"])
    return tuple(sorted(volids))


def volume_filename(volid: str) -> str:
    """``local:iso/homelab-x.iso`` -> ``homelab-x.iso``."""
    return volid.partition(":")[2].rpartition("/")[2]


# ---- /nodes/{node}/qemu/{vmid}/config ----------------------------------------------------------


def parse_config(payload: Any) -> VmConfig:
    """``GET /nodes/{node}/qemu/{vmid}/config`` -> the managed settings, normalised."""
    config = unwrap(payload)
    if not isinstance(config, Mapping):
        raise ObservationError("Proxmox sent a VM config that is not an object")
    description = config.get("description")
    return VmConfig(
        name=str(config["name"]) if config.get("name") else None,
        cores=read_int(config.get("cores", 1), "cores"),
        sockets=read_int(config.get("sockets", 1), "sockets"),
        memory_mib=_parse_memory(config.get("memory", 512)),
        net0=parse_net(config["net0"]) if config.get("net0") else None,
        boot_disk=_find_boot_disk(config),
        cdroms=_find_cdroms(config),
        agent=_parse_agent(config.get("agent")),
        description=str(description) if description else None,
        record=parse_description_record(str(description)) if description else None,
        tags=parse_tags(config.get("tags")),
        onboot=read_bool(config.get("onboot", 0), "onboot"),
        digest=str(config.get("digest", "")),
    )


def _parse_memory(value: Any) -> int:
    """``4096``, ``"4096"`` or ``"current=4096"`` (8.x property string) -> MiB."""
    if isinstance(value, str) and "=" in value:
        return read_int(parse_property_string(value, "current")["current"], "memory")
    return read_int(value, "memory")


def _parse_agent(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, int | bool):
        return bool(value)
    props = parse_property_string(str(value), "enabled")
    return read_bool(props.get("enabled", "0"), "agent")


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
        tag=read_int(props["tag"], "net0 tag") if "tag" in props else None,
        firewall=read_bool(props.get("firewall", "0"), "net0 firewall"),
    )


def _drive(config: Mapping[str, Any], key: str) -> dict[str, str] | None:
    value = config.get(key)
    return parse_property_string(str(value), "file") if value else None


def _is_cdrom(drive: Mapping[str, str]) -> bool:
    return drive.get("media") == "cdrom" or drive.get("file") in ("cdrom", "none")


def _find_boot_disk(config: Mapping[str, Any]) -> Disk | None:
    """The first disk in ``boot: order=...`` (else legacy ``bootdisk``, else scsi0/virtio0...)."""
    candidates: list[str] = []
    boot = config.get("boot")
    if isinstance(boot, str) and "order=" in boot:
        candidates += parse_property_string(boot, "legacy")["order"].split(";")
    if isinstance(config.get("bootdisk"), str):
        candidates.append(config["bootdisk"])
    candidates += sorted(key for key in config if _DISK_KEY_RE.match(key))
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
    for key in sorted(k for k in config if _DISK_KEY_RE.match(k)):
        drive = _drive(config, key)
        if drive is not None and _is_cdrom(drive):
            found.append((key, drive.get("file", "none")))
    return tuple(found)
