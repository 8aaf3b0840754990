"""Semantic checks on names, references, the cluster's shape, sizes, VMIDs and access.

Each check is a small generator over one concern yielding ``Problem``s; ``ALL_CHECKS`` lists
every check (the address checks live in checks_network.py). They run only on a spec that passed
model validation, and all of them run, so a user sees every problem at once. Pure.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Callable, Iterator

from homelab.core.spec import checks_backup, checks_network, opnsense
from homelab.core.spec.findings import Problem, error, warning
from homelab.core.spec.models import SUPPORTED_K8S_MINORS, VMID_MAX, VMID_MIN, LabSpec

Check = Callable[[LabSpec], Iterator[Problem]]

HOSTNAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
PVE_NODE_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
STORAGE_ID_RE = re.compile(r"^[a-z][a-z0-9._-]*[a-z0-9]$", re.IGNORECASE)
BRIDGE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")
VERSION_RE = re.compile(r"^(\d{1,9})\.(\d{1,9})\.(\d{1,9})$")
MIN_MEMORY_MIB = 2048
MIN_CONTROL_PLANE_CORES = 2
STATIC_MEMORY_MIB = 1024  # qemu-server's $STATICMEM: the memory a hotplug VM boots with
RESERVED_USERS = frozenset({"root", "daemon", "bin", "sys", "nobody", "syslog", "systemd-network"})
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
)


def _hostname_fix(name: str) -> str:
    fixed = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return f" (try '{fixed}')" if fixed and fixed != name else ""


def check_lab_name(spec: LabSpec) -> Iterator[Problem]:
    """The lab name is an RFC 1123 label, so it works as a hostname part and in tag lab-<name>."""
    if not HOSTNAME_RE.match(spec.name):
        yield error(
            ("name",),
            f"'{spec.name}' is not a valid lab name: use lowercase letters, digits and '-', "
            f"start and end with a letter or digit, at most 63{_hostname_fix(spec.name)}",
        )


def check_vm_names(spec: LabSpec) -> Iterator[Problem]:
    """VM names are RFC 1123 hostnames (they become the hostname and the Kubernetes node name)."""
    for name in spec.vms:
        if not HOSTNAME_RE.match(name):
            yield error(
                ("vms", name),
                f"'{name}' is not a valid hostname: use lowercase letters, digits and '-', "
                f"start and end with a letter or digit, at most 63{_hostname_fix(name)}",
                on_key=True,
            )


def check_proxmox_nodes(spec: LabSpec) -> Iterator[Problem]:
    """Proxmox node names are valid host names and listed once."""
    seen: set[str] = set()
    for index, node in enumerate(spec.proxmox.nodes):
        path = ("proxmox", "nodes", index)
        if not PVE_NODE_RE.match(node):
            yield error(path, f"'{node}' is not a valid Proxmox node name")
        elif node in seen:
            yield error(path, f"node '{node}' is listed twice")
        seen.add(node)


def _closest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, 1, 0.6)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(choices)})"


def check_references(spec: LabSpec) -> Iterator[Problem]:
    """Every VM's network and Proxmox node exist."""
    networks, nodes = list(spec.networks), list(spec.proxmox.nodes)
    for name, vm in spec.vms.items():
        if vm.network not in spec.networks:
            yield error(
                ("vms", name, "network"),
                f"unknown network '{vm.network}'{_closest(vm.network, networks)}",
            )
        if vm.node is not None and vm.node not in nodes:
            yield error(
                ("vms", name, "node"),
                f"'{vm.node}' is not in proxmox.nodes{_closest(vm.node, nodes)}",
            )


def check_control_planes(spec: LabSpec) -> Iterator[Problem]:
    """At least one control plane; an even number weakens etcd's quorum."""
    count = len(spec.control_planes)
    if count == 0:
        yield error(("vms",), "the lab has no control plane: give one VM role: control-plane")
    elif count % 2 == 0:
        yield warning(
            ("vms", spec.control_planes[-1], "role"),
            f"{count} control planes: etcd tolerates no more failures than with {count - 1}; "
            "use an odd number",
        )


def check_node_sizes(spec: LabSpec) -> Iterator[Problem]:
    """kubeadm's preflight minimums: 2 GiB per node, 2 cores per control plane."""
    for name, vm in spec.vms.items():
        if vm.memory < MIN_MEMORY_MIB:
            yield error(
                ("vms", name, "memory"),
                f"{vm.memory} MiB is below kubeadm's minimum of 2 GiB per node",
            )
        if vm.role == "control-plane" and vm.cores < MIN_CONTROL_PLANE_CORES:
            yield error(
                ("vms", name, "cores"),
                f"a control plane needs at least {MIN_CONTROL_PLANE_CORES} cores (kubeadm "
                f"preflight), not {vm.cores}",
            )


