"""PVE's privileges and built-in roles, per major version (pve-access-control
``AccessControl.pm``: ``$privgroups`` and ``create_roles``).

Each category splits its privileges into ``root`` (only the Administrator role has them),
``admin``, ``user`` and ``audit``; the built-in roles are derived from those groups:
``PVE<cat>Admin`` = admin+user+audit, ``PVE<cat>User`` = user+audit (when the category has user
privileges), ``PVEAuditor`` = every audit privilege, ``PVEAdmin`` = every admin+user+audit
privilege but ``Mapping.Modify``, ``PVETemplateUser`` = VM.Clone+VM.Audit, ``Administrator`` =
all, ``NoAccess`` = none.

PVE 9.0 added ``VM.GuestAgent.{Audit,FileRead,FileWrite,FileSystemMgmt,Unrestricted}`` and
``VM.Replicate`` and removed ``VM.Monitor`` (pve-access-control 9.0.2, commits "add
VM.GuestAgent privileges" and "privileges: drop VM.Monitor"): 8.4 rejects the new names, 9
rejects ``VM.Monitor`` with ``invalid privilege '<name>'``.
"""

from __future__ import annotations

from functools import cache
from types import MappingProxyType
from typing import Final

MAJORS: Final = (8, 9)

_Groups = dict[str, dict[str, tuple[str, ...]]]

_VM_ADMIN_8 = (
    "VM.Config.Disk",
    "VM.Config.CPU",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.HWType",
    "VM.Config.Options",
    "VM.Allocate",
    "VM.Clone",
    "VM.Migrate",
    "VM.Monitor",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
)
_VM_USER_8 = (
    "VM.Config.CDROM",
    "VM.Config.Cloudinit",
    "VM.Console",
    "VM.Backup",
    "VM.PowerMgmt",
)
_VM_ADMIN_9 = (
    *(p for p in _VM_ADMIN_8 if p != "VM.Monitor"),
    "VM.GuestAgent.Unrestricted",
    "VM.Replicate",
)
_VM_USER_9 = (
    *_VM_USER_8,
    "VM.GuestAgent.FileRead",
    "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.FileWrite",
)

_COMMON: _Groups = {
    "Sys": {
        "root": ("Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork"),
        "admin": ("Sys.Console", "Sys.Syslog"),
        "user": (),
        "audit": ("Sys.Audit",),
    },
    "Datastore": {
        "root": (),
        "admin": ("Datastore.Allocate", "Datastore.AllocateTemplate"),
        "user": ("Datastore.AllocateSpace",),
        "audit": ("Datastore.Audit",),
    },
    "SDN": {
        "root": (),
        "admin": ("SDN.Allocate", "SDN.Audit"),
        "user": ("SDN.Use",),
        "audit": ("SDN.Audit",),
    },
    "User": {
        "root": ("Realm.Allocate",),
        "admin": ("User.Modify", "Group.Allocate", "Realm.AllocateUser"),
        "user": (),
        "audit": (),
    },
    "Pool": {
        "root": (),
        "admin": ("Pool.Allocate",),
        "user": ("Pool.Audit",),
        "audit": ("Pool.Audit",),
    },
    "Mapping": {
        "root": (),
        "admin": ("Mapping.Modify",),
        "user": ("Mapping.Use",),
        "audit": ("Mapping.Audit",),
    },
}

_GROUPS: dict[int, _Groups] = {
    8: {
        "VM": {"root": (), "admin": _VM_ADMIN_8, "user": _VM_USER_8, "audit": ("VM.Audit",)},
        **_COMMON,
    },
    9: {
        "VM": {
            "root": (),
            "admin": _VM_ADMIN_9,
            "user": _VM_USER_9,
            "audit": ("VM.Audit", "VM.GuestAgent.Audit"),
        },
        **_COMMON,
    },
}


def check_major(major: int) -> int:
    if major not in _GROUPS:
        raise ValueError(f"the simulator models Proxmox VE {MAJORS}, not {major}")
    return major


@cache
def valid_privileges(major: int) -> frozenset[str]:
    """Every privilege name PVE ``major`` accepts."""
    names = {"Permissions.Modify"}
    for groups in _GROUPS[check_major(major)].values():
        for members in groups.values():
            names.update(members)
    return frozenset(names)


ALL_PRIVILEGES: Final = valid_privileges(8) | valid_privileges(9)


@cache
def builtin_roles(major: int) -> MappingProxyType[str, frozenset[str]]:
    """The special (built-in, read-only) roles of PVE ``major``: role id -> privileges."""
    roles: dict[str, set[str]] = {"NoAccess": set(), "PVEAdmin": set(), "PVEAuditor": set()}
    for cat, groups in _GROUPS[check_major(major)].items():
        granted = groups["admin"] + groups["user"] + groups["audit"]
        roles.setdefault(f"PVE{cat}Admin", set()).update(granted)
        roles["PVEAdmin"].update(granted)
        if groups["user"]:
            roles.setdefault(f"PVE{cat}User", set()).update(groups["user"] + groups["audit"])
        roles["PVEAuditor"].update(groups["audit"])
    roles["PVEAdmin"].discard("Mapping.Modify")
    roles["PVETemplateUser"] = {"VM.Clone", "VM.Audit"}
    roles["Administrator"] = set(valid_privileges(major))
    return MappingProxyType({name: frozenset(privs) for name, privs in roles.items()})
