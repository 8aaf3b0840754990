"""`homelab diagram SPEC --out FILE`: draw the lab's topology (Graphviz), as specified or observed.

Thin: the format and the output path are checked first, then (``--observed``) the lab is read
as ``homelab status`` reads it, and the verb draws and writes the file; the command prints the
path it wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import SimOpt, SpecArg, lab_session
from homelab.cli.output import out
from homelab.diagram_format import DiagramFormat
from homelab.errors import LabError


@app.command()
def diagram(
    spec: SpecArg,
    out_file: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="the file to write; its extension (.svg, .png, .dot) must match the format",
            metavar="FILE",
        ),
    ],
    fmt: Annotated[
        DiagramFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="svg, png or dot (DOT source, needs no Graphviz); default: from --out",
            case_sensitive=False,
        ),
    ] = None,
    observed: Annotated[
        bool,
        typer.Option(
            "--observed",
            help="ask Proxmox and colour each VM running, stopped, missing or drifted",
        ),
    ] = False,
    sim: SimOpt = False,
) -> None:
    """Draw the lab: Proxmox nodes, bridges and VLANs, VMs, endpoint, LoadBalancer pool, CIDRs.

    Each VM shows its role, IP and VMID (the observed one, else the one pinned in the spec).
    --observed reads the lab as `homelab status` does and colours each VM by its state.
    SVG and PNG need Graphviz's `dot` program (apt install graphviz); DOT source does not.

    Examples:

        homelab diagram lab.yaml --out lab.svg

        homelab diagram lab.yaml --out lab.png --observed

        homelab diagram lab.yaml --out lab.svg --observed --sim

        homelab diagram lab.yaml --format dot --out lab.dot
    """
    from homelab.verbs.diagram import check_graphviz, observe_lab, output_format, write_diagram
    from homelab.verbs.spec import load_valid_spec

    chosen = output_format(out_file, fmt)
    if sim and not observed:
        raise LabError(
            "--sim only matters with --observed: a diagram of the spec asks no Proxmox",
            hint="add --observed to draw the simulated lab as it is",
        )
    check_graphviz(chosen)
    if observed:
        with lab_session(spec, sim) as (ctx, conn):
            seen = observe_lab(conn, ctx)
        lab = ctx.spec
    else:
        seen, lab = None, load_valid_spec(spec)
    written = write_diagram(lab, out_file, chosen, seen)
    out.print(str(written), markup=False)
