"""`homelab doctor SPEC [--sim] [--json]`: check, before anything changes, what the lab needs.

Exit 0 when nothing is wrong (warnings allowed), 1 on any error. Imports load inside the
command (startup stays light).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from homelab.cli.app import app
from homelab.cli.lab import JsonOpt, SimOpt, SpecArg
from homelab.cli.output import out

if TYPE_CHECKING:
    from homelab.verbs.doctor import DoctorReport

_MARKS = {"ok": ("ok", "green"), "warning": ("warn", "yellow"), "error": ("FAIL", "red")}


@app.command()
def doctor(spec: SpecArg, sim: SimOpt = False, as_json: JsonOpt = False) -> None:
    """Check that Proxmox VE has what the lab needs (reads only); say how to fix each problem."""
    from homelab.verbs.connection import open_connection
    from homelab.verbs.doctor import run_doctor
    from homelab.verbs.spec import load_valid_spec

    lab = load_valid_spec(spec)
    with open_connection(lab, spec, sim=sim) as conn:
        report = run_doctor(conn, lab, spec_path=spec)
    if as_json:
        typer.echo(json.dumps(report_json(report), indent=2))
    else:
        show_report(report)
    if not report.ok:
        raise typer.Exit(1)


def report_json(report: DoctorReport) -> dict[str, object]:
    from homelab.core.doctor import CHECKS

    return {
        "ok": report.ok,
        "pve_version": report.version,
        "checks": {check: report.status(check) for check in CHECKS},
        "findings": [
            {"check": f.check, "severity": f.severity, "problem": f.problem, "fix": f.fix}
            for f in report.findings
        ],
    }


def show_report(report: DoctorReport) -> None:
    from homelab.core.doctor import CHECKS
    from homelab.core.spec.printable import printable

    if report.version is not None:
        out.print(f"Proxmox VE {printable(report.version)}", markup=False)
    for check in CHECKS:
        status = report.status(check)
        if status == "skipped":
            out.print(f"  skip  {check}", style="dim", markup=False)
            continue
        mark, colour = _MARKS[status]
        out.print(f"  {mark:<4}  {check}", style=colour, markup=False)
        for finding in report.findings:
            if finding.check == check:
                out.print(f"        {finding.severity}: {printable(finding.problem)}", markup=False)
                out.print(f"          fix: {printable(finding.fix)}", markup=False)
    errors = sum(f.is_error for f in report.findings)
    warnings = len(report.findings) - errors
    summary = (
        "All checks passed."
        if not report.findings
        else f"{errors} error(s), {warnings} warning(s)."
    )
    out.print(summary, style="bold", markup=False)
