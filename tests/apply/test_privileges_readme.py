"""The README's token set-up is the tool's privilege list (``engine/proxmox/privileges.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from homelab.engine.proxmox.privileges import (
    BACKUP_ROLE,
    LAB_ROLE,
    PBS_ROLE,
    PVE_MAJORS,
    SEED_ROLE,
    backup_commands,
    grants,
    pveum_commands,
    role_privileges,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Using a real Proxmox VE", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [[ln for ln in b.splitlines() if ln.startswith("pveum ")] for b in blocks]


@pytest.mark.parametrize("major", PVE_MAJORS)
def test_readme_shows_the_commands_of_each_version(major: int) -> None:
    assert list(pveum_commands(major)) in _blocks()


def test_versions_differ_only_in_the_agent_privilege() -> None:
    assert role_privileges(8) ^ role_privileges(9) == {"VM.Monitor", "VM.GuestAgent.Unrestricted"}
    assert role_privileges(8, SEED_ROLE) == role_privileges(9, SEED_ROLE)
    assert [g.path for g in grants(9, "nfs-iso")] == ["/", "/storage/nfs-iso"]
    assert "Datastore.Allocate" in role_privileges(8, SEED_ROLE)
    assert "Datastore.Allocate" not in role_privileges(8, LAB_ROLE)


def test_unknown_version_or_role_is_refused() -> None:
    with pytest.raises(ValueError, match="major version 7"):
        role_privileges(7)
    with pytest.raises(ValueError, match="unknown role"):
        role_privileges(8, "PVEAdmin")


@pytest.mark.parametrize("major", PVE_MAJORS)
def test_readme_shows_the_backup_role(major: int) -> None:
    assert list(backup_commands(major)) in _blocks()
    assert list(backup_commands(major, PBS_ROLE)) in _blocks()
    assert [g.propagate for g in grants(major, "local", pbs=True)] == [True, True, False]
    assert role_privileges(major, BACKUP_ROLE) == {"Sys.Modify", "VM.Backup"}
    assert [g.role for g in grants(major, "local", backups=True)] == [
        LAB_ROLE,
        SEED_ROLE,
        BACKUP_ROLE,
    ]
