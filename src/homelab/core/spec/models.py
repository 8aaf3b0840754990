"""The lab spec as pydantic models: the one contract every layer reads.

Models check types and shapes only (each field on its own). Rules that relate fields to
each other (overlaps, IPs inside networks, quorum...) live in validate.py, which reports
them all at once with their positions. Models are frozen; dicts keep the YAML order.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
    field_validator,
)

from homelab.core.spec.backup import BackupSpec, RoleSelector
from homelab.core.spec.monitoring import MonitoringSpec
from homelab.core.spec.opnsense import OpnsenseSpec
from homelab.core.spec.units import DISK_MAX_GIB, MEMORY_MAX_MIB, parse_disk_gib, parse_memory_mib

SUPPORTED_K8S_MINORS = tuple(f"1.{minor}" for minor in range(29, 38))  # 1.29 ... 1.37

# Bounds taken from the real systems (facts in ../shared/pve-api/):
# - cores: qemu-server's schema has `cores` >= 1 and no maximum (apidoc.json, POST
#   /nodes/{node}/qemu/{vmid}/config); at start it refuses more vCPUs than the node has
#   ("MAX n vcpus allowed per VM on this node"), which the plan checks against the node
#   (core/plan/capacity.py). Statically: pve-manager's CPU dialog (www/manager6/qemu/
#   ProcessorEdit.js) offers at most 256 cores per socket, and the tool uses one socket.
# - memory and disk: see units.py (16 MiB..4 TiB from qemu-server; disk <= 128 TiB).
# - vmid: pve-vmid, 100..999999999 (apidoc.json, `vmid` of POST /nodes/{node}/qemu).
# - vlan: an 802.1Q VLAN id is 1..4094 (0 and 4095 are reserved; PVE's `tag` is 1..4094).
# - mtu: the guest's MTU (netplan): 576, the IPv4 datagram every host must accept (RFC 791),
#   to 9216, the largest jumbo frame common switches carry (PVE's NIC `mtu` allows 1..65520).
CORES_MAX = 256
VMID_MIN, VMID_MAX = 100, 999_999_999
VLAN_MIN, VLAN_MAX = 1, 4094
MTU_MIN, MTU_MAX = 576, 9216

_SIZE_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": r"^\d+(\.\d+)?\s*([KMGT]i?B?|[kmgt]i?b?|[Bb])?$"},
    ]
}

MemoryMiB = Annotated[
    int,
    BeforeValidator(parse_memory_mib),
    WithJsonSchema(
        {
            **_SIZE_SCHEMA,
            "description": f"MiB as an integer, or with a unit: 4GiB, 4G; at most {MEMORY_MAX_MIB}",
        }
    ),
]
DiskGiB = Annotated[
    int,
    BeforeValidator(parse_disk_gib),
    WithJsonSchema(
        {
            **_SIZE_SCHEMA,
            "description": f"GiB as an integer, or with a unit: 32GiB; at most {DISK_MAX_GIB}",
        }
    ),
]


def _written_as_text(value: object) -> object:
    """Addresses and networks must be written as text: YAML's 10 or false is not an address."""
    if not isinstance(value, str | IPv4Address | IPv4Network):
        raise ValueError("expected an address written as text, e.g. 10.0.20.10 or 10.0.20.0/24")
    return value


# The models are strict (no boolean or text read as a number); an address is the one value
# parsed from text, after _written_as_text has made sure it is text.
IpAddress = Annotated[IPv4Address, Strict(False), BeforeValidator(_written_as_text)]
IpNetwork = Annotated[IPv4Network, Strict(False), BeforeValidator(_written_as_text)]


TOKEN_ID_RE = r"^[A-Za-z0-9._@-]+@[A-Za-z0-9._-]+![A-Za-z][A-Za-z0-9._-]*$"  # noqa: S105  (a pattern, not a password)
FINGERPRINT_RE = r"^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$"
# Digits are bounded so that turning them into numbers is cheap and cannot fail.
RANGE_RE = r"^\s*(\d{1,12})\s*-\s*(\d{1,12})\s*$"
IP_RANGE_RE = (
    r"^\s*(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\s*-\s*(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\s*$"
)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False, strict=True)


class ProxmoxSpec(Model):
    """Where and how to reach Proxmox VE, and what to build VMs from."""

    endpoint: Annotated[
        str,
        Field(
            pattern=r"^https://[^\s/]+(:\d+)?/?$",
            description="https://HOST:8006; env PROXMOX_VE_ENDPOINT wins",
        ),
    ]
    token_id: Annotated[
        str,
        Field(
            pattern=TOKEN_ID_RE,
            description="user@realm!tokenid; the secret comes from env PROXMOX_VE_API_TOKEN only",
        ),
    ]
    fingerprint: Annotated[
        str | None,
        Field(pattern=FINGERPRINT_RE, description="SHA-256 pin of the PVE certificate (AB:CD:...)"),
    ] = None
    ca_bundle: Annotated[
        str | None, Field(description="path to a CA bundle that signs the PVE certificate")
    ] = None
    nodes: Annotated[list[str], Field(min_length=1, description="Proxmox node names")]
    template: Annotated[str | int, Field(description="name or vmid of the cloud-init template")]
    storage: str = "local-lvm"
    iso_storage: str = "local"
    vmid_range: Annotated[str, Field(pattern=RANGE_RE, description="first-last, e.g. 200-299")]
    clone: Literal["full", "linked"] = "full"

    @property
    def vmids(self) -> range:
        match = re.match(RANGE_RE, self.vmid_range)
        assert match is not None  # guaranteed by the field pattern
        return range(int(match.group(1)), int(match.group(2)) + 1)


