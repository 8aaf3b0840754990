"""`homelab init`: write a first spec (the reference lab with comments) to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.output import out


@app.command()
def init(
    out_file: Annotated[
        Path, typer.Option("--out", help="the spec to write (never overwritten)", metavar="FILE")
    ] = Path("lab.yaml"),
    name: Annotated[str, typer.Option("--name", help="the lab's name (an RFC 1123 label)")] = (
        "home-lab"
    ),
    ssh_key: Annotated[
        Path | None,
        typer.Option(
            "--ssh-key", help="public key for the VMs (default: ~/.ssh/id_ed25519.pub, ...)"
        ),
    ] = None,
) -> None:
    """Write the reference lab (one node, three VMs, kubeadm, Calico, MetalLB) as a start."""
    from homelab.verbs.init import write_reference_lab

    path = write_reference_lab(out_file, name=name, ssh_key=ssh_key)
    out.print(
        f"wrote {path}: edit proxmox.*, networks and vms for your lab, then "
        f"`homelab doctor {path}` and `homelab plan {path}` (or `homelab up {path} --sim`)",
        markup=False,
    )
