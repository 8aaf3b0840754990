"""`homelab monitoring token SPEC [--sim] [--json]`: the exporter's read-only Proxmox VE token.

Makes, or finds unchanged, user ``homelab-monitor@pve`` with the privilege-separated token
``exporter``, both holding exactly ``PVEAuditor`` on ``/`` (``homelab.verbs.monitoring_token``).
The token's secret is sealed in the state store, never printed. The step runs with the admin
token in ``HOMELAB_PVE_ADMIN_TOKEN``, never with the lab's own token; with ``--sim`` and no
such variable, the simulator's root token stands in for it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from homelab.cli.app import app
from homelab.cli.lab import JsonOpt, SimOpt, SpecArg
from homelab.cli.output import out

if TYPE_CHECKING:
    from homelab.engine.proxmox.config import ConnectionSettings
    from homelab.verbs.connection import Connection

monitoring_app = typer.Typer(
    help="The lab's monitoring: the read-only Proxmox VE token its exporter scrapes with.",
    no_args_is_help=True,
)
app.add_typer(monitoring_app, name="monitoring")


@monitoring_app.command("token")
def token(spec: SpecArg, sim: SimOpt = False, as_json: JsonOpt = False) -> None:
    """Make the exporter's read-only token (PVEAuditor on /), or find it unchanged.

    The secret is sealed in the state store and never printed.

    Needs HOMELAB_PVE_ADMIN_TOKEN=user@realm!name=secret, an admin token holding:
    Realm.AllocateUser on /access/realm/pve,
    User.Modify on /access/groups,
    Permissions.Modify on /.
    """
    from homelab.engine.state import open_store
    from homelab.errors import LabError
    from homelab.verbs.connection import open_connection
    from homelab.verbs.monitoring_token import (
        ADMIN_ENV,
        ADMIN_PRIVILEGES,
        admin_settings,
        make_auditor_token,
    )
    from homelab.verbs.spec import load_valid_spec

    lab = load_valid_spec(spec)
    with open_store(spec) as store, open_connection(lab, spec, sim=sim) as conn:
        settings = conn.client.settings
        admin = admin_settings(settings) or (_simulator_root(conn) if sim else None)
        if admin is None:
            needed = ", ".join(f"{priv} on {path}" for path, priv in ADMIN_PRIVILEGES)
            raise LabError(
                f"{ADMIN_ENV} is not set: making the exporter's token needs an admin token",
                hint=f"set {ADMIN_ENV}=user@realm!name=secret for a token holding {needed}; "
                "the lab's own token must not hold these",
            )
        outcome = make_auditor_token(settings, admin, store.secrets(lab.name))
    if as_json:
        report = {
            "token_id": outcome.token.token_id,
            "changed": bool(outcome.changes),
            "changes": list(outcome.changes),
        }
        typer.echo(json.dumps(report, indent=2))
        return
    for change in outcome.changes:
        out.print(f"  {change}", markup=False)
    state = "made" if outcome.changes else "unchanged"
    out.print(
        f"Token {outcome.token.token_id} ({state}): PVEAuditor on /, secret sealed in the "
        "state store.",
        style="bold",
        markup=False,
    )


def _simulator_root(conn: Connection) -> ConnectionSettings | None:
    """The simulator's root token, the simulated lab's stand-in for an admin token."""
    from homelab.simulated.site import SimulatedSite

    return conn.site.settings if isinstance(conn.site, SimulatedSite) else None
