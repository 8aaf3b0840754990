"""`homelab guest exec|cat SPEC VM`: a command or a file in a lab VM, through the guest agent."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import JsonOpt, SimOpt, SpecArg, lab_session

guest_app = typer.Typer(
    help="Commands and files in the lab's VMs, through the QEMU guest agent (no SSH).",
    no_args_is_help=True,
)
app.add_typer(guest_app, name="guest")
VmArg = Annotated[str, typer.Argument(help="the VM's name in the spec", metavar="VM")]


@guest_app.command("exec")
def exec_(
    spec: SpecArg,
    vm: VmArg,
    command: Annotated[list[str], typer.Argument(help="the program and its arguments")],
    sim: SimOpt = False,
    as_json: JsonOpt = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="seconds the command may run")
    ] = 300.0,
) -> None:
    """Run a command in the VM (e.g. `homelab guest exec lab.yaml k8s-master-1 -- uptime`);
    prints what it wrote and exits with its exit code."""
    from homelab.verbs.guest import guest_exec

    with lab_session(spec, sim) as (ctx, conn):
        result = guest_exec(conn, ctx, vm, command, timeout=timeout)
    if as_json:
        doc = {"exitcode": result.exitcode, "stdout": result.stdout, "stderr": result.stderr}
        typer.echo(json.dumps({**doc, "truncated": result.truncated}, indent=2))
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
    raise typer.Exit(result.exitcode if 0 <= result.exitcode < 256 else 1)


@guest_app.command("cat")
def cat(
    spec: SpecArg,
    vm: VmArg,
    path: Annotated[str, typer.Argument(help="the file in the VM")],
    sim: SimOpt = False,
) -> None:
    """Print a file of the VM (read through the guest agent)."""
    from homelab.verbs.guest import guest_cat

    with lab_session(spec, sim) as (ctx, conn):
        data = guest_cat(conn, ctx, vm, path)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
