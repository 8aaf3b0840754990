"""The simulated cluster's state: plain pydantic models, JSON round-trippable for ``--state``.

Nothing here does I/O or reads the clock; handlers mutate these objects under the simulator's
lock, and persistence.py writes them out.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field

from homelab_sim.guest.seed import SeedFiles

ConfigValue = str | int


class NetIface(BaseModel):
    """One entry of a node's ``/etc/network/interfaces`` as ``GET /nodes/{node}/network`` lists
    it (pve-common ``PVE::INotify`` field names). ``mtu`` None: the kernel's 1500."""

    iface: str
    type: Literal["eth", "bridge", "bond", "vlan", "OVSBridge"]
    method: Literal["manual", "static", "dhcp"] = "manual"
    active: bool = True
    autostart: bool = True
    exists: bool | None = None
    cidr: str | None = None
    gateway: str | None = None
    bridge_ports: str | None = None
    bridge_vlan_aware: bool = False
    bridge_vids: str | None = None
    mtu: int | None = None
    comments: str | None = None


class Node(BaseModel):
    node: str
    nodeid: int
    ip: str
    maxcpu: int = 16
    maxmem: int = 64 * 1024**3
    boot_time: float = 0.0
    #: None: the default a fresh node has (``network.default_interfaces``)
    interfaces: list[NetIface] | None = None


class StorageDef(BaseModel):
    """A storage.cfg entry. Non-shared storages exist on every node (``nodes`` None)."""

    storage: str
    type: str
    content: list[str]
    total: int
    shared: bool = False
    path: str | None = None
    nodes: list[str] | None = None

    # a pbs storage: server, port, datastore, namespace, username, fingerprint (storage.cfg);
    # its password lives apart (/etc/pve/priv/storage/<id>.pw): kept as a SHA-256 digest
    pbs: dict[str, str] | None = None
    pbs_secret: str | None = None

    def on_node(self, node: str) -> bool:
        return self.nodes is None or node in self.nodes

    def can_link_clone(self) -> bool:
        return self.type in {"lvmthin", "zfspool", "rbd"}


DEFAULT_PBS_PORT = 8007


class PbsServer(BaseModel):
    """A simulated Proxmox Backup Server (part of the simulated world, see pve/pbs.py)."""

    server: str
    port: int = DEFAULT_PBS_PORT
    fingerprint: str
    datastores: dict[str, int] = Field(default_factory=dict)  # name -> size in bytes
    tokens: dict[str, str] = Field(default_factory=dict)  # token id -> sha256 of the secret
    reachable: bool = True

    @property
    def address(self) -> str:
        return f"{self.server}:{self.port}"


class Volume(BaseModel):
    volid: str
    storage: str
    node: str
    content: str
    size: int
    format: str = "raw"
    vmid: int | None = None
    ctime: int = 0
    blob: str | None = None  # sha256 of the bytes kept by the simulator (uploads)
    base: str | None = None  # linked clones: the template volume they depend on
    meta: dict[str, Any] = Field(default_factory=dict)  # backups: the guest config


class Vm(BaseModel):
    vmid: int
    node: str
    config: dict[str, ConfigValue]
    pending: dict[str, ConfigValue] = Field(default_factory=dict)
    pending_delete: list[str] = Field(default_factory=list)
    status: Literal["stopped", "running"] = "stopped"
    started_at: float | None = None
    agent_ready_at: float | None = None
    seed: SeedFiles | None = None
    pool: str | None = None
    created_at: float = 0.0
    status_since: float = 0.0  # when ``status`` last changed (for the pvestatd lag)
    prev_status: str = "unknown"
    guest: dict[str, Any] = Field(default_factory=dict)  # free room for guest models
    # snapshot name -> its config (with snaptime, description, vmstate, parent, snapstate)
    snapshots: dict[str, dict[str, ConfigValue]] = Field(default_factory=dict)

    def is_template(self) -> bool:
        return int(self.config.get("template", 0)) == 1

    def name(self) -> str:
        return str(self.config.get("name", f"VM {self.vmid}"))

    def memory_bytes(self) -> int:
        raw = str(self.config.get("memory", "512")).split(",")[0]
        current = raw.split("=", 1)[1] if "=" in raw else raw
        return int(current) * 1024**2

    def vcpus(self) -> int:
        """The CPUs it runs with: ``vcpus`` when set (CPU hotplug), else sockets*cores."""
        return int(self.config.get("vcpus") or self.maxcpus())

    def maxcpus(self) -> int:
        return int(self.config.get("cores", 1)) * int(self.config.get("sockets", 1))

    def lock(self) -> str | None:
        value = self.config.get("lock")
        return str(value) if value is not None else None


class Container(BaseModel):
    """An LXC guest: only what other guests' VMIDs and /cluster/resources need of it (the
    simulator serves no ``/nodes/{node}/lxc`` API; ``POST /_sim/lxc`` creates one)."""

    vmid: int
    node: str
    name: str
    status: Literal["stopped", "running"] = "stopped"
    tags: str = ""


