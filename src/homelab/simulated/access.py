"""The token the tool uses against the simulator: exactly the documented grants, never root.

The simulator starts with a root token (``root@pam!sim``) that only sets things up; through
the access API it serves, like a real cluster, ``least_privileged`` creates the README's user,
roles and privilege-separated token (``privileges.TOKEN_ID``) for the simulated PVE version
and the spec's ISO storage, and returns the settings to use from then on. Re-running it
replaces the token (its secret is shown only once), so every command gets a fresh one.

``HOMELAB_SIM_PVE_VERSION`` (8 or 9, default 8) picks the Proxmox VE version a new simulated
lab runs; an existing simulated lab keeps the version it was made with.
"""

from __future__ import annotations

import os
from dataclasses import replace

import httpx

from homelab.engine.proxmox.access import provision_token, pve_major
from homelab.engine.proxmox.client import PveClient
from homelab.engine.proxmox.config import ConnectionSettings, parse_token
from homelab.engine.proxmox.privileges import PVE_MAJORS, TOKEN_ID, grants
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
) -> ConnectionSettings:
    """Settings for token ``tokenid`` holding exactly the documented grants (the seed role on
    ``iso_storage``), made with ``root``."""
    with PveClient(root, transport=transport) as client:
        major = pve_major(client)
        value = provision_token(client, tokenid, grants(major, iso_storage))
    token_id, secret = parse_token(value.reveal())
    return replace(root, token_id=token_id, token_secret=secret)
