"""`homelab up SPEC`: apply, then converge the cluster and print a summary (or JSON).

Thin: loads the lab, opens the connection (``--sim``: the built-in simulator), calls
``homelab.verbs.up.up_lab`` and shows what it returns. Progress lines go to stderr (not with
``--quiet`` or ``--json``), so stdout holds only the summary.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import (
    ForceOpt,
    JsonOpt,
    MaxUnavailableOpt,
    QuietOpt,
    RecreateOpt,
    RestartAdoptedOpt,
    SimOpt,
    SpecArg,
    YesOpt,
    apply_confirmer,
    lab_session,
    progress_sink,
    show_notes,
    step_printer,
)
from homelab.cli.output import err, out

if TYPE_CHECKING:
    from homelab.verbs.up import UpOutcome

DEFAULT_TIMEOUT = 1800.0  # the verb's default, here so that importing the CLI stays light

_PAST = {"create": "created", "update": "updated", "replace": "replaced", "destroy": "destroyed"}


@app.command()
def up(
    spec: SpecArg,
    sim: SimOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    merge_kubeconfig: Annotated[
        bool,
        typer.Option(
            "--merge-kubeconfig",
            help="also merge the admin kubeconfig into ~/.kube/config (context: the lab's name)",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=1, help="seconds to wait for the cluster after apply"),
    ] = DEFAULT_TIMEOUT,
    recreate_cluster: RecreateOpt = False,
    restart_adopted: RestartAdoptedOpt = False,
    force: ForceOpt = False,
    max_unavailable: MaxUnavailableOpt = 1,
) -> None:
    """Build the lab: apply the VMs, then wait for Kubernetes, install the addons, check health.

    A running node is drained before it is restarted, replaced or destroyed."""
    from homelab.core.ownership import Flags
    from homelab.core.spec.opnsense import dns_names
    from homelab.engine.apply.progress import Silent
    from homelab.engine.apply.runtime import Limits
    from homelab.verbs.up import up_lab  # the Kubernetes client loads only for `up`

    silent = quiet or as_json

    confirm = apply_confirmer(yes, silent=silent)
    step = step_printer(silent)

    if sim:  # the simulated lab stays up after `up`, like kind's or minikube's
        _start_background(spec)
    with lab_session(spec, sim) as (ctx, conn):
        sink = (
            contextlib.nullcontext(Silent()) if silent else progress_sink(list(ctx.spec.vms), quiet)
        )
        with sink as progress:
            outcome = up_lab(
                conn,
                ctx,
                confirm=confirm,
                progress=progress,
                timeout=timeout,
                merge_kubeconfig=merge_kubeconfig,
                on_step=step,
                flags=Flags(
                    recreate_cluster=recreate_cluster,
                    force_drain=force,
                    restart_adopted=restart_adopted,
                ),
                limits=Limits(max_unavailable=max_unavailable),
            )
        names = dns_names(ctx.spec)
    if as_json:
        typer.echo(json.dumps(outcome.to_dict(), indent=2))
        return
    show_notes(outcome.applied)
    show_summary(outcome, names)
    if sim:
        err.print(
            f"The simulated lab keeps running in the background: `homelab sim stop {spec}`",
            markup=False,
        )


def _start_background(spec: Path) -> None:
    from homelab.simulated.background import start_background
    from homelab.simulated.lab import sim_dir
    from homelab.verbs.spec import load_valid_spec

    start_background(spec, sim_dir(spec, load_valid_spec(spec).name))


def show_summary(outcome: UpOutcome, names: dict[str, str] | None = None) -> None:
    """Nodes (role, IP, version, Ready), the API endpoint, the pool, the kubeconfig, the time;
    with ``names`` (OPNsense's DNS names of the lab), the endpoint's and each node's name."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("node", "role", "ip", "version", "ready"):
        table.add_column(column)
    for node in outcome.health.nodes:
        ready = "[green]Ready[/]" if node.ready else "[red]NotReady[/]"
        table.add_row(node.name, node.role, node.ip, node.version or "-", ready)
    out.print(table)
    out.print()
    out.print(f"API endpoint:      https://{outcome.endpoint}:6443", markup=False)
    if names:
        from homelab.core.spec.opnsense import API_HOSTNAME

        api = names.get(API_HOSTNAME)
        others = [name for key, name in names.items() if key != API_HOSTNAME]
        out.print(f"API by name:       https://{api}:6443 (OPNsense's Unbound)", markup=False)
        out.print(f"node names:        {', '.join(others)}", markup=False)
    out.print(f"LoadBalancer pool: {outcome.load_balancer or '(none)'}", markup=False)
    out.print(f"kubeconfig:        {outcome.kubeconfig}", markup=False)
    if outcome.merged_into is not None:
        out.print(f"merged into:       {outcome.merged_into} (context {outcome.lab})", markup=False)
    snapshots = outcome.etcd_snapshots
    if snapshots.schedule is not None:
        out.print(
            f"etcd snapshots:    {snapshots.schedule} on "
            f"{', '.join(snapshots.nodes) or '(no control plane runs)'}",
            markup=False,
        )
    out.print(f"seed ISOs:         {_seed_line(outcome)}", markup=False)
    if outcome.monitoring is not None:
        url = outcome.monitoring.grafana_url or "(no LoadBalancer address yet)"
        out.print(f"Grafana:           {url}", markup=False)
        out.print(f"Grafana login:     {outcome.monitoring.password_hint}", markup=False)
    out.print(f"elapsed:           {outcome.elapsed:.1f} s", markup=False)
    out.print()
    out.print(_closing_line(outcome), style="bold green", markup=False)


def _seed_line(outcome: UpOutcome) -> str:
    """What rests on the ISO storage: the VMs by what became of their secret seed."""
    by_state: dict[str, list[str]] = {}
    for vm, state in outcome.seeds_scrubbed.vms.items():
        by_state.setdefault(state, []).append(vm)
    if not by_state:
        return "(no VM runs)"
    words = {"scrubbed": "secret-free now", "already": "secret-free"}
    return "; ".join(
        f"{words.get(state, state)}: {', '.join(vms)}" for state, vms in by_state.items()
    )


def _closing_line(outcome: UpOutcome) -> str:
    if outcome.noop:
        return (
            "No changes: the VMs match the spec and the addons are unchanged. "
            "The cluster is healthy."
        )
    parts = []
    report = outcome.applied.report
    kinds = [_PAST.get(o.kind, o.kind) for o in (report.outcomes if report else ())]
    if kinds:
        parts.append("VMs " + ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds)))
    else:
        parts.append("VMs unchanged")
    if report is not None and report.jobs:
        parts.append(f"{len(report.jobs)} backup job(s) set")
    parts += outcome.applied.done  # upgraded nodes, keys pushed
    changed = outcome.addons.changed
    parts.append(f"{len(changed)} addon object(s) applied" if changed else "addons unchanged")
    for state in ("installed", "updated", "removed"):
        names = [n for n, s in outcome.etcd_snapshots.nodes.items() if s == state]
        if names:
            parts.append(f"etcd snapshot timer {state} on {', '.join(names)}")
    scrubbed = [vm for vm, state in outcome.seeds_scrubbed.vms.items() if state == "scrubbed"]
    if scrubbed:
        parts.append(f"secret seed ISO(s) of {', '.join(scrubbed)} replaced by secret-free twins")
    return f"Lab {outcome.lab} is up: " + "; ".join(parts) + ". The cluster is healthy."