class NetworkSpec(Model):
    """A network the VMs sit on. The VLAN tag is set on the Proxmox NIC."""

    vlan: Annotated[
        int | None,
        Field(ge=VLAN_MIN, le=VLAN_MAX, description="VLAN id 1-4094; null for untagged"),
    ] = None
    cidr: IpNetwork
    gateway: IpAddress
    bridge: str = "vmbr0"
    dns: list[IpAddress] = Field(default_factory=list)
    search_domains: list[str] = Field(default_factory=list)
    mtu: Annotated[int | None, Field(ge=MTU_MIN, le=MTU_MAX)] = None


class LoadBalancerSpec(Model):
    """The LoadBalancer address pool (MetalLB, L2 mode)."""

    addresses: Annotated[
        str, Field(pattern=IP_RANGE_RE, description="first-last, e.g. 10.0.20.200-10.0.20.250")
    ]

    @field_validator("addresses")
    @classmethod
    def _both_ends_are_addresses(cls, value: str) -> str:
        match = re.match(IP_RANGE_RE, value)
        for end in match.groups() if match else ():
            try:
                IPv4Address(end)
            except ValueError:
                raise ValueError(f"'{end}' is not an IPv4 address") from None
        return value

    @property
    def first(self) -> IPv4Address:
        return IPv4Address(self._bounds()[0])

    @property
    def last(self) -> IPv4Address:
        return IPv4Address(self._bounds()[1])

    def _bounds(self) -> tuple[str, str]:
        match = re.match(IP_RANGE_RE, self.addresses)
        assert match is not None  # guaranteed by the field pattern
        return match.group(1), match.group(2)


class KubernetesSpec(Model):
    """The kubeadm cluster built on the VMs."""

    version: Annotated[str, Field(description="full x.y.z, e.g. 1.29.15")]
    pod_cidr: IpNetwork = IPv4Network("192.168.0.0/16")
    service_cidr: IpNetwork = IPv4Network("10.96.0.0/12")
    cni: Literal["calico"] = "calico"
    load_balancer: LoadBalancerSpec | None = None
    control_plane_endpoint: Annotated[
        IpAddress | None, Field(description="VIP; required with more than one control plane")
    ] = None
    cluster_domain: str = "cluster.local"

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


class VmSpec(Model):
    """One VM of the lab and its place in the cluster."""

    role: Literal["control-plane", "worker"]
    cores: Annotated[int, Field(ge=1, le=CORES_MAX)] = 2
    memory: MemoryMiB = 4096
    disk: DiskGiB = 32
    network: str
    ip: IpAddress
    node: Annotated[
        str | None, Field(description="Proxmox node; default: spread over proxmox.nodes")
    ] = None
    vmid: Annotated[
        int | None,
        Field(ge=VMID_MIN, le=VMID_MAX, description="pin a VMID; default: from vmid_range"),
    ] = None
    onboot: Annotated[
        bool, Field(description="start the VM when its Proxmox node boots (PVE's onboot)")
    ] = True
    hotplug: Annotated[
        list[Literal["cpu", "memory"]],
        Field(
            description="grow cores (cpu) and memory of the running VM without a restart or "
            "drain; enabling it takes one drained restart"
        ),
    ] = Field(default_factory=list)
    max_cores: Annotated[
        int | None,
        Field(
            ge=1,
            le=CORES_MAX,
            description="with hotplug: [cpu], the most cores the VM can grow to without a "
            "restart (PVE's cores; the VM runs `cores` of them as vcpus); default: cores",
        ),
    ] = None


class AccessSpec(Model):
    """The login user cloud-init creates on every VM."""

    user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "ubuntu"
    ssh_authorized_keys: list[str] = Field(default_factory=list)


class LabSpec(Model):
    """A whole lab: Proxmox, networks, the Kubernetes cluster and its VMs."""

    name: Annotated[str, Field(description="lab name; an RFC 1123 label")]
    proxmox: ProxmoxSpec
    networks: Annotated[dict[str, NetworkSpec], Field(min_length=1)]
    kubernetes: KubernetesSpec
    vms: Annotated[dict[str, VmSpec], Field(min_length=1)]
    access: AccessSpec = AccessSpec()
    monitoring: MonitoringSpec | None = None
    backup: BackupSpec | None = None
    opnsense: OpnsenseSpec | None = None

    @property
    def control_planes(self) -> list[str]:
        return [name for name, vm in self.vms.items() if vm.role == "control-plane"]

    @property
    def workers(self) -> list[str]:
        return [name for name, vm in self.vms.items() if vm.role == "worker"]

    def backup_vms(self, job: str) -> list[str]:
        """The VMs (spec order) that backup job ``job`` covers; unknown names are left out."""
        assert self.backup is not None
        chosen = self.backup.jobs[job].vms
        if chosen == "all":
            return list(self.vms)
        if isinstance(chosen, RoleSelector):
            return [name for name, vm in self.vms.items() if vm.role == chosen.role]
        return [name for name in self.vms if name in chosen]

    def node_of(self, vm_name: str) -> str:
        """The Proxmox node a VM lives on: its own, or round-robin over proxmox.nodes."""
        vm = self.vms[vm_name]
        if vm.node is not None:
            return vm.node
        unpinned = [name for name, v in self.vms.items() if v.node is None]
        return self.proxmox.nodes[unpinned.index(vm_name) % len(self.proxmox.nodes)]

    def api_endpoint(self) -> IPv4Address:
        """The control-plane endpoint: the VIP, else the first control plane's IP."""
        if self.kubernetes.control_plane_endpoint is not None:
            return self.kubernetes.control_plane_endpoint
        return self.vms[self.control_planes[0]].ip
