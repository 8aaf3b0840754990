"""What the spec wants on Proxmox, per VM, and every name homelab writes there (one place).

Naming (ARCHITECTURE decision 3, ownership): every VM homelab creates carries the tags
``homelab``, ``lab-<lab>`` and ``role-<role>``, and a description record::

    Managed by homelab (lab home-lab); edits outside homelab may be undone.
    homelab-lab: home-lab
    homelab-template: ubuntu-2404-cloudinit
    homelab-seed: <sha256 of the rendered seed files>
    homelab-digest: <sha256 of the managed settings and the seed>
    homelab-store: <id of the state store that manages the VM>

The store line names the state store (``StateStore.store_id``) whose apply wrote the record, so a
second store (another checkout, a laptop and CI) can tell it does not manage the VM (see
``ownership``). A record without it (written before stores had ids) belongs to any store.

Its NoCloud seed ISO is ``homelab-<lab>-<vm>-<digest[:12]>.iso`` on ``proxmox.iso_storage``;
once the VM's node joined the cluster, ``homelab up`` replaces it with its secret-free twin
``homelab-<lab>-<vm>-<digest[:12]>-clean.iso`` (same meta-data, so the same instance-id:
cloud-init never runs again; the same network-config; user-data without keys or tokens). Either
of the two means "the VM's seed is in place"; any other seed ISO of the VM is superseded. As the
digest covers every managed setting and the seed, a VM whose tags, power state, resources and seed
ISO name match needs no config read to be declared unchanged: that keeps a no-op plan at
1 + (Proxmox nodes) requests. The Proxmox node is not part of the digest: a VM without a pinned node
stays where it is even when round-robin placement of the spec would now pick another node.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict

from homelab.core.spec.models import LabSpec

OWNER_TAG = "homelab"
LAB_TAG_PREFIX = "lab-"
ROLE_TAG_PREFIX = "role-"
SEED_DRIVE = "ide2"
SEED_PREFIX = "homelab-"
CLEAN_SUFFIX = "-clean"
"""What a secret-free twin's name adds to its seed's stem."""
DIGEST_IN_NAME = 12
RECORD_PREFIX = "homelab-"
ADOPTED_SEED = "none"
"""The seed an adopted VM's record names: homelab never seeded it."""
_REQUIRED_KEYS = ("lab", "template", "seed", "digest")
_RECORD_KEYS = (*_REQUIRED_KEYS, "store", "adopted")
_HEX = frozenset("0123456789abcdef")
_HEADER = "Managed by homelab"


class PlanInputError(ValueError):
    """The plan's inputs do not fit together (e.g. a VM without a seed digest): a caller bug."""


