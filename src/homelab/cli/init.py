"""`homelab init`: write a first spec to start from: the reference lab with comments, or a
starter spec read from a Proxmox VE cluster (``--from-proxmox``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import JsonOpt, LabNameOpt, NewSpecOpt
from homelab.cli.output import out

_EPILOG = """\
Examples:

  homelab init --out lab.yaml --name my-lab

  # read the cluster (a read-only PVEAuditor token is enough)
  export PROXMOX_VE_ENDPOINT=https://pve.lan:8006
  export PROXMOX_VE_API_TOKEN='reader@pve!init=<secret>'
  export PROXMOX_VE_FINGERPRINT='AB:CD:...'
  homelab init --from-proxmox --out lab.yaml
"""


@app.command(epilog=_EPILOG)
def init(
    out_file: NewSpecOpt = Path("lab.yaml"),
    name: LabNameOpt = "home-lab",
    ssh_key: Annotated[
        Path | None,
        typer.Option(
            "--ssh-key", help="public key for the VMs (default: ~/.ssh/id_ed25519.pub, ...)"
        ),
    ] = None,
    from_proxmox: Annotated[
        bool,
        typer.Option(
            "--from-proxmox",
            help="read nodes, storages, bridges, templates and VMs from Proxmox VE "
            "(PROXMOX_VE_ENDPOINT, PROXMOX_VE_API_TOKEN, PROXMOX_VE_FINGERPRINT) "
            "and write a starter spec for that cluster",
        ),
    ] = False,
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", help="with --from-proxmox: the API (default: env)"),
    ] = None,
    fingerprint: Annotated[
        str | None,
        typer.Option("--fingerprint", help="with --from-proxmox: SHA-256 pin of its certificate"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a first spec: the reference lab (one node, three VMs, kubeadm, Calico, MetalLB),
    or with --from-proxmox a starter spec for the cluster you have."""
    from homelab.verbs.init import init_from_proxmox, write_reference_lab

    if not from_proxmox:
        if endpoint or fingerprint:
            raise typer.BadParameter("--endpoint and --fingerprint go with --from-proxmox")
        path = write_reference_lab(out_file, name=name, ssh_key=ssh_key)
        if as_json:
            typer.echo(json.dumps({"spec": str(path), "from": "reference lab"}, indent=2))
            return
        out.print(
            f"wrote {path}: edit proxmox.*, networks and vms for your lab, then "
            f"`homelab doctor {path}` and `homelab plan {path}` (or `homelab up {path} --sim`)",
            markup=False,
        )
        return
    starter = init_from_proxmox(
        out_file, name=name, ssh_key=ssh_key, endpoint=endpoint, fingerprint=fingerprint
    )
    if as_json:
        shown = {
            "spec": str(out_file),
            "from": "proxmox",
            "template": starter.template,
            "nodes": list(starter.nodes),
            "storage": starter.storage,
            "iso_storage": starter.iso_storage,
            "vmid_range": starter.vmid_range,
            "networks": starter.networks,
            "lab_network": starter.lab_network,
            "adoptable": list(starter.adoptable),
            "notes": list(starter.notes),
        }
        typer.echo(json.dumps(shown, indent=2))
        return
    out.print(
        f"wrote {out_file}: template {starter.template or '(none found)'} on "
        f"{', '.join(starter.nodes)}, disks on {starter.storage}, seeds on "
        f"{starter.iso_storage}, VMIDs {starter.vmid_range}, the lab on {starter.lab_network}",
        markup=False,
    )
    if starter.adoptable:
        out.print(
            f"{len(starter.adoptable)} existing VM(s) could be adopted (commented out in the "
            f"spec): {', '.join(starter.adoptable)}",
            markup=False,
        )
    for note in starter.notes:
        out.print(f"note: {note}", markup=False)
    out.print(f"next: `homelab doctor {out_file}` and `homelab plan {out_file}`", markup=False)
