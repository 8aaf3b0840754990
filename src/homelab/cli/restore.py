"""`homelab restore vm SPEC NAME` (a VM from its backup, as a copy or over itself) and
`homelab restore cluster SPEC --etcd SNAPSHOT` (the cluster from an etcd snapshot)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import (
    JsonOpt,
    SimOpt,
    SpecArg,
    YesOpt,
    apply_confirmer,
    lab_session,
    step_printer,
)
from homelab.cli.output import err, out
from homelab.errors import LabError

restore_app = typer.Typer(
    help="Restore the lab's VMs from their backups, or its cluster from an etcd snapshot.",
    no_args_is_help=True,
)
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


@restore_app.command("cluster")
def cluster(
    spec: SpecArg,
    etcd: Annotated[
        str,
        typer.Option(
            "--etcd",
            help="the snapshot: `latest` (the newest `backup etcd` kept), a .db.sealed file, "
            "or a plain etcd snapshot file",
            metavar="SNAPSHOT",
        ),
    ],
    sim: SimOpt = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="restore over control planes that still exist (the cluster goes back to the "
            "snapshot; what was written since is lost)",
        ),
    ] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="seconds to wait for the cluster")
    ] = 1800.0,
) -> None:
    """Rebuild the cluster from an etcd snapshot.

    Missing VMs are created from the spec; the snapshot is restored into the first control
    plane's etcd (same CA: the tool owns the PKI), the other control planes join again and
    every node's kubelet is restarted. Control planes that still exist are restored over only
    with --force: everything written since the snapshot is lost."""
    from homelab.verbs.etcd import load_snapshot
    from homelab.verbs.etcd_restore import restore_cluster

    if force and not yes:
        question = (
            "Restore the etcd snapshot over the running cluster? Everything written to it "
            "since the snapshot is lost."
        )
        if not typer.confirm(question, default=False):
            err.print("restore cancelled; nothing was changed", markup=False)
            raise typer.Exit(1)
    step = step_printer(as_json)
    with lab_session(spec, sim) as (ctx, conn):
        path, snapshot = load_snapshot(ctx, etcd)
        step(f"snapshot {path} ({len(snapshot)} bytes)")
        outcome = restore_cluster(
            conn,
            ctx,
            snapshot,
            force=force,
            confirm=apply_confirmer(yes, silent=as_json),
            timeout=timeout,
            on_step=step,
        )
    if as_json:
        typer.echo(json.dumps(outcome.to_dict(), indent=2))
        return
    rejoined = f"; {', '.join(outcome.rejoined)} joined again" if outcome.rejoined else ""
    out.print(
        f"Cluster {outcome.lab} restored from the snapshot on {outcome.node} (revision "
        f"{outcome.revision}, {outcome.keys} keys){rejoined}; nodes Ready: "
        f"{', '.join(outcome.nodes_ready)}.",
        markup=False,
    )
