"""The Proxmox VE privileges homelab needs, per major PVE version, and the paths they go on.

This is the one list: the README's ``pveum`` commands are checked against it by a test, the
least-privilege tests give the simulated token exactly these grants, and ``homelab doctor``
compares them with ``/access/permissions``. Each privilege is here because a call of the tool
needs it (the endpoint's check in qemu-server / pve-storage / pve-manager):

- ``VM.Audit``: ``/cluster/resources`` (filtered by it), VM config and status reads;
- ``VM.Clone`` on the template, ``VM.Allocate`` on the new VMID (clone) and to destroy;
- ``VM.PowerMgmt``: start, shutdown, stop;
- ``VM.Config.CPU`` (cores, sockets), ``VM.Config.Memory``, ``VM.Config.Network`` (net0),
  ``VM.Config.Options`` (name, description, tags, agent, onboot), ``VM.Config.CDROM`` (the
  seed on ide2), ``VM.Config.Cloudinit`` (with CDROM: replacing or removing a cloud-init
  drive, which templates made per Proxmox's cloud-init guide carry on ide2),
  ``VM.Config.Disk`` (resize);
- ``Datastore.AllocateSpace``: clone onto a storage, resize (and it reads storage status);
- ``Datastore.Audit``: ``/cluster/resources`` lists a storage only with it (pve-manager
  ``Cluster.pm``), and the plan needs the storages (shared or not, free space) to judge where a
  VM can be cloned; ``Sys.Audit``: node entries carry their CPUs and memory only with it
  (``extract_node_stats``), which the plan's capacity check reads;
- ``SDN.Use``: a NIC on a bridge (``/sdn/zones/localnetwork/<bridge>[/<vlan>]``); it also
  shows the bridge in its node's network (pve-manager ``Network.pm``), which the plan reads to
  refuse a VM on a bridge its node lacks before anything changes;
- the guest agent (ping, network-get-interfaces; exec and files for ``homelab guest``):
  ``VM.Monitor`` on PVE 8; PVE 9 removed it in favour of ``VM.GuestAgent.Audit`` for read-only
  agent calls and ``VM.GuestAgent.Unrestricted`` for exec (which every agent call accepts, so
  the role holds it alone);
- on the ISO storage only: ``Datastore.AllocateTemplate`` (upload a seed), ``Datastore.Allocate``
  (delete one: pve-storage ``Content.pm`` asks it for every non-backup volume) and
  ``Datastore.Audit`` again (list the ISOs and attach one: ``Datastore.Audit`` or
  ``Datastore.AllocateSpace``): a more specific ACL path replaces what ``/`` propagates, so
  the storage's role must grant it itself; and for an ISO storage that also holds the VMs'
  disks, what the lab role needs there: ``Datastore.AllocateSpace`` (clones, resizes) and
  ``Datastore.Audit`` (the plan sees the storage);
- only for a lab with a VM with ``hotplug:``: ``VM.Config.HWType`` (qemu-server checks the
  ``hotplug`` option as a hardware-type setting), in its own role so other labs go without.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BACKUP_ROLE",
    "HOTPLUG_ROLE",
    "LAB_ROLE",
    "PBS_ROLE",
    "PVE_MAJORS",
    "SEED_ROLE",
    "TOKEN_ID",
    "Grant",
    "backup_commands",
    "grants",
    "pveum_commands",
    "role_privileges",
]

LAB_ROLE = "HomelabProvisioner"
SEED_ROLE = "HomelabSeeds"
BACKUP_ROLE = "HomelabBackups"
PBS_ROLE = "HomelabBackupStorage"
HOTPLUG_ROLE = "HomelabHotplug"
TOKEN_ID = "homelab@pve!apply"  # noqa: S105 - an id (the README's user and token), not a secret
PVE_MAJORS = (8, 9)

_COMMON = frozenset(
    {
        "VM.Allocate",
        "VM.Audit",
        "VM.Clone",
        "VM.PowerMgmt",
        "VM.Snapshot",
        "VM.Config.CDROM",
        "VM.Config.Cloudinit",
        "VM.Config.CPU",
        "VM.Config.Disk",
        "VM.Config.Memory",
        "VM.Config.Network",
        "VM.Config.Options",
        "Datastore.AllocateSpace",
        "Datastore.Audit",
        "SDN.Use",
        "Sys.Audit",
    }
)
_AGENT = {
    8: frozenset({"VM.Monitor"}),
    9: frozenset({"VM.GuestAgent.Unrestricted"}),
}
_SEEDS = frozenset(
    {
        "Datastore.Allocate",
        "Datastore.AllocateSpace",
        "Datastore.AllocateTemplate",
        "Datastore.Audit",
    }
)


# Only for a lab with a ``backup:`` section: PVE checks job writes as Sys.Modify on ``/`` (no
# narrower path exists), and vzdump checks VM.Backup on each guest. Sys.Modify on ``/`` also lets
# the token change datacenter options: grant this role only when the lab manages backups.
_BACKUPS = frozenset({"Sys.Modify", "VM.Backup"})
# Adding a storage is Datastore.Allocate on /storage itself; granted there without propagation,
# it allows no change to any existing storage (those are checked on /storage/<id>).
_PBS = frozenset({"Datastore.Allocate"})
_HOTPLUG = frozenset({"VM.Config.HWType"})


@dataclass(frozen=True)
class Grant:
    """A role holding ``privileges`` granted on ``path`` (propagated below it)."""

    role: str
    path: str
    privileges: frozenset[str]
    propagate: bool = True


def role_privileges(major: int, role: str = LAB_ROLE) -> frozenset[str]:
    """The privileges of one of homelab's roles on PVE ``major`` (8 or 9)."""
    if major not in _AGENT:
        raise ValueError(f"unsupported Proxmox VE major version {major}")
    if role == LAB_ROLE:
        return _COMMON | _AGENT[major]
    if role == SEED_ROLE:
        return _SEEDS
    if role == BACKUP_ROLE:
        return _BACKUPS
    if role == PBS_ROLE:
        return _PBS
    if role == HOTPLUG_ROLE:
        return _HOTPLUG
    raise ValueError(f"unknown role {role!r}")


