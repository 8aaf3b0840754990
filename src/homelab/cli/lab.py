"""`homelab plan | apply | destroy | adopt | status | journal SPEC`: the provisioning commands.

Thin: each command loads the lab, opens the connection (``--sim``: the built-in simulator over
HTTPS on loopback), calls a verb, and shows what it returns. Known failures are LabErrors, shown
by main.py as one red line with exit code 1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from homelab.cli.app import app
from homelab.cli.output import err, is_terminal, out
from homelab.errors import LabError

# Everything below loads inside the command that uses it, so that `homelab --help`, `version`
# and `validate` start without the engine, the state store or the simulator.
if TYPE_CHECKING:
    from homelab.core.plan.actions import Plan
    from homelab.engine.apply.executor import ApplyReport
    from homelab.engine.apply.progress import ProgressSink
    from homelab.verbs.connection import Connection
    from homelab.verbs.lab import LabContext
    from homelab.verbs.metrics import LabHealth
    from homelab.verbs.provision import ApplyOutcome

SpecArg = Annotated[Path, typer.Argument(help="the lab spec (YAML)", metavar="SPEC")]
SimOpt = Annotated[bool, typer.Option("--sim", help="use the built-in simulator")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
#: the spec a command writes (init, import terraform), and the lab's name in it
NewSpecOpt = Annotated[
    Path, typer.Option("--out", help="the spec to write (never overwritten)", metavar="FILE")
]
LabNameOpt = Annotated[str, typer.Option("--name", help="the lab's name (an RFC 1123 label)")]
TakeOverOpt = Annotated[
    bool,
    typer.Option(
        "--take-over",
        help="act on the lab's VMs even if another state store manages them (that store is gone)",
    ),
]
RecreateOpt = Annotated[
    bool,
    typer.Option(
        "--recreate-cluster",
        help="allow a change that re-creates or cuts the Kubernetes cluster (replacing the only "
        "control plane, or an HA control plane); nothing is drained then",
    ),
]
RestartAdoptedOpt = Annotated[
    bool,
    typer.Option(
        "--restart-adopted",
        help="restart (drained) adopted VMs when a change needs it; homelab did not boot them",
    ),
]
MaxUnavailableOpt = Annotated[
    int,
    typer.Option(
        "--max-unavailable",
        min=1,
        help="how many worker nodes may be drained at once (control planes: one at a time)",
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="go past a drain that cannot finish: delete the pods a disruption budget protects, "
        "or change the VMs undrained when the API server does not answer",
    ),
]
DetailedOpt = Annotated[
    bool, typer.Option("--detailed-exitcode", help="exit 0: no changes, 2: changes, 1: error")
]

_PAST = {
    "create": "created",
    "update": "updated",
    "replace": "replaced",
    "destroy": "destroyed",
    "adopt": "adopted",
    "delete": "deleted",
}
_COLOURS = {
    "+": "green",
    "~": "yellow",
    "-/+": "magenta",
    "^": "blue",  # a node's step of the rolling Kubernetes upgrade
    "-": "red",
    "&": "cyan",
    "!": "red",
    "*": "yellow",
}


@contextlib.contextmanager
def lab_session(spec: Path, sim: bool) -> Iterator[tuple[LabContext, Connection]]:
    from homelab.verbs.connection import open_connection
    from homelab.verbs.lab import prepare_lab

    ctx = prepare_lab(spec)
    try:
        with open_connection(ctx.spec, spec, sim=sim) as conn:
            yield ctx, conn
    finally:
        ctx.close()


def show_plan(plan: Plan, *, verbose: bool = False) -> None:
    from homelab.core.plan.text import plan_lines

    lines = plan_lines(plan, verbose=verbose)
    for line in lines[:-1]:
        out.print(line.render(), style=_COLOURS.get(line.marker), markup=False)
    if len(lines) > 1:
        out.print()
    out.print(lines[-1].render(), style="bold", markup=False)


def apply_confirmer(yes: bool, *, silent: bool) -> Callable[[Plan], bool]:
    """The confirmation of a verb that applies a plan: the plan is shown (not when ``silent``
    and already confirmed with --yes), then asked about."""

    def confirm(made: Plan) -> bool:
        if not silent or not yes:
            show_plan(made)
        return ask("Apply these changes?", yes)

    return confirm


def step_printer(silent: bool) -> Callable[[str], None]:
    """Progress lines (``- waiting for ...``) on stderr, none when ``silent``."""

    def step(text: str) -> None:
        if not silent:
            err.print(f"- {text}", markup=False)

    return step


def ask(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise LabError(
            f"{question} needs confirmation, and stdin is not a terminal",
            hint="pass --yes to confirm non-interactively",
        )
    return typer.confirm(question, default=False)


def progress_sink(vms: list[str], quiet: bool) -> contextlib.AbstractContextManager[ProgressSink]:
    from homelab.cli.progress import LiveTable, PlainLines
    from homelab.engine.apply.progress import Silent

    if quiet:
        return contextlib.nullcontext(Silent())
    if is_terminal():
        return LiveTable(vms, out)
    return contextlib.nullcontext(PlainLines(lambda text: out.print(text, markup=False)))


@app.command()
def plan(
    spec: SpecArg,
    sim: SimOpt = False,
    as_json: JsonOpt = False,
    detailed_exitcode: DetailedOpt = False,
    out_file: Annotated[Path | None, typer.Option("--out", help="save the plan to FILE")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list unchanged VMs")] = False,
    take_over: TakeOverOpt = False,
    recreate_cluster: RecreateOpt = False,
    restart_adopted: RestartAdoptedOpt = False,
) -> None:
    """Show what apply would change: + create, ~ update, -/+ replace, - destroy."""
    from homelab.core.ownership import Flags
    from homelab.core.plan.json import plan_to_json
    from homelab.verbs.lab import make_plan

    with lab_session(spec, sim) as (ctx, conn):
        flags = Flags(
            take_over=take_over,
            recreate_cluster=recreate_cluster,
            restart_adopted=restart_adopted,
        )
        made, _ = make_plan(conn, ctx, flags=flags)
    if out_file is not None:
        try:
            out_file.write_text(plan_to_json(made), encoding="utf-8")
        except OSError as exc:
            raise LabError(f"cannot write the plan to {out_file}: {exc.strerror}") from exc
    report_plan(made, as_json=as_json, detailed_exitcode=detailed_exitcode, verbose=verbose)


def report_plan(made: Plan, *, as_json: bool, detailed_exitcode: bool, verbose: bool) -> None:
    """Show a plan (text or JSON) and exit as ``--detailed-exitcode`` asks (1 on errors)."""
    from homelab.core.plan.json import plan_to_json

    if as_json:
        typer.echo(plan_to_json(made), nl=False)
    else:
        show_plan(made, verbose=verbose)
    if detailed_exitcode and made.detailed_exit_code:
        raise typer.Exit(made.detailed_exit_code)
    if made.errors or not made.is_final:
        raise typer.Exit(1)


@app.command()
def apply(
    spec: SpecArg,
    sim: SimOpt = False,
    yes: YesOpt = False,
    quiet: QuietOpt = False,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="apply this saved plan as is (refused if stale)")
    ] = None,
    take_over: TakeOverOpt = False,
    recreate_cluster: RecreateOpt = False,
    restart_adopted: RestartAdoptedOpt = False,
    force: ForceOpt = False,
    max_unavailable: MaxUnavailableOpt = 1,
) -> None:
    """Make the lab match the spec: plan, confirm, then clone, configure, seed, resize, start.

    A running node is drained before it is restarted, replaced or destroyed."""
    from homelab.core.ownership import Flags
    from homelab.engine.apply.runtime import Limits
    from homelab.verbs.provision import apply_lab

    saved = _read_plan(plan_file) if plan_file is not None else None

    def confirm(made: Plan) -> bool:
        if not quiet or not yes:
            show_plan(made)
        return saved is not None or ask("Apply these changes?", yes)

    with lab_session(spec, sim) as (ctx, conn), progress_sink(list(ctx.spec.vms), quiet) as sink:
        flags = Flags(
            take_over,
            recreate_cluster=recreate_cluster,
            force_drain=force,
            restart_adopted=restart_adopted,
        )
        limits = Limits(max_unavailable=max_unavailable)
        outcome = apply_lab(
            conn, ctx, confirm=confirm, saved=saved, progress=sink, flags=flags, limits=limits
        )
    show_notes(outcome)
    if outcome.report is None:
        out.print("No changes. The lab matches the spec.", markup=False)
        return
    finish(outcome.report, "Apply")


def show_notes(outcome: ApplyOutcome) -> None:
    """What apply recovered from an interrupted run, and what it warns about."""
    for note in outcome.notes:
        err.print(f"recovered: {note}", markup=False)
    for warning in outcome.warnings:
        err.print(f"warning: {warning}", style="yellow", markup=False)
    for item in outcome.done:
        out.print(item, markup=False)


def _read_plan(path: Path) -> Plan:
    from homelab.core.plan.json import plan_from_json

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabError(f"cannot read the plan file {path}: {exc.strerror}") from exc
    return plan_from_json(text)


def finish(report: ApplyReport, what: str) -> None:
    """The closing line; a LabError (exit 1) naming the VMs that failed."""
    for outcome in report.outcomes:
        for warning in outcome.warnings:
            err.print(f"warning: vm {outcome.vm}: {warning}", style="yellow", markup=False)
    failed = report.failed
    if failed:
        first = failed[0]
        raise LabError(
            f"{what} failed for {len(failed)} of {len(report.outcomes)} VM(s); "
            f"{first.vm}: {first.error}",
            hint="fix the cause and run the command again; it resumes where it stopped",
        )
    if report.failed_jobs:
        first_job = report.failed_jobs[0]
        raise LabError(
            f"{what} failed for {len(report.failed_jobs)} backup job(s); "
            f"{first_job.name}: {first_job.error}",
            hint="fix the cause and run the command again",
        )
    kinds = [_PAST.get(o.kind, o.kind) for o in report.outcomes]
    counts = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds)) or "no VM changed"
    jobs = [_PAST.get(o.kind, o.kind) for o in report.jobs]
    if jobs:
        counts += "; backup jobs " + ", ".join(f"{jobs.count(k)} {k}" for k in dict.fromkeys(jobs))
    out.print(f"{what} complete: {counts}.", style="bold green", markup=False)


@app.command()
def destroy(
    spec: SpecArg,
    sim: SimOpt = False,
    yes: YesOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    detailed_exitcode: DetailedOpt = False,
    take_over: TakeOverOpt = False,
) -> None:
    """Destroy the lab's VMs (those proven the lab's by their homelab record) and seed ISOs.

    With --json or --detailed-exitcode, only shows the plan of the destroy (nothing changes)."""
    from homelab.core.ownership import Flags
    from homelab.verbs.provision import destroy_lab, plan_destroy

    flags = Flags(take_over=take_over)
    if as_json or detailed_exitcode:
        with lab_session(spec, sim) as (ctx, conn):
            made, _ = plan_destroy(conn, ctx, flags)
        report_plan(made, as_json=as_json, detailed_exitcode=detailed_exitcode, verbose=False)
        return

    def confirm(made: Plan) -> bool:
        show_plan(made)
        return ask(f"Destroy {len(made.changes)} VM(s) and the lab's seed ISOs?", yes)

    with lab_session(spec, sim) as (ctx, conn), progress_sink(list(ctx.spec.vms), quiet) as sink:
        outcome = destroy_lab(conn, ctx, confirm=confirm, progress=sink, flags=flags)
    for warning in outcome.plan.warnings:
        err.print(f"note: {warning}", markup=False)
    if outcome.report is None and not outcome.seeds_removed:
        out.print("Nothing to destroy.", markup=False)
        return
    if outcome.report is not None and outcome.report.outcomes:
        finish(outcome.report, "Destroy")
    if outcome.seeds_removed:
        out.print(f"Removed {len(outcome.seeds_removed)} seed ISO(s).", markup=False)


@app.command()
def adopt(
    spec: SpecArg,
    sim: SimOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    detailed_exitcode: DetailedOpt = False,
    take_over: TakeOverOpt = False,
    from_other_lab: Annotated[
        bool,
        typer.Option("--from-other-lab", help="also take VMs that carry another lab's mark"),
    ] = False,
) -> None:
    """Take over existing VMs that have the spec's names (e.g. made by Terraform): tag them.

    With --json or --detailed-exitcode, only shows the plan of the adopt (nothing changes)."""
    from homelab.core.ownership import Flags
    from homelab.verbs.lab import Purpose, make_plan
    from homelab.verbs.provision import adopt_lab

    flags = Flags(take_over=take_over, from_other_lab=from_other_lab)
    if as_json or detailed_exitcode:
        with lab_session(spec, sim) as (ctx, conn):
            made, _ = make_plan(conn, ctx, purpose=Purpose.ADOPT, flags=flags)
        report_plan(made, as_json=as_json, detailed_exitcode=detailed_exitcode, verbose=False)
        return

    def confirm(made: Plan) -> bool:
        show_plan(made)
        return ask(f"Adopt {len(made.changes)} VM(s)?", yes)

    with lab_session(spec, sim) as (ctx, conn):
        outcome = adopt_lab(conn, ctx, confirm=confirm, flags=flags)
    if outcome.report is None:
        out.print("Nothing to adopt.", markup=False)
        return
    finish(outcome.report, "Adopt")
    out.print("Run `homelab plan` to see what differs.", markup=False)


@app.command()
def status(
    spec: SpecArg,
    sim: SimOpt = False,
    as_json: JsonOpt = False,
    no_health: Annotated[
        bool,
        typer.Option(
            "--no-health", help="Proxmox only: do not ask the cluster (e.g. its network is away)"
        ),
    ] = False,
) -> None:
    """The lab's VMs: state, IPs, drift from the spec, and health (each node in the cluster;
    the lab's certificates, last apply and etcd snapshot); with an opnsense: section, the
    firewall's too (in sync or drift). An interrupted patch run, rolling upgrade or drain is
    shown with the command that finishes it."""
    from rich.table import Table

    from homelab.cli.net import firewall_line, firewall_status
    from homelab.verbs.interrupted import interrupted_runs
    from homelab.verbs.lab import lab_status
    from homelab.verbs.metrics import lab_health

    with lab_session(spec, sim) as (ctx, conn):
        rows, made = lab_status(conn, ctx)
        health = None if no_health else lab_health(conn, ctx)
        firewall = firewall_status(spec, sim) if ctx.spec.opnsense is not None else None
        left = interrupted_runs(ctx.store.intents(ctx.lab).all(), str(spec))
    if as_json:
        doc = {
            "lab": made.lab,
            "vms": [
                {**r.to_dict(), **({"health": health.nodes.get(r.vm, "")} if health else {})}
                for r in rows
            ],
            "errors": list(made.errors),
            "interrupted": [i.to_dict() for i in left],
            **({"health": health.to_dict()} if health else {}),
            **({"firewall": firewall} if firewall is not None else {}),
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    table = Table(box=None, pad_edge=False)
    columns = ("vm", "role", "vmid", "node", "state", "ips", "drift")
    for column in (*columns, "health") if health else columns:
        table.add_column(column)
    for r in rows:
        style = "green" if r.drift == "in sync" else "yellow"
        cells = [
            r.vm,
            r.role,
            str(r.vmid or "-"),
            r.node or "-",
            r.state,
            ", ".join(r.ips) or "-",
            f"[{style}]{r.drift}[/]",
        ]
        if health:
            node = health.nodes.get(r.vm, "")
            colour = "green" if node == "Ready" else "yellow"
            cells.append(f"[{colour}]{escape(node) or '-'}[/]")
        table.add_row(*cells)
    out.print(table)
    for r in rows:
        if r.drift != "in sync" and r.reason:
            out.print(f"{r.vm}: {r.reason}", markup=False)
    for i in left:
        out.print(i.line(), style="yellow", markup=False)
    for line, warn in health_lines(health, time.time()) if health else []:
        out.print(line, style="yellow" if warn else None, markup=False)
    if firewall is not None:
        line, warn = firewall_line(firewall)
        out.print(line, style="yellow" if warn else None, markup=False)


def health_lines(health: LabHealth, now: float) -> list[tuple[str, bool]]:
    """The lab's own facts as lines, each with whether it is a warning."""
    lines: list[tuple[str, bool]] = []
    if health.api:
        lines.append((f"cluster: {health.api}", health.api != "no cluster yet"))
    for name, expiry in sorted(health.facts.certificates.items()):
        days = (expiry - now) / 86400
        when = dt.datetime.fromtimestamp(expiry, dt.UTC).date().isoformat()
        lines.append((f"certificate {name}: expires {when} (in {days:.0f} d)", days < 30))
    apply = health.facts.last_apply
    if apply is not None:
        at = (
            dt.datetime.fromtimestamp(apply.at, dt.UTC).isoformat(timespec="minutes")
            if apply.at is not None
            else "interrupted"
        )
        lines.append((f"last apply: {at}, {'ok' if apply.ok else 'FAILED'}", not apply.ok))
    snapshot = health.facts.etcd_snapshot_last
    if snapshot is None:
        lines.append(("etcd snapshot: none kept locally", False))
    else:
        age = (now - snapshot) / 3600
        lines.append((f"etcd snapshot: newest {age:.0f} h old", age > 26))
    for source, count in sorted(health.facts.errors.items()):
        lines.append((f"could not read {source} ({count})", True))
    return lines


