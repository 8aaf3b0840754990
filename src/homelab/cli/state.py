"""`homelab state key export|import SPEC`: the state store's key, kept apart from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import SimOpt, SpecArg, YesOpt
from homelab.cli.output import out
from homelab.errors import LabError

state_app = typer.Typer(help="The state store: its key, and its recovery.", no_args_is_help=True)
key_app = typer.Typer(
    help="The key that seals the lab's secrets (kept in ~/.config/homelab/keys, not .homelab/).",
    no_args_is_help=True,
)
state_app.add_typer(key_app, name="key")
app.add_typer(state_app, name="state")


@key_app.command("export")
def export(
    spec: SpecArg,
    out_file: Annotated[
        Path, typer.Option("--out", help="a new file to write the key to (0600)", metavar="FILE")
    ],
) -> None:
    """Write the store's key to a new file (0600) to keep it somewhere safe."""
    from homelab.verbs.state_key import export_key

    path = export_key(spec, out_file)
    out.print(f"the state key is in {path} (mode 0600): keep it safe, apart from .homelab/")


@key_app.command("import")
def import_(
    spec: SpecArg,
    key_file: Annotated[Path, typer.Argument(help="a file written by `state key export`")],
    force: Annotated[
        bool, typer.Option("--force", help="replace another key this machine has for the store")
    ] = False,
) -> None:
    """Install an exported key for this spec's store, once it proved it opens its secrets."""
    from homelab.verbs.state_key import import_key

    path = import_key(spec, key_file, replace=force)
    out.print(f"the state key is installed at {path}")


@state_app.command("pbs-key")
def pbs_key(
    spec: SpecArg,
    out_file: Annotated[
        Path, typer.Option("--out", help="a new file to write the key to (0600)", metavar="FILE")
    ],
) -> None:
    """Write the lab's PBS encryption key to a new file (0600), for escrow.

    PVE made the key when homelab added the storage with `encrypt: true`; without it the backups
    cannot be read."""
    from homelab.verbs.spec import load_valid_spec
    from homelab.verbs.state_key import export_pbs_key

    lab = load_valid_spec(spec)
    if lab.backup is None or lab.backup.storage.pbs is None:
        raise LabError(f"the lab {lab.name} has no PBS storage (backup.storage.pbs)")
    path = export_pbs_key(spec, lab.name, lab.backup.storage.pbs.id, out_file)
    out.print(f"the PBS encryption key is in {path} (mode 0600): keep it safe, off this machine")


@state_app.command("recover")
def recover(
    spec: SpecArg,
    sim: SimOpt = False,
    yes: YesOpt = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="replace a state store that exists (a copy of it is kept beside it)"
        ),
    ] = False,
) -> None:
    """Rebuild a lost state store from the running lab: the cluster PKI, service-account keys
    and bootstrap token read back from a control plane through the guest agent and verified
    against the API server, the lab's VMs re-adopted, so that the next plan changes nothing."""
    from homelab.cli.lab import ask
    from homelab.verbs.connection import open_connection
    from homelab.verbs.spec import load_valid_spec
    from homelab.verbs.state_recover import RecoveryPlan, recover_store

    def confirm(plan: RecoveryPlan) -> bool:
        for line in plan.lines():
            out.print(line, markup=False)
        for warning in plan.warnings:
            out.print(f"warning: {warning}", style="yellow", markup=False)
        return ask("Rebuild the state store?", yes)

    lab = load_valid_spec(spec)
    with open_connection(lab, spec, sim=sim) as conn:
        done = recover_store(conn, lab, spec, replace=replace, confirm=confirm)
    if done is None:
        out.print("nothing changed")
        raise typer.Exit(1)
    if done.backup is not None:
        out.print(f"the replaced store is kept as {done.backup}")
    out.print(f"the state store is rebuilt at {done.store}: `homelab plan` should change nothing")
