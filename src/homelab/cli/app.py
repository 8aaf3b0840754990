"""The typer application objects that every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="homelab",
    help=(
        "Build and run a Proxmox VE + kubeadm home lab from one declarative file. "
        "Every verb can rehearse against the built-in simulator first."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

sim_app = typer.Typer(
    help="The built-in Proxmox VE simulator (loopback only).",
    no_args_is_help=True,
)
app.add_typer(sim_app, name="sim")


@app.callback()
def root() -> None:
    """Build and run a Proxmox VE + kubeadm home lab from one declarative file."""