def dimm_sizes(memory_mib: int) -> list[int]:
    """The memory sizes qemu-server's DIMM layout reaches, up to the first one >= ``memory_mib``
    (Memory.pm ``foreach_dimm``: 1024 MiB static, then 32 DIMMs per size from 512 MiB, the size
    doubling after each 32)."""
    sizes, dimm = [STATIC_MEMORY_MIB], 512
    while sizes[-1] < memory_mib:
        for _ in range(32):
            sizes.append(sizes[-1] + dimm)
        dimm *= 2
    return [size for size in sizes if size < memory_mib] + [
        next(size for size in sizes if size >= memory_mib)
    ]


def check_hotplug(spec: LabSpec) -> Iterator[Problem]:
    """``max_cores`` goes with ``hotplug: [cpu]`` and is at least ``cores``; with memory
    hotplug, ``memory`` is a size PVE's DIMMs add up to (else it rounds up on every grow)."""
    for name, vm in spec.vms.items():
        if vm.max_cores is not None and "cpu" not in vm.hotplug:
            yield error(
                ("vms", name, "max_cores"),
                "max_cores is the most cores CPU hotplug grows to: add cpu to hotplug, "
                "or remove max_cores",
            )
        elif vm.max_cores is not None and vm.max_cores < vm.cores:
            yield error(
                ("vms", name, "max_cores"),
                f"max_cores {vm.max_cores} is below cores {vm.cores}: PVE plugs at most "
                "max_cores vCPUs; raise max_cores (a drained restart) or lower cores",
            )
        sizes = dimm_sizes(vm.memory)
        if "memory" in vm.hotplug and len(sizes) > 1 and sizes[-1] != vm.memory:
            yield error(
                ("vms", name, "memory"),
                f"{vm.memory} MiB is not a size memory hotplug reaches (1024 MiB plus DIMMs of "
                f"512 MiB, larger ones above 17408 MiB): use {sizes[-2]} or {sizes[-1]}",
            )


def check_kubernetes_version(spec: LabSpec) -> Iterator[Problem]:
    """A full x.y.z version of a supported minor."""
    version = spec.kubernetes.version
    path = ("kubernetes", "version")
    supported = ", ".join(SUPPORTED_K8S_MINORS)
    match = VERSION_RE.match(version)
    if match is None:
        hint = " without the leading 'v'" if version.startswith("v") else ""
        yield error(path, f"'{version}' is not a full x.y.z version{hint} (such as 1.29.15)")
    elif f"{int(match.group(1))}.{int(match.group(2))}" not in SUPPORTED_K8S_MINORS:
        yield error(path, f"Kubernetes {version} is not supported; supported minors: {supported}")


def check_vmid_range(spec: LabSpec) -> Iterator[Problem]:
    """vmid_range is ordered, inside Proxmox's limits and large enough for every VM."""
    path = ("proxmox", "vmid_range")
    first, last = spec.proxmox.vmids.start, spec.proxmox.vmids.stop - 1
    if first > last:
        yield error(path, f"the range is reversed: {first} comes after {last}")
    elif first < VMID_MIN or last > VMID_MAX:
        yield error(path, f"VMIDs must lie within {VMID_MIN}-{VMID_MAX}")
    elif last - first + 1 < len(spec.vms):
        yield error(
            path,
            f"{first}-{last} holds {last - first + 1} VMIDs but the lab has {len(spec.vms)} VMs",
        )


def check_pinned_vmids(spec: LabSpec) -> Iterator[Problem]:
    """Pinned VMIDs are inside vmid_range and unique; a template vmid is outside it."""
    vmids = spec.proxmox.vmids
    owners: dict[int, str] = {}
    for name, vm in spec.vms.items():
        if vm.vmid is None:
            continue
        path = ("vms", name, "vmid")
        if vm.vmid not in vmids:
            yield error(path, f"vmid {vm.vmid} is outside vmid_range {spec.proxmox.vmid_range}")
        if vm.vmid in owners:
            yield error(path, f"vmid {vm.vmid} is already pinned by vm '{owners[vm.vmid]}'")
        owners.setdefault(vm.vmid, name)
    template = spec.proxmox.template
    if isinstance(template, int) and template in vmids:
        yield error(
            ("proxmox", "template"),
            f"template vmid {template} lies inside vmid_range {spec.proxmox.vmid_range}",
        )
    elif isinstance(template, int) and not VMID_MIN <= template <= VMID_MAX:
        yield error(("proxmox", "template"), f"{template} is not a valid VMID")


