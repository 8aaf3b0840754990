"""`homelab backup status|now SPEC`: the lab's backups, and one more now."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from homelab.cli.app import app
from homelab.cli.lab import JsonOpt, SimOpt, SpecArg, lab_session
from homelab.cli.output import err, out

backup_app = typer.Typer(
    help="The lab's backups: their state (status) and a backup now (now).",
    no_args_is_help=True,
)
app.add_typer(backup_app, name="backup")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f}d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m"


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}TiB"


@backup_app.command("status")
def status(spec: SpecArg, sim: SimOpt = False, as_json: JsonOpt = False) -> None:
    """Show the lab's backups, and exit 1 when one is missing or too old.

    Per VM its newest backup (age, size, verification), the jobs covering it and its last drill;
    VMs no job covers or whose newest backup is older than max_age; the newest etcd snapshot.
    Exit 1 when anything is wrong (for cron and CI)."""
    from homelab.verbs.backup import backup_status

    with lab_session(spec, sim) as (ctx, conn):
        report = backup_status(conn, ctx)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        out.print(f"Backups of lab {report.lab} on storage {report.storage}", markup=False)
        out.print(
            f"{'VM':<16} {'VMID':>6} {'AGE':>7} {'SIZE':>9} {'COPIES':>6}  JOBS", markup=False
        )
        for row in report.vms:
            drill = report.drills.get(row.vm)
            proven = "-" if drill is None else ("drill ok" if drill.get("ok") else "drill FAILED")
            size = row.newest.size if row.newest is not None else None
            verified = (
                f" verify:{row.newest.verified}" if row.newest and row.newest.verified else ""
            )
            out.print(
                f"{row.vm:<16} {row.vmid or '-':>6} {_age(row.age):>7} {_size(size):>9} "
                f"{row.count:>6}  {', '.join(row.jobs) or '-'}{verified}  {proven}",
                markup=False,
            )
        for job in report.jobs:
            when = (
                time.strftime("%Y-%m-%d %H:%M", time.localtime(job.next_run))
                if job.next_run
                else "-"
            )
            state = "" if job.enabled else " (disabled)"
            out.print(f"job {job.name}: {job.schedule}, next run {when}{state}", markup=False)
        if report.etcd_newest is None:
            out.print("etcd: no snapshot kept on this machine", markup=False)
        else:
            age = _age(report.local_now - report.etcd_newest)
            out.print(f"etcd: newest snapshot kept here {age} old", markup=False)
        for vm, node in sorted(report.etcd_nodes.items()):
            if node.error is not None:
                line = f"cannot read its snapshots: {node.error}"
            elif node.newest is None:
                line = "no scheduled snapshot yet"
            else:
                age = _age(report.now - node.newest)
                line = f"{node.count} scheduled snapshot(s), newest {age} old"
            failed = " (its last run failed)" if node.last_run_failed else ""
            out.print(f"etcd on {vm}: {line}{failed}", markup=False)
        for problem in report.problems:
            err.print(f"problem: {problem}", style="yellow", markup=False)
        if report.ok:
            out.print("All VMs of the lab are backed up within their max_age.", style="green")
    raise typer.Exit(0 if report.ok else 1)


@backup_app.command("now")
def now(
    spec: SpecArg,
    sim: SimOpt = False,
    vm: Annotated[
        str | None, typer.Option("--vm", help="back up only this VM (its name in the spec)")
    ] = None,
) -> None:
    """Back the lab's VMs (or one) up now, and wait.

    vzdump through the API, to the spec's backup storage; prints the archives written."""
    from homelab.verbs.backup import backup_now

    with lab_session(spec, sim) as (ctx, conn):
        run = backup_now(conn, ctx, vm)
    for node, archives in sorted(run.archives.items()):
        for archive in archives:
            out.print(f"{node}: {archive}", markup=False)
    for node, error in sorted(run.errors.items()):
        err.print(f"error: {node}: {error}", style="red", markup=False)
    if not run.ok:
        raise typer.Exit(1)
    count = sum(len(a) for a in run.archives.values())
    out.print(f"Backup complete: {count} archive(s) written.", style="bold green", markup=False)


@backup_app.command("drill")
def drill(
    spec: SpecArg,
    sim: SimOpt = False,
    as_json: JsonOpt = False,
    vm: Annotated[
        list[str] | None, typer.Option("--vm", help="drill only this VM (repeatable)")
    ] = None,
) -> None:
    """Prove the newest backups restore, one VM at a time.

    Each into a scratch VMID with new MACs and its link down, booted, its guest agent and its
    role's files checked, then destroyed. Exit 1 if any drill fails; `backup status` shows the
    last drill per VM."""
    from homelab.verbs.restore import drill as run_drill

    with lab_session(spec, sim) as (ctx, conn):
        results = run_drill(conn, ctx, vm or None)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for result in results:
            style = "green" if result.ok else "red"
            word = "passed" if result.ok else "FAILED"
            out.print(
                f"drill {result.vm}: {word}: {result.detail} ({result.backup or 'no backup'})",
                style=style,
                markup=False,
            )
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


@backup_app.command("etcd")
def etcd(spec: SpecArg, sim: SimOpt = False) -> None:
    """Take an etcd snapshot now and keep it, sealed, on this machine.

    Taken on a control plane through the guest agent, fetched, checked against etcdutl's status
    and its SHA-256, kept under .homelab/<lab>/etcd/ and pruned by backup.etcd.retention."""
    from homelab.verbs.etcd import backup_etcd

    with lab_session(spec, sim) as (ctx, conn):
        snap = backup_etcd(conn, ctx)
    out.print(
        f"etcd snapshot of {snap.vm}: revision {snap.revision}, {snap.keys} keys, "
        f"{_size(snap.size)}, sha256 {snap.sha256[:16]}..., kept as {snap.path}",
        markup=False,
    )
    for name in snap.pruned:
        out.print(f"pruned {name} (retention)", markup=False)