def grants(
    major: int,
    iso_storage: str,
    *,
    backups: bool = False,
    pbs: bool = False,
    hotplug: bool = False,
) -> tuple[Grant, ...]:
    """What the token needs on PVE ``major``: the lab role on ``/`` and the seed role on the
    ISO storage; with ``backups`` (a lab with a ``backup:`` section) the backup role on ``/``,
    with ``pbs`` (it adds a PBS storage) the PBS role on ``/storage``, not propagated, and with
    ``hotplug`` (a VM of the lab has ``hotplug:``) the hotplug role on ``/``."""
    out = [
        Grant(LAB_ROLE, "/", role_privileges(major, LAB_ROLE)),
        Grant(SEED_ROLE, f"/storage/{iso_storage}", role_privileges(major, SEED_ROLE)),
    ]
    if backups:
        out.append(Grant(BACKUP_ROLE, "/", role_privileges(major, BACKUP_ROLE)))
    if pbs:
        out.append(Grant(PBS_ROLE, "/storage", role_privileges(major, PBS_ROLE), propagate=False))
    if hotplug:
        out.append(Grant(HOTPLUG_ROLE, "/", role_privileges(major, HOTPLUG_ROLE)))
    return tuple(out)


def _acl(grant: Grant) -> str:
    user = TOKEN_ID.partition("!")[0]
    scope = "" if grant.propagate else " --propagate 0"
    return (
        f"pveum acl modify {grant.path} --users {user} --tokens '{TOKEN_ID}' "
        f"--roles {grant.role}{scope}"
    )


def _role(grant: Grant) -> str:
    return f'pveum role add {grant.role} -privs "{" ".join(sorted(grant.privileges))}"'


def pveum_commands(major: int, iso_storage: str = "local") -> tuple[str, ...]:
    """The shell commands that set the token up (the README shows them for ``local``)."""
    user, _, _ = TOKEN_ID.partition("!")
    token = TOKEN_ID.partition("!")[2]
    lines = [_role(g) for g in grants(major, iso_storage)]
    lines.append(f"pveum user add {user}")
    lines.append(f"pveum user token add {user} {token} --privsep 1")
    lines += [_acl(g) for g in grants(major, iso_storage)]
    return tuple(lines)


def backup_commands(major: int, role: str = BACKUP_ROLE) -> tuple[str, ...]:
    """What a lab with a ``backup:`` section (``BACKUP_ROLE``), a PBS storage to add
    (``PBS_ROLE``) or a VM with hotplug (``HOTPLUG_ROLE``) adds to ``pveum_commands``."""
    everything = grants(major, "local", backups=True, pbs=True, hotplug=True)
    extra = [g for g in everything if g.role == role]
    return tuple([*map(_role, extra), *map(_acl, extra)])