def check_proxmox_names(spec: LabSpec) -> Iterator[Problem]:
    """Storage ids, bridge names and a template name are well-formed for Proxmox."""
    for key in ("storage", "iso_storage"):
        value = getattr(spec.proxmox, key)
        if not STORAGE_ID_RE.match(value):
            yield error(("proxmox", key), f"'{value}' is not a valid Proxmox storage id")
    for name, net in spec.networks.items():
        if not BRIDGE_RE.match(net.bridge):
            yield error(
                ("networks", name, "bridge"),
                f"'{net.bridge}' is not a valid bridge name (such as vmbr0; at most 15 characters)",
            )
    template = spec.proxmox.template
    if isinstance(template, str) and not checks_network.DNS_NAME_RE.match(template):
        yield error(("proxmox", "template"), f"'{template}' is not a valid Proxmox VM name")


def check_cluster_domain(spec: LabSpec) -> Iterator[Problem]:
    """The cluster domain is a DNS name."""
    domain = spec.kubernetes.cluster_domain
    if not checks_network.DNS_NAME_RE.match(domain):
        yield error(("kubernetes", "cluster_domain"), f"'{domain}' is not a valid DNS domain")


def _key_fields(line: str) -> tuple[str, str] | None:
    """(type, base64) of an authorized_keys line, skipping any leading options."""
    fields = line.split()
    for index, part in enumerate(fields[:-1]):
        if part in SSH_KEY_TYPES:
            return part, fields[index + 1]
    return None


def ssh_key_problem(line: str) -> str | None:
    """Why an authorized_keys line is not a public key, or None. Never quotes the line."""
    if "PRIVATE KEY" in line:
        return "this is a PRIVATE key: remove it from the spec now and give the .pub key"
    fields = _key_fields(line)
    if fields is None:
        return (
            "not an SSH public key: expected '<type> <base64> [comment]' with a type such as "
            "ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256"
        )
    kind, blob = fields
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
    except (binascii.Error, ValueError):
        return f"the {kind} key material is not valid base64"
    name_length = int.from_bytes(raw[:4], "big")
    if raw[4 : 4 + name_length] != kind.encode():
        return f"the key material does not match its type {kind}"
    return None


def check_ssh_keys(spec: LabSpec) -> Iterator[Problem]:
    """Keys look like public keys; none at all is a warning (nobody could log in)."""
    keys = spec.access.ssh_authorized_keys
    if not keys:
        yield warning(
            ("access", "ssh_authorized_keys"),
            "no SSH key: you will not be able to log in to the VMs",
        )
    seen: set[tuple[str, str]] = set()
    for index, key in enumerate(keys):
        path = ("access", "ssh_authorized_keys", index)
        problem = ssh_key_problem(key)
        fields = _key_fields(key)
        if problem is not None:
            yield error(path, problem)
        elif fields in seen:
            yield warning(path, "this key is listed twice")
        if fields is not None:
            seen.add(fields)


def check_login_user(spec: LabSpec) -> Iterator[Problem]:
    """The login user is an ordinary user: cloud-init cannot create root, nor system accounts."""
    user = spec.access.user
    if user in RESERVED_USERS:
        yield error(
            ("access", "user"),
            f"'{user}' is a system account; choose an ordinary login user (it gets sudo)",
        )


ALL_CHECKS: tuple[Check, ...] = (
    check_lab_name,
    check_vm_names,
    check_proxmox_nodes,
    check_references,
    check_control_planes,
    check_node_sizes,
    check_kubernetes_version,
    check_vmid_range,
    check_pinned_vmids,
    check_proxmox_names,
    check_cluster_domain,
    check_ssh_keys,
    check_login_user,
    check_hotplug,
    *checks_network.ADDRESS_CHECKS,
    *checks_backup.BACKUP_CHECKS,
    *opnsense.OPNSENSE_CHECKS,
)


def run_checks(spec: LabSpec) -> list[Problem]:
    """Every check's problems, in check order."""
    return [problem for check in ALL_CHECKS for problem in check(spec)]
