"""The output of rendering: per-VM NoCloud seed files plus the cluster's addon files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

SEED_FILES = ("user-data", "meta-data", "network-config")


@dataclass(frozen=True)
class NodeSeed:
    """The three files of a VM's NoCloud seed (volume label ``cidata``).

    ``user_data`` may hold private keys or the bootstrap token: treat it as secret. The digest
    covers the three files only, never the twin.
    """

    user_data: bytes = field(repr=False)
    meta_data: bytes
    network_config: bytes
    #: the secret-free twin: the same meta-data (instance-id) and network-config, user-data
    #: without keys or tokens; what rests on Proxmox storage once the node joined
    clean: NodeSeed | None = field(default=None, repr=False, compare=False)

    def files(self) -> dict[str, bytes]:
        """File name -> content, in the NoCloud names."""
        contents = (self.user_data, self.meta_data, self.network_config)
        return dict(zip(SEED_FILES, contents, strict=True))


@dataclass(frozen=True)
class Artifacts:
    """Everything rendered for a lab: ``seeds`` by VM name, ``cluster`` files by file name.

    ``macs`` gives, by VM name, the MAC its network-config matches: provisioning must set it
    on the VM's ``net0``, or the guest's network stays unconfigured.
    """

    seeds: dict[str, NodeSeed]
    cluster: dict[str, bytes]
    macs: dict[str, str] = field(default_factory=dict)

    def digest(self, vm: str) -> str:
        """sha256 (hex) over a VM's seed files: changes exactly when its seed changes."""
        return seed_digest(self.seeds[vm])


def seed_digest(seed: NodeSeed) -> str:
    """sha256 over the seed files, each framed by its name and length (no ambiguity)."""
    h = hashlib.sha256()
    for name, content in seed.files().items():
        h.update(f"{name}\0{len(content)}\0".encode())
        h.update(content)
    return h.hexdigest()
