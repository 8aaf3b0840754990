"""`homelab patch SPEC`: the OS updates of the lab's nodes, drained one at a time."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import (
    JsonOpt,
    MaxUnavailableOpt,
    QuietOpt,
    SimOpt,
    SpecArg,
    YesOpt,
    ask,
    lab_session,
    progress_sink,
)
from homelab.cli.output import out

RebootOpt = Annotated[
    str,
    typer.Option(
        "--reboot",
        help="auto: reboot a node when /var/run/reboot-required exists; always; never (the "
        "report says which nodes need one)",
        case_sensitive=False,
    ),
]
OnlyOpt = Annotated[
    list[str] | None,
    typer.Option("--only", metavar="NODE", help="patch only this node (repeatable)"),
]


@app.command()
def patch(
    spec: SpecArg,
    only: OnlyOpt = None,
    reboot: RebootOpt = "auto",
    max_unavailable: MaxUnavailableOpt = 1,
    sim: SimOpt = False,
    yes: YesOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Upgrade the OS packages of the lab's running nodes, one node at a time: drain, `apt-get
    dist-upgrade` with the Kubernetes packages and the container runtime held, reboot (auto:
    when the upgrade asks for it), wait Ready, uncordon. Prints what changed on each node.

    Interrupted, it resumes where it stopped: finished nodes are not patched again."""
    from homelab.engine.apply.runtime import Limits
    from homelab.engine.patch import PatchTarget
    from homelab.verbs.patch import outcome_json, outcome_text, patch_lab

    def confirm(targets: list[PatchTarget]) -> bool:
        if not yes:
            out.print(f"Nodes to patch: {', '.join(t.vm for t in targets)}", markup=False)
        return ask(f"Patch {len(targets)} node(s), draining each?", yes)

    with (
        lab_session(spec, sim) as (ctx, conn),
        progress_sink(list(ctx.spec.vms), quiet or as_json) as sink,
    ):
        outcome = patch_lab(
            conn,
            ctx,
            only=list(only or []),
            reboot=reboot.lower(),
            confirm=confirm,
            progress=sink,
            limits=Limits(max_unavailable=max_unavailable),
        )
    if as_json:
        typer.echo(json.dumps(outcome_json(outcome), indent=2))
    else:
        out.print(outcome_text(outcome), markup=False)
