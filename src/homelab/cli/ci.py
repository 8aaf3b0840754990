"""`homelab ci github SPEC`: GitHub Actions that plan the lab on pull requests and apply the
reviewed plan on merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from homelab import __version__
from homelab.cli.app import app
from homelab.cli.lab import JsonOpt, SpecArg
from homelab.cli.output import err, out

ci_app = typer.Typer(
    help="Continuous integration for the lab's repository: workflows that validate, rehearse, "
    "plan and apply the spec.",
    no_args_is_help=True,
)
app.add_typer(ci_app, name="ci")


@ci_app.command("github")
def github(
    spec: SpecArg,
    directory: Annotated[
        Path,
        typer.Option(
            "--dir", help="the repository's root, where .github/ goes", metavar="REPO_ROOT"
        ),
    ] = Path(),
    runner_label: Annotated[
        str,
        typer.Option(
            "--runner-label",
            help="the custom label of the self-hosted runner in the lab's network",
            metavar="LABEL",
        ),
    ] = "homelab",
    install: Annotated[
        str,
        typer.Option(
            "--install",
            help="what the workflows `pip install`: a requirement, a URL or a path",
            metavar="REQUIREMENT",
        ),
    ] = f"homelab=={__version__}",
    branch: Annotated[
        str, typer.Option("--branch", help="the branch the lab is applied from")
    ] = "main",
    environment: Annotated[
        str,
        typer.Option(
            "--environment", help="the protected GitHub environment the apply job runs in"
        ),
    ] = "homelab-apply",
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="replace files homelab did not write, or that were edited since"
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write GitHub Actions workflows that plan the lab on pull requests and apply it on merge.

    On a pull request: [bold]homelab validate[/], a rehearsal [bold]homelab up --sim[/] on a
    GitHub-hosted runner (no secrets), and [bold]homelab plan[/] on a self-hosted runner in the
    lab's network, posted to the run's summary and as one pull request comment kept up to date.
    On the merge: [bold]homelab apply --plan[/] of exactly the plan reviewed on the pull request
    (refused if stale), in a protected environment, never beside another plan or apply.

    Writes .github/workflows/homelab-LAB-plan.yml, homelab-LAB-apply.yml and
    .github/actionlint.yaml. Running it again on an unchanged spec changes nothing; a file
    homelab did not write (or that was edited since) is never overwritten without --force.

    Examples:
      homelab ci github lab.yaml
      homelab ci github labs/home.yaml --dir . --runner-label pve-runner
      homelab ci github lab.yaml --install 'git+https://github.com/OWNER/homelab@COMMIT'
      homelab ci github lab.yaml --json
    """
    from homelab.verbs.ci_github import write_github_ci

    result = write_github_ci(
        spec,
        root=directory,
        runner_label=runner_label,
        install=install,
        branch=branch,
        environment=environment,
        force=force,
    )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    width = max(len(f.path) for f in result.files)
    for file in result.files:
        style = "green" if file.status == "written" else None
        out.print(f"{file.path:<{width}}  {file.status}", style=style, markup=False)
    if not result.changed:
        out.print("Nothing to do: the workflows are up to date.", markup=False)
        return
    out.print("\nBefore the first pull request, in the repository's settings on GitHub:")
    out.print("- Secrets and variables > Actions, the secrets:", markup=False)
    for secret in result.secrets:
        need = "" if secret.required else " (optional)"
        out.print(f"    {secret.name}: {secret.why}{need}", markup=False)
    out.print(
        f"- Environments: {result.environment}, with required reviewers (the apply waits "
        "for one of them)",
        markup=False,
    )
    out.print(
        f"- a self-hosted runner in the lab's network, labelled {result.runner_labels[-1]} "
        f"(config.sh --labels {result.runner_labels[-1]})",
        markup=False,
    )
    for note in result.notes:
        err.print(f"note: {note}", markup=False)
