"""`homelab restore vm SPEC NAME`: a VM from its backup, as a copy or over itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import SimOpt, SpecArg, YesOpt, lab_session
from homelab.cli.output import err, out
from homelab.errors import LabError

restore_app = typer.Typer(help="Restore the lab's VMs from their backups.", no_args_is_help=True)
app.add_typer(restore_app, name="restore")


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise LabError(
            f"--at {text!r} is not a time: write it as 2026-12-01T02:30 (ISO 8601)"
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()


@restore_app.command("vm")
def vm(
    spec: SpecArg,
    name: Annotated[str, typer.Argument(help="the VM's name in the spec", metavar="NAME")],
    sim: SimOpt = False,
    backup: Annotated[
        str | None, typer.Option("--backup", help="the backup's volume id (default: the newest)")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="the newest backup made at or before this time")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="restore over the VM itself (drained, stopped, replaced, started); "
            "without it the backup becomes a new, stopped VM",
        ),
    ] = False,
    yes: YesOpt = False,
) -> None:
    """Restore a VM of the lab from its backup.

    By default as a new VM (new VMID from the range, new MACs, stopped, named NAME-restored);
    with --force over the VM itself (drained, stopped, restored, started). A VM that no longer
    exists is restored into the VMID it had."""
    from homelab.verbs.restore import restore_vm

    moment = _when(at)
    if force and not yes:
        question = (
            f"Restore {name} over itself from {backup or 'its newest backup'}? Its disk is "
            "replaced by the backup's and everything written since is lost."
        )
        if not typer.confirm(question, default=False):
            err.print("restore cancelled; nothing was changed", markup=False)
            raise typer.Exit(1)
    with lab_session(spec, sim) as (ctx, conn):
        result = restore_vm(conn, ctx, name, volid=backup, at=moment, force=force)
    for warning in result.warnings:
        err.print(f"warning: {warning}", style="yellow", markup=False)
    if result.in_place:
        out.print(f"Restored {name} (VMID {result.vmid}) from {result.backup}.", markup=False)
    else:
        out.print(
            f"Restored {result.backup} as VMID {result.vmid} ({name}-restored, stopped, new "
            "MACs). It is not part of the lab; destroy it when done.",
            markup=False,
        )
