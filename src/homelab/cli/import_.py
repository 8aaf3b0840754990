"""`homelab import terraform STATE`: a spec, and the commands to hand the VMs over, from a
Terraform state holding Telmate (proxmox_vm_qemu) or bpg (proxmox_virtual_environment_vm) VMs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import JsonOpt, LabNameOpt, NewSpecOpt
from homelab.cli.output import err, out

import_app = typer.Typer(
    help="Write a homelab spec from what another tool manages (Terraform).",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

_EPILOG = """\
Examples:

  homelab import terraform terraform.tfstate --out lab.yaml --name my-lab

  # a remote backend: the state as Terraform prints it
  terraform state pull | homelab import terraform - --out lab.yaml

  # the commands in a file of their own, the report as JSON
  homelab import terraform terraform.tfstate --commands handover.sh --json
"""


@import_app.command("terraform", epilog=_EPILOG)
def terraform(
    state: Annotated[
        str,
        typer.Argument(
            help="the Terraform state (terraform.tfstate, format version 4), or - for stdin",
            metavar="STATE",
        ),
    ],
    out_file: NewSpecOpt = Path("lab.yaml"),
    name: LabNameOpt = "home-lab",
    commands: Annotated[
        Path | None,
        typer.Option(
            "--commands",
            help="write the hand-over commands to this new file instead of stdout",
            metavar="FILE",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a spec for the Proxmox VMs a Terraform state holds, and the commands that hand
    them over: `terraform state rm` for each, then `homelab adopt`.

    Reads Telmate's proxmox_vm_qemu (2.9.x and 3.x) and bpg's proxmox_virtual_environment_vm,
    in modules too. VMs the spec cannot hold (DHCP, no valid name...) are written commented out
    with the reason; settings the spec does not carry are listed per VM; passwords are never
    copied. The spec is validated before the command says it is done."""
    from homelab.verbs.import_terraform import decode_state, import_terraform, read_state_text

    if state == "-":
        text, source = decode_state(sys.stdin.buffer.read(), "<stdin>"), "<stdin>"
    else:
        text, source = read_state_text(Path(state)), state
    outcome = import_terraform(text, source, out_file, name=name, commands=commands)
    result = outcome.result
    if as_json:
        typer.echo(json.dumps(outcome.to_json(), indent=2))
        return
    report = out if commands is not None else err  # stdout carries the commands otherwise
    report.print(
        f"wrote {outcome.spec}: {len(result.imported)} VM(s) imported, "
        f"{len(result.not_imported)} not imported, {len(result.skipped)} resource(s) skipped",
        style="green",
        markup=False,
    )
    for draft in result.imported:
        vm = draft.vm
        report.print(f"  {vm.name}: {draft.role} ({draft.role_reason})", markup=False)
        for difference in vm.differences():
            report.print(f"    homelab's plan will change {difference.text()}", markup=False)
        for attr in vm.unmapped:
            report.print(f"    not in the spec: {attr.text()}", markup=False)
        for secret in vm.secrets:
            report.print(f"    not imported: {secret} (a secret)", markup=False)
    for vm in result.not_imported:
        report.print(f"  not imported: {vm.address}: {vm.problem}", style="yellow", markup=False)
    for skipped in result.skipped:
        report.print(f"  skipped: {skipped.address}: {skipped.reason}", markup=False)
    for note in result.notes:
        report.print(f"  note: {note}", markup=False)
    for check in result.checks:
        report.print(f"  CHECK: {check}", style="yellow", markup=False)
    if commands is not None:
        report.print(f"wrote the hand-over commands to {commands}", markup=False)
    else:
        typer.echo("\n".join(result.commands))