@app.command()
def unlock(spec: SpecArg, yes: YesOpt = False) -> None:
    """Remove the lab's lock left by an apply whose process is gone (SQLite state store)."""
    from homelab.verbs.lab import prepare_lab

    ctx = prepare_lab(spec)
    try:
        if not ask(f"Remove the lock of lab {ctx.lab}? Only do this if no apply runs", yes):
            raise LabError("unlock cancelled")
        removed = ctx.store.force_unlock(ctx.lab)
    finally:
        ctx.close()
    out.print(f"Lab {ctx.lab} unlocked." if removed else f"Lab {ctx.lab} was not locked.")


journal_app = typer.Typer(help="The crash journal of a lab: what an interrupted run left to do.")
app.add_typer(journal_app, name="journal")


@journal_app.command("show")
def journal_show(spec: SpecArg, as_json: JsonOpt = False) -> None:
    """List the journal's entries (apply and destroy resolve them before they act)."""
    from homelab.engine.apply.reconcile import describe_intent
    from homelab.verbs.lab import prepare_lab

    ctx = prepare_lab(spec)
    try:
        intents = ctx.store.intents(ctx.lab).all()
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(intents, indent=2, sort_keys=True))
        return
    if not intents:
        out.print(f"The journal of lab {ctx.lab} is empty.", markup=False)
    for key, data in intents.items():
        out.print(describe_intent(key, data), markup=False)


@journal_app.command("drop")
def journal_drop(
    spec: SpecArg,
    key: Annotated[
        str, typer.Argument(help="the entry, as `journal show` lists it", metavar="KEY")
    ],
    yes: YesOpt = False,
) -> None:
    """Drop an entry that can never complete (check Proxmox by hand first: nothing is undone)."""
    from homelab.engine.apply.reconcile import describe_intent
    from homelab.verbs.lab import prepare_lab

    ctx = prepare_lab(spec)
    try:
        with ctx.store.lock(ctx.lab, purpose="journal drop"):
            journal = ctx.store.intents(ctx.lab)
            intents = journal.all()
            if key not in intents:
                known = ", ".join(intents) or "none"
                raise LabError(f"no journal entry {key!r} in lab {ctx.lab} (entries: {known})")
            line = describe_intent(key, intents[key])
            if not ask(f"Drop {line}? What it did on Proxmox stays as it is", yes):
                raise LabError("journal drop cancelled")
            journal.remove(key)
    finally:
        ctx.close()
    out.print(f"Dropped {key}.", markup=False)
