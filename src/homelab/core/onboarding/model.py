"""One VM as a Terraform provider describes it, in the terms of homelab's spec. Pure.

The provider readers (``telmate``, ``bpg``) fill an ``ImportedVm`` from a resource's attributes:
what the spec can say (name, node, VMID, cores, memory, boot disk, NIC, IPv4 address...), the
settings homelab's plan will see differently (``onboot``, ``agent``, ``sockets``, power state:
homelab wants them on, on, 1 and running), what the spec cannot say (``unmapped``, with the
value), the secrets left out (``secrets``: attribute names only, never values), and ``problem``
when the VM cannot be written as a spec VM at all (no static IPv4 address, no name...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface

__all__ = ["Attr", "Difference", "ImportedVm"]


@dataclass(frozen=True)
class Attr:
    """An attribute the spec does not carry, its value as short text, and what becomes of it."""

    path: str
    value: str
    note: str

    def text(self) -> str:
        return f"{self.path} = {self.value} ({self.note})"


@dataclass(frozen=True)
class Difference:
    """A setting of the VM that homelab's plan will change after the adopt, and why."""

    key: str
    now: str
    then: str
    restart: bool
    why: str

    def text(self) -> str:
        restart = "; needs a restart (adopted VMs: --restart-adopted)" if self.restart else ""
        return f"{self.key} {self.now} -> {self.then} ({self.why}{restart})"


@dataclass
class ImportedVm:
    """What the importer made of one VM resource instance."""

    address: str
    provider: str
    name: str | None = None
    node: str | None = None
    vmid: int | None = None
    cores: int = 1
    sockets: int = 1
    memory_mib: int = 512
    disk_gib: int | None = None
    disk_slot: str | None = None
    storage: str | None = None
    bridge: str | None = None
    vlan: int | None = None
    ipv4: IPv4Interface | None = None
    ip_source: str = ""
    gateway: IPv4Address | None = None
    dns: list[IPv4Address] = field(default_factory=list)
    search_domains: list[str] = field(default_factory=list)
    ssh_keys: list[str] = field(default_factory=list)
    user: str | None = None
    template: str | int | None = None
    full_clone: bool = True
    tags: list[str] = field(default_factory=list)
    onboot: bool = True
    agent: bool = True
    running: bool = True
    unmapped: list[Attr] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def cannot(self, reason: str) -> None:
        """Mark the VM as one the spec cannot hold, for ``reason`` (each reason once)."""
        if reason not in self.problems:
            self.problems.append(reason)

    @property
    def problem(self) -> str | None:
        """Why the spec cannot hold the VM (every reason), or None when it can."""
        return "; ".join(self.problems) if self.problems else None

    @property
    def vcpus(self) -> int:
        return self.cores * self.sockets

    def differences(self) -> list[Difference]:
        """What homelab's plan will change on this VM once adopted (the spec cannot say
        otherwise: homelab runs every VM with one socket and the guest agent, and starts it)."""
        found: list[Difference] = []
        if self.sockets != 1:
            found.append(
                Difference(
                    "sockets",
                    str(self.sockets),
                    "1",
                    True,
                    f"homelab gives a VM one socket; cores {self.cores} -> {self.vcpus} keeps "
                    f"its {self.vcpus} vCPUs",
                )
            )
        if not self.agent:
            found.append(
                Difference("agent", "off", "on", True, "homelab needs the QEMU guest agent")
            )
        if not self.running:
            found.append(Difference("state", "stopped", "running", False, "homelab runs every VM"))
        return found
