"""`homelab state recover SPEC`: rebuild a lost state store from the running lab.

When ``.homelab/state.db`` is gone (a lost laptop, a wiped checkout) the lab still runs, but a
new store would make a new PKI and plan to replace every VM. Recover instead:

1. refuses if the store is there (``--replace`` replaces it, keeping a copy: ``Rebuild``);
2. finds the lab's VMs by their ownership tags (``ownership.lab_vms``) and reads, through the
   guest agent only, the cluster CAs, the service-account pair, the leaves kubeadm signed and
   the kubeadm configuration with the lab's bootstrap token from the first control plane (in
   the spec's order) that answers (``readback.FILES``);
3. refuses unless it all verifies: each key is its certificate's, each CA signed the leaf the
   control plane uses, the cluster CA verifies the certificate the API server presents over
   TLS (``readback``), and the API server accepts an admin certificate signed with the CA key
   read back: that request re-arms the bootstrap token for 24 h (a fresh token for the next
   node, with the same id and secret, so every seed renders as before);
4. reads what each running node of the spec was born with from cloud-init's copy of its
   user-data (``engine.guest.userdata``: the SSH keys, the Kubernetes version, the control
   plane its seed took for the cluster's first) and what it holds now (``authorized_keys``,
   the kubelet's version): each node's seed renders as it first booted, so keys pushed or a
   first control plane rebuilt since plan no replace. A node whose user-data cannot be read
   gets today's guesses, with a warning saying what the plan may then get wrong;
5. writes the secrets and those records sealed into a new store made aside, re-adopts the
   lab's VMs for it (each VM's homelab record names the store that manages it: it is
   rewritten to name the new one, nothing else changed, under the config digest read), marks
   the lab applied, and puts the store in place in one rename.

What the last `up` applied in the cluster (the components record: addons and charts, their
versions and configuration digests, ``core.plan.components``) is not recorded on the cluster's
objects, so it is not read back: the next plan lists every component as to apply, and the next
`up` applies them again server-side (an apply of what is already there: nothing is deleted or
re-created). The recover's output says so.

A kill at any step leaves no store (or the old one) and a rerun starts again; VM records a
killed run rewrote name a store that never came to be, and the rerun rewrites them again. The
PBS encryption key (if the lab had one) lives only on Proxmox's side and is not read back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from homelab.core.cluster import ClusterSecrets
from homelab.core.desired import DescriptionRecord, description_text, user_notes
from homelab.core.observed import ObservedVm
from homelab.core.ownership import lab_vms
from homelab.core.render.kubeadm import API_PORT
from homelab.core.render.lab import render_lab
from homelab.core.spec.models import LabSpec
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.guest.userdata import BornFacts
from homelab.engine.proxmox.errors import ApiError, AuthenticationError, PermissionDenied
from homelab.engine.state import StateStore
from homelab.engine.state.access import BornFirstRecord, NodeKeys, NodeKeysRecord
from homelab.engine.state.readback import (
    FILES,
    ReadBackRefused,
    check_served,
    problems,
    secrets_from,
)
from homelab.engine.state.recover import Rebuild
from homelab.engine.upgrade.versions import NodeVersion, NodeVersions
from homelab.errors import KubeError, LabError
from homelab.verbs.access import read_keys
from homelab.verbs.cluster_api import admin_api, api_endpoint
from homelab.verbs.connection import Connection
from homelab.verbs.lab import LabContext, born_facts_of, born_first_from, first_boot_seeds
from homelab.verbs.rearm import renew_token
from homelab.verbs.secrets import SECRET_NAME

__all__ = ["Adoption", "BornRecords", "Recovery", "RecoveryPlan", "recover_store"]

READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class Adoption:
    """One VM of the lab whose record is rewritten to name the new store."""

    vm: str
    node: str
    vmid: int
    config_digest: str
    description: str | None
    record: DescriptionRecord


@dataclass(frozen=True)
class BornRecords:
    """The per-node first-boot records read back from the guests (``verbs.lab``'s seeds)."""

    keys: dict[str, NodeKeys] = field(default_factory=dict)
    firsts: dict[str, tuple[str, str]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # born at

    @property
    def nodes(self) -> list[str]:
        return sorted({*self.keys, *self.firsts, *self.versions})


COMPONENTS_LINE = (
    "  the components record (what the last `up` applied: addons, charts) is not read back: "
    "the next plan lists them as to apply, and `homelab up` applies them again server-side "
    "(nothing is deleted or re-created)"
)


@dataclass(frozen=True)
class RecoveryPlan:
    """What recover read and will do, shown before it does it."""

    lab: str
    control_plane: str
    adoptions: tuple[Adoption, ...]
    warnings: tuple[str, ...] = ()
    replaces: Path | None = None
    born: BornRecords = field(default_factory=BornRecords)

    def lines(self) -> list[str]:
        out = [
            f"lab {self.lab}: the cluster PKI and bootstrap token verified, read from "
            f"{self.control_plane}"
        ]
        out += [f"  re-adopt {a.vm} (VMID {a.vmid} on {a.node})" for a in self.adoptions]
        if self.born.nodes:
            out.append(
                "  record what each node was born with, read from cloud-init's user-data in "
                "the guest (SSH keys, Kubernetes version, first control plane): "
                + ", ".join(self.born.nodes)
            )
        out.append(COMPONENTS_LINE)
        if self.replaces is not None:
            out.append(f"  replace the state store {self.replaces} (a copy is kept)")
        return out


@dataclass(frozen=True)
class Recovery:
    """What recover did."""

    store: Path
    backup: Path | None
    plan: RecoveryPlan


def recover_store(
    conn: Connection,
    spec: LabSpec,
    spec_path: Path,
    *,
    replace: bool = False,
    confirm: Callable[[RecoveryPlan], bool] = lambda _plan: True,
) -> Recovery | None:
    """Rebuild the store of ``spec``'s lab (see the module docstring); None if not confirmed."""
    rebuild = Rebuild(spec_path, replace=replace)
    rebuild.check(spec.name)
    vms = lab_vms(spec.name, conn.client.cluster_vms())
    if not vms:
        raise LabError(
            f"no VM of lab {spec.name} is on Proxmox (none has the tag lab-{spec.name}): "
            "there is no running lab to recover the state store from",
            hint="`homelab up SPEC` makes a new lab and a new store",
        )
    where, secrets = read_verified(conn, spec, vms)
    artifacts = render_lab(spec, secrets)
    warnings: list[str] = []
    born = read_born_records(conn, spec, vms, warnings)
    born_keys = {vm: keys.born for vm, keys in born.keys.items()}
    first_boot_seeds(spec, artifacts, born.versions, secrets, born_keys, born.firsts)
    adoptions, adopting = _adoptions(conn, spec, vms, artifacts.digest)
    warnings = adopting + warnings
    plan = RecoveryPlan(
        lab=spec.name,
        control_plane=where,
        adoptions=tuple(adoptions),
        warnings=tuple(warnings),
        replaces=rebuild.target if rebuild.target.exists() else None,
        born=born,
    )
    if not confirm(plan):
        return None
    with rebuild:
        store = rebuild.open()
        store.secrets(spec.name).put(SECRET_NAME, secrets.to_json())
        ctx = LabContext(spec=spec, spec_path=spec_path, store=store, artifacts=artifacts)
        kubelets = _rearm(conn, ctx)
        for adoption in adoptions:
            _readopt(conn, adoption, store.store_id)
        _record_born(store, spec.name, born, kubelets)
        _record(store, spec, plan)
        backup = rebuild.commit()
    return Recovery(store=rebuild.target, backup=backup, plan=plan)


def read_verified(
    conn: Connection, spec: LabSpec, vms: list[ObservedVm]
) -> tuple[str, ClusterSecrets]:
    """(the control plane read, the lab's secrets) once they verify: keys against certificates,
    CAs against the leaves on disk and against the certificate the API server presents."""
    where, files = read_control_plane(conn, spec, vms)
    secrets = secrets_from(spec.name, files, where)
    found = problems(secrets, files, where)
    if found:
        raise ReadBackRefused(
            "what was read back does not verify: " + "; ".join(found),
            hint="nothing was written; the files on the control plane were changed by hand?",
        )
    reach = conn.site.reach(str(spec.api_endpoint()), API_PORT)
    if reach is None:
        raise ReadBackRefused(
            f"the lab's API server ({spec.api_endpoint()}:{API_PORT}) does not exist"
        )
    check_served(secrets.ca_cert, reach.url, reach.server_name)
    return where, secrets


def read_control_plane(
    conn: Connection, spec: LabSpec, vms: list[ObservedVm]
) -> tuple[str, dict[str, bytes]]:
    """(name, files) of the first control plane, in the spec's order, whose files can be read
    through the guest agent; LabError naming why each one could not."""
    by_name = {vm.name: vm for vm in vms}
    channel = GuestChannel(conn.client, conn.clock)
    why: list[str] = []
    for name in spec.control_planes:
        vm = by_name.get(name)
        if vm is None:
            why.append(f"{name}: no such VM of the lab on Proxmox")
            continue
        if vm.status != "running":
            why.append(f"{name}: {vm.status}")
            continue
        try:
            files = {
                path: channel.read_file(vm.node, vm.vmid, path, timeout=READ_TIMEOUT)
                for path in FILES
            }
        except (PermissionDenied, AuthenticationError):
            raise
        except (ApiError, LabError) as exc:
            why.append(f"{name}: {exc.message}")
            continue
        return name, files
    raise LabError(
        f"no control plane of lab {spec.name} could be read through the guest agent: "
        + "; ".join(why),
        hint="start a control plane of the lab (its guest agent must answer) and run recover "
        "again; nothing was written",
    )


def _adoptions(
    conn: Connection,
    spec: LabSpec,
    vms: list[ObservedVm],
    seed_digest: Callable[[str], str],
) -> tuple[list[Adoption], list[str]]:
    """The lab's VMs whose record names another store; warnings for what will not be a no-op."""
    adoptions: list[Adoption] = []
    warnings: list[str] = []
    for vm in sorted(vms, key=lambda v: v.vmid):
        _values, config = conn.client.vm_config(vm.node, vm.vmid)
        name = config.name or vm.name or str(vm.vmid)
        record = config.record
        if record is None:
            warnings.append(
                f"vm {name}: carries the tag lab-{spec.name} but no homelab record: left alone "
                "(`homelab adopt SPEC` takes it over)"
            )
            continue
        if record.lab != spec.name:
            continue
        if name in spec.vms and not record.adopted and record.seed != seed_digest(name):
            warnings.append(
                f"vm {name}: its seed was made from another version of the spec: the next plan "
                "will show the change"
            )
        adoptions.append(
            Adoption(name, vm.node, vm.vmid, config.digest, config.description, record)
        )
    return adoptions, warnings


def read_born_records(
    conn: Connection, spec: LabSpec, vms: list[ObservedVm], warnings: list[str]
) -> BornRecords:
    """What each running VM of the spec was born with, from its user-data (warnings added
    for those it cannot be read from, or that do not tell)."""
    running = [vm for vm in vms if vm.name in spec.vms and vm.status == "running"]
    facts: dict[str, BornFacts | None] = {
        vm.name or "": born_facts_of(conn, spec, vm, warnings) for vm in running
    }
    keys = read_keys(conn, spec.access.user, running, lambda vm: facts[vm.name or ""])
    firsts: dict[str, tuple[str, str]] = {}
    versions: dict[str, str] = {}
    planes = spec.control_planes
    for name, told in facts.items():
        if told is None:
            continue
        if told.version is not None:
            versions[name] = told.version
        first = born_first_from(spec, name, told.bootstrap)
        if first is not None:
            firsts[name] = first
        elif planes:
            warnings.append(
                f"vm {name}: its user-data does not tell which control plane was the cluster's "
                f"first at its birth: the next plan takes it to be {planes[0]}; if it was "
                "another, the plan shows the node replaced: do not apply that"
            )
    return BornRecords(keys=keys, firsts=firsts, versions=versions)


def _record_born(store: StateStore, lab: str, born: BornRecords, kubelets: dict[str, str]) -> None:
    """The per-node records, each version's current one the kubelet's (else its born one)."""
    NodeKeysRecord(store, lab).read_back(born.keys)
    BornFirstRecord(store, lab).seed(born.firsts)
    versions = NodeVersions(store, lab)
    for vm, at in born.versions.items():
        versions.put(vm, NodeVersion(kubelets.get(vm, at), at))


def _rearm(conn: Connection, ctx: LabContext) -> dict[str, str]:
    """Renew the bootstrap token with an admin certificate signed by the CA key read back: the
    API server accepting it proves the key is the cluster's. Each Node's kubelet version
    (``x.y.z``), read in the same session."""
    api = admin_api(conn, ctx)
    if api is None:
        raise ReadBackRefused(f"the lab's API server ({api_endpoint(ctx)}) does not exist")
    try:
        with api:
            renew_token(api, ctx)
            nodes = api.nodes()
    except KubeError as exc:
        raise ReadBackRefused(
            f"the API server at {api_endpoint(ctx)} did not accept an admin certificate signed "
            f"with the CA key read back: {exc.message}",
            hint="nothing was written",
        ) from exc
    out = {}
    for node in nodes:
        version = str(node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""))
        if version:
            out[str(node["metadata"]["name"])] = version.lstrip("v")
    return out


def _readopt(conn: Connection, adoption: Adoption, store_id: str) -> None:
    record = adoption.record.model_copy(update={"store": store_id})
    text = description_text(record, user_notes(adoption.description))
    conn.client.update_config(
        adoption.node, adoption.vmid, digest=adoption.config_digest, description=text
    )


def _record(store: StateStore, spec: LabSpec, plan: RecoveryPlan) -> None:
    store.mark_applied(spec.name)
    if spec.backup is not None:
        store.note_backup_jobs(spec.name, True)
    store.history(spec.name).append(
        "recover-state",
        {
            "control_plane": plan.control_plane,
            "vms": [a.vm for a in plan.adoptions],
            "replaced_store": plan.replaces is not None,
        },
    )
