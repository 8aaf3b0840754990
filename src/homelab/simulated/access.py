"""The token the tool uses against the simulator: exactly the documented grants, never root.

The simulator starts with a root token (``root@pam!sim``) that only sets things up; through
the access API it serves, like a real cluster, ``least_privileged`` creates the README's user,
roles and privilege-separated token (``privileges.TOKEN_ID``) for the simulated PVE version
and the spec's ISO storage, and returns the settings to use from then on. The token's value
is kept in a file of the simulated lab (``saved``, mode 0600): the next command reuses it when
it still authenticates and holds exactly the grants wanted (so commands running side by side
against one simulator do not revoke each other's token), and re-creates it otherwise.

``HOMELAB_SIM_PVE_VERSION`` (8 or 9, default 8) picks the Proxmox VE version a new simulated
lab runs; an existing simulated lab keeps the version it was made with.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import httpx

from homelab.core.secret import Secret
from homelab.engine.proxmox.access import effective_privileges, provision_token, pve_major
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ConnectionSettings, SettingsError, parse_token
from homelab.engine.proxmox.errors import ApiError
from homelab.engine.proxmox.privileges import PVE_MAJORS, TOKEN_ID, Grant, grants
from homelab.errors import SimulatorError

__all__ = ["SIM_PVE_ENV", "least_privileged", "sim_pve_major"]

SIM_PVE_ENV = "HOMELAB_SIM_PVE_VERSION"


def sim_pve_major() -> int:
    """The Proxmox VE major version a new simulated lab runs (``HOMELAB_SIM_PVE_VERSION``)."""
    raw = os.environ.get(SIM_PVE_ENV, "").strip()
    if not raw:
        return PVE_MAJORS[0]
    if not raw.isdigit() or int(raw) not in PVE_MAJORS:
        choices = " or ".join(str(m) for m in PVE_MAJORS)
        raise SimulatorError(f"{SIM_PVE_ENV}={raw!r} is not a simulated version ({choices})")
    return int(raw)


def least_privileged(
    root: ConnectionSettings,
    iso_storage: str,
    *,
    transport: httpx.BaseTransport | None = None,
    tokenid: str = TOKEN_ID,
    saved: Path | None = None,
    backups: bool = False,
    pbs: bool = False,
    hotplug: bool = False,
) -> ConnectionSettings:
    """Settings for token ``tokenid`` holding exactly the documented grants (the seed role on
    ``iso_storage``), made with ``root`` unless the one in ``saved`` still fits."""
    with PveClient(root, transport=transport) as client:
        wanted = grants(pve_major(client), iso_storage, backups=backups, pbs=pbs, hotplug=hotplug)
        reused = _reusable(root, saved, tokenid, wanted, transport)
        if reused is not None:
            return reused
        value = provision_token(client, tokenid, wanted)
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(value.reveal())
    return _settings(root, value)


def _settings(root: ConnectionSettings, value: Secret) -> ConnectionSettings:
    token_id, secret = parse_token(value.reveal())
    return replace(root, token_id=token_id, token_secret=secret)


def _reusable(
    root: ConnectionSettings,
    saved: Path | None,
    tokenid: str,
    wanted: tuple[Grant, ...],
    transport: httpx.BaseTransport | None,
) -> ConnectionSettings | None:
    """The saved token's settings if it authenticates and holds exactly ``wanted``."""
    if saved is None or not saved.is_file():
        return None
    try:
        settings = _settings(root, Secret(saved.read_text(encoding="utf-8").strip()))
    except (OSError, SettingsError):
        return None
    if settings.token_id != tokenid:
        return None
    expected: dict[str, set[str]] = {}
    for grant in wanted:  # two roles on one path add up
        expected.setdefault(grant.path, set()).update(grant.privileges)
    try:
        with PveClient(settings, transport=transport) as client:
            held = {path: set(effective_privileges(client, path)) for path in expected}
    except ApiError:
        return None  # revoked or gone (a 401): make it again
    return settings if held == expected else None
