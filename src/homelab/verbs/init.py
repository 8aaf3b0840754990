"""`homelab init`: a first spec to start from, the reference lab with its comments, or a
starter spec read from a Proxmox VE cluster (``--from-proxmox``).

The reference lab is ``examples/home-lab.yaml`` (shipped in the package), with the lab's name
and the user's own SSH public key put in: the first of ``~/.ssh/id_ed25519.pub``,
``id_ecdsa.pub``, ``id_rsa.pub``, or the file given. From Proxmox, ``read_inventory`` reads the
nodes, storages, bridges, templates and guests (a read-only token is enough: PVEAuditor) and
``homelab.core.onboarding.from_proxmox`` writes the spec. Either way the written spec is loaded
and validated before the command says it is done, and an existing file is never overwritten.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from importlib import resources
from pathlib import Path

from homelab.core.onboarding.from_proxmox import Inventory, Starter, VmFacts, starter_spec
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ENV_ENDPOINT, ENV_FINGERPRINT, resolve_settings
from homelab.engine.proxmox.errors import NotFoundError
from homelab.engine.proxmox.privileges import TOKEN_ID
from homelab.errors import LabError
from homelab.verbs.spec import check_lab_name, refuse_existing, write_new_spec

__all__ = [
    "DEFAULT_KEYS",
    "init_from_proxmox",
    "read_inventory",
    "reference_lab_text",
    "write_from_proxmox",
    "write_reference_lab",
]

DEFAULT_KEYS = ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub")
_EXAMPLE_KEY = re.compile(r'ssh_authorized_keys: \["[^"]*"\]')


def reference_lab_text() -> str:
    """The reference lab as shipped (the same text as ``examples/home-lab.yaml``)."""
    return resources.files("homelab.verbs").joinpath("templates/home-lab.yaml").read_text("utf-8")


def _public_key(path: Path | None) -> str:
    candidates = [path] if path is not None else [Path.home() / ".ssh" / n for n in DEFAULT_KEYS]
    for candidate in candidates:
        try:
            text = candidate.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise LabError(f"cannot read the SSH public key {candidate}: {exc}") from exc
        if text.startswith("-----BEGIN") or "PRIVATE KEY" in text:
            raise LabError(f"{candidate} holds a private key; give the .pub file")
        return text.splitlines()[0]
    raise LabError(
        "no SSH public key found (~/.ssh/id_ed25519.pub, id_ecdsa.pub or id_rsa.pub)",
        hint="pass --ssh-key FILE, or make one with: ssh-keygen -t ed25519",
    )


def write_reference_lab(out: Path, *, name: str = "home-lab", ssh_key: Path | None = None) -> Path:
    """Write the reference lab to ``out`` (a new file) for lab ``name``; returns ``out``."""
    check_lab_name(name)
    key = _public_key(ssh_key)
    text = reference_lab_text().replace("name: home-lab\n", f"name: {name}\n", 1)
    text = _EXAMPLE_KEY.sub(lambda _m: f"ssh_authorized_keys: [{_quoted(key)}]", text, count=1)
    write_new_spec(out, text)
    return out


def _kubernetes_block() -> str:
    """The reference lab's ``kubernetes:`` section, comments and all."""
    lines = reference_lab_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("kubernetes:"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith((" ", "#")))
    return "".join(lines[start:end])


def read_inventory(client: PveClient) -> Inventory:
    """What ``init --from-proxmox`` needs of the cluster, read (only) through ``client``."""
    version = client.version()
    resources = client.cluster_resources()
    storages = client.storage_configs()
    bridges = {node: client.node_bridges(node) for node in sorted(resources.capacities)}
    guests = []
    for vm in resources.vms:
        if vm.node not in resources.capacities:
            guests.append(VmFacts(vm))  # on an offline node: its config cannot be read
            continue
        try:
            raw, config = client.vm_config(vm.node, vm.vmid)
        except NotFoundError:
            continue  # destroyed while we read
        cloudinit = any(
            "cloudinit" in str(value) for key, value in raw.items() if key[:3] in _DRIVE_BUSES
        )
        guests.append(
            VmFacts(
                vm.model_copy(update={"config": config}),
                ipconfig0=str(raw["ipconfig0"]) if raw.get("ipconfig0") else None,
                has_cloudinit=cloudinit,
            )
        )
    settings = client.settings
    return Inventory(
        endpoint=settings.endpoint,
        version=version,
        capacities=resources.capacities,
        storages=storages,
        bridges=bridges,
        guests=tuple(sorted(guests, key=lambda g: g.vm.vmid)),
        guest_vmids=resources.guest_vmids,
        fingerprint=settings.fingerprint,
    )


_DRIVE_BUSES = ("ide", "sat", "scs", "vir")


def write_from_proxmox(
    client: PveClient, out: Path, *, name: str = "home-lab", ssh_key: Path | None = None
) -> Starter:
    """Read the cluster behind ``client`` and write its starter spec to ``out`` (a new file)."""
    check_lab_name(name)
    key = _public_key(ssh_key)
    refuse_existing(out)
    inventory = read_inventory(client)
    try:
        starter = starter_spec(
            inventory, name=name, token_id=TOKEN_ID, ssh_key=key, kubernetes=_kubernetes_block()
        )
    except ValueError as exc:
        raise LabError(f"cannot write a starter spec: {exc}") from None
    notes = list(starter.notes)
    if not any(inventory.bridges.values()):
        notes.append(
            "no bridge was visible: the token needs SDN.Audit to see them (PVEAuditor has it)"
        )
    write_new_spec(out, starter.text)
    return replace(starter, notes=tuple(notes))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def init_from_proxmox(
    out: Path,
    *,
    name: str = "home-lab",
    ssh_key: Path | None = None,
    endpoint: str | None = None,
    fingerprint: str | None = None,
) -> Starter:
    """``write_from_proxmox`` on the cluster the environment names (PROXMOX_VE_ENDPOINT,
    PROXMOX_VE_API_TOKEN, PROXMOX_VE_FINGERPRINT or PROXMOX_VE_CA_BUNDLE); ``endpoint`` and
    ``fingerprint`` override the environment's."""
    env = dict(os.environ)
    if endpoint:
        env[ENV_ENDPOINT] = endpoint
    if fingerprint:
        env[ENV_FINGERPRINT] = fingerprint
    with PveClient(resolve_settings(None, env)) as client:
        return write_from_proxmox(client, out, name=name, ssh_key=ssh_key)
