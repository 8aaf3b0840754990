"""`homelab guest exec|cat SPEC VM`: a command or a file in a lab VM, through the guest agent."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import JsonOpt, SimOpt, SpecArg, lab_session
from homelab.cli.output import out

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


@guest_app.command("log")
def log(
    spec: SpecArg,
    vm: Annotated[
        str | None, typer.Argument(help="only this VM's (its name in the spec)", metavar="[VM]")
    ] = None,
    last: Annotated[int, typer.Option("--last", min=1, help="how many records to show")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """What homelab ran in the lab's guests (upgrades, patching, etcd, disk grows, keys,
    guest exec): each command with its exit code, time and the end of its output, and each
    file written (path and size), oldest first. Secrets are masked when kept; read from the
    state store only (no connection)."""
    from homelab.verbs.guest_log import guest_history
    from homelab.verbs.lab import prepare_lab

    ctx = prepare_lab(spec)
    try:
        records = guest_history(ctx, vm=vm, last=last)
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    if not records:
        out.print("No guest commands recorded" + (f" for {vm}" if vm else "") + ".")
        return
    for record in records:
        data = record.data
        if "path" in data:
            out.print(
                f"{record.at}  {record.vm}  wrote {data['path']} ({data['size']} bytes)",
                markup=False,
            )
            continue
        code = data.get("exitcode")
        status = f"exit {code}" if code is not None else "did not finish"
        seconds = f", {data['seconds']:.1f} s" if "seconds" in data else ""
        out.print(
            f"{record.at}  {record.vm}  {_command(data['argv'])}  [{status}{seconds}]",
            markup=False,
            style=None if code == 0 else "red",
        )
        said = (data.get("stderr") or data.get("error") or "").strip().splitlines()
        if code != 0 and said:
            out.print(f"    {said[-1]}", markup=False)


def _command(argv: list[str]) -> str:
    """The command as a shell would take it, its masked arguments left bare."""
    from homelab.core.secret import MASK

    return " ".join(arg if arg == MASK else shlex.quote(arg) for arg in argv)
