"""`homelab validate SPEC` and `homelab schema`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from homelab.cli.app import app
from homelab.cli.output import out

# The spec models (pydantic) load when `validate` or `schema` runs, not for `--help`/`version`.
if TYPE_CHECKING:
    from homelab.core.spec.validate import ValidationResult

_STYLES = {"error": "red", "warning": "yellow"}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_line(result: ValidationResult) -> str:
    """'2 errors, 1 warning' or 'ok: home-lab (3 VMs)' (plus warnings when there are some)."""
    errors, warnings = len(result.errors), len(result.warnings)
    if errors or result.spec is None:
        return f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    text = f"ok: {result.spec.name} ({_plural(len(result.spec.vms), 'VM')})"
    return f"{text}, {_plural(warnings, 'warning')}" if warnings else text


def _print_findings(result: ValidationResult) -> None:
    for finding in result.findings:
        out.print(finding.format(result.source), style=_STYLES[finding.severity], markup=False)
    style = "red" if result.errors else "green"
    out.print(summary_line(result), style=style, markup=False)


@app.command()
def validate(
    spec: Annotated[Path, typer.Argument(help="the lab spec file (YAML)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the findings as JSON")] = False,
) -> None:
    """Check a spec: report every problem as SPEC:LINE:COL: severity: path: message."""
    from homelab.verbs.spec import read_spec

    result = read_spec(spec)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        _print_findings(result)
    if result.errors:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the spec's JSON Schema (for editors and linters)."""
    from homelab.verbs.spec import spec_schema

    typer.echo(json.dumps(spec_schema(), indent=2))