class DescriptionRecord(BaseModel):
    """What homelab wrote into a VM's description: lab, template, seed digest, settings digest,
    the state store managing it ("" in a record written before stores had ids), and whether the
    VM was adopted (its first boot was not homelab's: its seed is never replaced, and it is
    restarted only when the user says so)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lab: str
    template: str
    seed: str
    digest: str
    store: str = ""
    adopted: bool = False


@dataclass(frozen=True)
class DesiredVm:
    """One VM as the spec wants it, with the names and digests homelab puts on Proxmox."""

    name: str
    lab: str
    role: str
    node: str
    node_pinned: bool
    vmid: int | None
    cores: int
    memory_mib: int
    disk_gib: int
    bridge: str
    vlan: int | None
    ip: str
    template: str
    storage: str
    iso_storage: str
    clone: str
    onboot: bool
    agent: bool
    tags: tuple[str, ...]
    seed_digest: str
    digest: str
    store: str = ""
    adopted: bool = False
    #: the spec's hotplug features ("cpu", "memory"), sorted; max_cores: PVE's cores with cpu
    hotplug: tuple[str, ...] = ()
    max_cores: int | None = None

    @property
    def topology_cores(self) -> int:
        """PVE's ``cores``: the most the VM can run (``vcpus`` of them run with CPU hotplug)."""
        if "cpu" in self.hotplug:
            return max(self.max_cores or self.cores, self.cores)
        return self.cores

    @property
    def seed_volume(self) -> str:
        return seed_volume_name(self.lab, self.name, self.digest)

    @property
    def seed_volid(self) -> str:
        return seed_volid(self.iso_storage, self.seed_volume)

    @property
    def clean_volume(self) -> str:
        """The name of the seed's secret-free twin."""
        return clean_volume_name(self.seed_volume)

    @property
    def clean_volid(self) -> str:
        return seed_volid(self.iso_storage, self.clean_volume)

    def seed_in_place(self, volid: str) -> bool:
        """Whether ``volid`` is this VM's current seed or its secret-free twin."""
        return volid in (self.seed_volid, self.clean_volid)

    def settings(self) -> dict[str, object]:
        """What the settings digest covers (the seed: none for an adopted VM)."""
        return {
            "lab": self.lab,
            "name": self.name,
            "role": self.role,
            "cores": self.cores,
            "memory_mib": self.memory_mib,
            "disk_gib": self.disk_gib,
            "bridge": self.bridge,
            "vlan": self.vlan,
            "template": self.template,
            "onboot": self.onboot,
            "agent": self.agent,
            "seed": ADOPTED_SEED if self.adopted else self.seed_digest,
            **self._hotplug_settings(),
        }

    def _hotplug_settings(self) -> dict[str, object]:
        """Only when set, so a VM without hotplug keeps the digest it had before."""
        if not self.hotplug:
            return {}
        return {"hotplug": list(self.hotplug), "max_cores": self.topology_cores}

    def adopt(self) -> DesiredVm:
        """This VM as an adopted one: no seed of homelab's, in its record or its digest."""
        adopted = replace(self, adopted=True)
        return replace(adopted, digest=settings_digest(adopted.settings()))

    @property
    def record(self) -> DescriptionRecord:
        return DescriptionRecord(
            lab=self.lab,
            template=self.template,
            seed=ADOPTED_SEED if self.adopted else self.seed_digest,
            digest=self.digest,
            store=self.store,
            adopted=self.adopted,
        )

    @property
    def description(self) -> str:
        return description_text(self.record)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        data["hotplug"] = list(self.hotplug)
        if not self.hotplug:  # saved plans of VMs without hotplug read as before
            del data["hotplug"], data["max_cores"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DesiredVm:
        return cls(
            **{**data, "tags": tuple(data["tags"]), "hotplug": tuple(data.get("hotplug", ()))}
        )


# ---- tags -------------------------------------------------------------------------------------


def lab_tag(lab: str) -> str:
    return f"{LAB_TAG_PREFIX}{lab}".lower()


def role_tag(role: str) -> str:
    return f"{ROLE_TAG_PREFIX}{role}".lower()


def managed_tags(lab: str, role: str) -> tuple[str, ...]:
    """The tags homelab sets, sorted as PVE stores them."""
    return tuple(sorted({OWNER_TAG, lab_tag(lab), role_tag(role)}))


def is_managed_tag(tag: str) -> bool:
    """Tags homelab owns; any other tag on a VM is the user's and is left alone."""
    lower = tag.lower()
    return lower == OWNER_TAG or lower.startswith((LAB_TAG_PREFIX, ROLE_TAG_PREFIX))


def managed_subset(tags: tuple[str, ...]) -> tuple[str, ...]:
    """homelab's tags among ``tags``, lower case and sorted (comparable with managed_tags)."""
    return tuple(sorted({tag.lower() for tag in tags if is_managed_tag(tag)}))


# ---- seed ISO and description -----------------------------------------------------------------


def seed_volume_name(lab: str, vm: str, digest: str) -> str:
    """``homelab-<lab>-<vm>-<digest12>.iso``."""
    return f"{seed_owner(lab, vm)}-{digest[:DIGEST_IN_NAME]}.iso"


def clean_volume_name(seed_volume: str) -> str:
    """``homelab-<lab>-<vm>-<digest12>.iso`` -> ``homelab-<lab>-<vm>-<digest12>-clean.iso``."""
    stem, _, ext = seed_volume.rpartition(".")
    return f"{stem}{CLEAN_SUFFIX}.{ext}"


def is_clean_volume(filename: str) -> bool:
    """Whether a seed ISO name is a secret-free twin's."""
    return seed_owner_of(filename) is not None and filename.endswith(f"{CLEAN_SUFFIX}.iso")


def seed_volid(iso_storage: str, filename: str) -> str:
    """``local`` + ``x.iso`` -> ``local:iso/x.iso``."""
    return f"{iso_storage}:iso/{filename}"


def seed_owner(lab: str, vm: str) -> str:
    """The part of a seed ISO name that names its VM: ``homelab-<lab>-<vm>``."""
    return f"{SEED_PREFIX}{lab}-{vm}"


def seed_owner_of(filename: str) -> str | None:
    """``homelab-<lab>-<vm>-<digest12>.iso`` (or its twin, ``...-<digest12>-clean.iso``) ->
    ``homelab-<lab>-<vm>``; None for other files. A seed's stem always ends in 12 hex digits,
    so ``-clean`` after them cannot be part of a VM's name: the two never collide."""
    stem, dot, ext = filename.rpartition(".")
    stem = stem.removesuffix(CLEAN_SUFFIX)
    owner, dash, digest = stem.rpartition("-")
    if (dot, ext, dash) != (".", "iso", "-") or not owner.startswith(SEED_PREFIX):
        return None
    if len(digest) != DIGEST_IN_NAME or not set(digest) <= _HEX:
        return None
    return owner


def is_seed_volume_of(lab: str, vm: str, filename: str) -> bool:
    """Whether an ISO file name is a seed ISO of this lab's VM (any digest)."""
    return seed_owner_of(filename) == seed_owner(lab, vm)


def description_text(record: DescriptionRecord, notes: str = "") -> str:
    """The description homelab writes on a VM it owns; the user's own ``notes`` follow it."""
    lines = [f"{_HEADER} (lab {record.lab}); edits outside homelab may be undone."]
    lines += [
        f"{RECORD_PREFIX}{key}: {getattr(record, key)}"
        for key in _RECORD_KEYS
        if getattr(record, key)
    ]
    return "\n".join(lines) + (f"\n\n{notes}" if notes else "")


def user_notes(text: str | None) -> str:
    """What a user wrote in a description, without homelab's header and record lines."""
    kept = [
        line
        for line in (text or "").splitlines()
        if not line.startswith(_HEADER) and not _is_record_line(line)
    ]
    return "\n".join(kept).strip()


def _is_record_line(line: str) -> bool:
    key, sep, _ = line.strip().partition(":")
    return bool(sep) and key.startswith(RECORD_PREFIX) and key[len(RECORD_PREFIX) :] in _RECORD_KEYS


def parse_description_record(text: str) -> DescriptionRecord | None:
    """Read the ``homelab-<key>: <value>`` lines back; None unless lab, template, seed and digest
    are there (the store line is optional)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        name = key.strip()[len(RECORD_PREFIX) :]
        if sep and key.strip().startswith(RECORD_PREFIX) and name in _RECORD_KEYS:
            found.setdefault(name, value.strip())
    if not set(_REQUIRED_KEYS) <= set(found):
        return None
    return DescriptionRecord(**found)


# ---- digests ----------------------------------------------------------------------------------


def sha256_json(value: object) -> str:
    """A stable SHA-256 of a JSON-able value (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def settings_digest(settings: Mapping[str, object]) -> str:
    return sha256_json(dict(settings))


def spec_digest(spec: LabSpec, seed_digests: Mapping[str, str]) -> str:
    """The digest of everything a plan was made from on the desired side. An optional section
    the spec leaves out counts as absent, so adding one to the model keeps old digests."""
    dumped = {k: v for k, v in spec.model_dump(mode="json").items() if v is not None}
    for vm in dumped["vms"].values():  # VM fields added later count as absent when unset
        for key, unset in (("hotplug", []), ("max_cores", None)):
            if vm.get(key) == unset:
                vm.pop(key, None)
    return sha256_json({"spec": dumped, "seeds": dict(seed_digests)})


# ---- the desired VMs --------------------------------------------------------------------------


def desired_vms(
    spec: LabSpec, seed_digests: Mapping[str, str], *, store: str = ""
) -> dict[str, DesiredVm]:
    """Every spec VM as it should exist on Proxmox, in spec order; ``store`` is the id of the
    state store that manages them, recorded on each ("": none, as in pure tests)."""
    missing = [name for name in spec.vms if name not in seed_digests]
    if missing:
        raise PlanInputError(f"no seed digest for VM(s) {', '.join(missing)}")
    nodes = placement(spec)
    return {
        name: desired_vm(spec, name, seed_digests[name], nodes[name], store) for name in spec.vms
    }


def placement(spec: LabSpec) -> dict[str, str]:
    """Every VM's node, as ``LabSpec.node_of`` places it (in one pass, not one per VM)."""
    nodes, unpinned = {}, 0
    for name, vm in spec.vms.items():
        if vm.node is not None:
            nodes[name] = vm.node
        else:
            nodes[name] = spec.proxmox.nodes[unpinned % len(spec.proxmox.nodes)]
            unpinned += 1
    return nodes


def desired_vm(spec: LabSpec, name: str, seed_digest: str, node: str, store: str = "") -> DesiredVm:
    vm = spec.vms[name]
    network = spec.networks[vm.network]
    want = DesiredVm(
        name=name,
        lab=spec.name,
        role=vm.role,
        node=node,
        node_pinned=vm.node is not None,
        vmid=vm.vmid,
        cores=vm.cores,
        memory_mib=vm.memory,
        disk_gib=vm.disk,
        bridge=network.bridge,
        vlan=network.vlan,
        ip=str(vm.ip),
        template=str(spec.proxmox.template),
        storage=spec.proxmox.storage,
        iso_storage=spec.proxmox.iso_storage,
        clone=spec.proxmox.clone,
        onboot=vm.onboot,
        agent=True,
        tags=managed_tags(spec.name, vm.role),
        seed_digest=seed_digest,
        digest="",
        store=store,
        hotplug=tuple(sorted(set(vm.hotplug))),
        max_cores=vm.max_cores,
    )
    return replace(want, digest=settings_digest(want.settings()))