class FlockHold(BaseModel):
    vmid: int
    shared: bool


class Task(BaseModel):
    upid: str
    node: str
    type: str
    id: str
    user: str
    pid: int
    pstart: int
    starttime: int
    start_v: float
    end_v: float
    status: Literal["running", "stopped"] = "running"
    exitstatus: str | None = None
    log: list[str] = Field(default_factory=list)
    done: str = ""  # name of the completion applied when the clock passes end_v
    args: dict[str, Any] = Field(default_factory=dict)
    fail: str | None = None  # error text the task ends with (set up front or by a fault)
    flocks: list[FlockHold] = Field(default_factory=list)


class BackupJob(BaseModel):
    id: str
    settings: dict[str, ConfigValue]
    last_run: float | None = None  # when pvescheduler last started it (creation counts)


class Scheduler(BaseModel):
    """pvescheduler, cluster-wide (see backup_jobs.py): ``PUT /_sim/scheduler`` stops and
    starts it; a start makes its next pass a first run, at the virtual time of the start."""

    running: bool = True
    first_run_at: float | None = None  # a first pass not made yet: when the start was


class Pool(BaseModel):
    poolid: str
    comment: str | None = None
    vms: list[int] = Field(default_factory=list)
    storage: list[str] = Field(default_factory=list)


class TokenDef(BaseModel):
    """An API token ``user@realm!name`` (its secret lives apart, in the secrets file)."""

    tokenid: str
    privsep: bool = False
    expire: int = 0  # epoch seconds; 0 = never
    comment: str | None = None

    @property
    def userid(self) -> str:
        return self.tokenid.split("!", 1)[0]


class UserDef(BaseModel):
    """A user.cfg user."""

    userid: str
    enable: bool = True
    expire: int = 0
    comment: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    email: str | None = None


class AclEntry(BaseModel):
    """One user.cfg ACL line: ``roleid`` granted to a user, group or token on ``path``."""

    path: str
    type: Literal["user", "group", "token"]
    ugid: str
    roleid: str
    propagate: bool = True


def _default_users() -> dict[str, UserDef]:
    return {"root@pam": UserDef(userid="root@pam", comment="")}


class ClusterState(BaseModel):
    clustername: str = "homelab-sim"
    nodes: list[Node]
    storages: list[StorageDef]
    volumes: dict[str, Volume] = Field(default_factory=dict)
    vms: dict[int, Vm] = Field(default_factory=dict)
    tasks: list[Task] = Field(default_factory=list)
    backup_jobs: dict[str, BackupJob] = Field(default_factory=dict)
    scheduler: Scheduler = Field(default_factory=Scheduler)
    pbs_servers: dict[str, PbsServer] = Field(default_factory=dict)  # "server:port" -> it
    pools: dict[str, Pool] = Field(default_factory=dict)
    containers: dict[int, Container] = Field(default_factory=dict)
    # datacenter.cfg as /cluster/options stores it (user-tag-access, registered-tags)
    datacenter: dict[str, str] = Field(default_factory=dict)
    tokens: dict[str, TokenDef] = Field(default_factory=dict)
    users: dict[str, UserDef] = Field(default_factory=_default_users)
    roles: dict[str, list[str]] = Field(default_factory=dict)  # custom roles: id -> privileges
    acl: list[AclEntry] = Field(default_factory=list)
    pve_major: int = 8  # the Proxmox VE major version simulated (8 or 9)
    next_pid: int = 4096
    fingerprint: str | None = None  # of the serving certificate, shown in /nodes
    virtual_now: float = 0.0
    guest_model: dict[str, Any] = Field(default_factory=dict)  # GuestModel.snapshot()
    kube: dict[str, Any] = Field(default_factory=dict)  # KubeRegistry.to_dict()

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.node == name), None)

    def storage(self, name: str) -> StorageDef | None:
        return next((s for s in self.storages if s.storage == name), None)

    def volumes_on(self, node: str, storage: str) -> list[Volume]:
        return [v for v in self.volumes.values() if v.storage == storage and v.node == node]


def volume_key(node: str, storage: StorageDef, volid: str) -> str:
    """Where a volume lives: shared storages have one namespace, local ones one per node."""
    return volid if storage.shared else f"{node}/{volid}"


def config_digest(vm: Vm) -> str:
    """SHA1 of the config file as PVE writes it: current keys, then a [PENDING] section."""
    lines = [f"{key}: {value}" for key, value in vm.config.items()]
    if vm.pending or vm.pending_delete:
        lines.append("\n[PENDING]")
        lines += [f"{key}: {value}" for key, value in vm.pending.items()]
        if vm.pending_delete:
            lines.append(f"delete: {','.join(vm.pending_delete)}")
    return hashlib.sha1("\n".join(lines).encode(), usedforsecurity=False).hexdigest()
