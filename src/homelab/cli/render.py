"""`homelab render SPEC --out DIR` and `homelab kubeconfig SPEC`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from homelab.cli.app import app
from homelab.cli.output import out

# The spec, the state store and the renderer load when a command runs, not when the CLI starts.
if TYPE_CHECKING:
    from homelab.core.cluster import ClusterSecrets
    from homelab.core.spec.models import LabSpec

SpecArg = Annotated[
    Path, typer.Argument(help="the lab spec (YAML)", metavar="SPEC", show_default=False)
]


def _load(spec_path: Path) -> tuple[LabSpec, ClusterSecrets]:
    from homelab.engine.state import open_store
    from homelab.verbs.secrets import cluster_secrets
    from homelab.verbs.spec import load_valid_spec

    spec = load_valid_spec(spec_path)
    store = open_store(spec_path)
    try:
        return spec, cluster_secrets(store, spec.name)
    finally:
        store.close()


@app.command()
def render(
    spec_path: SpecArg,
    out_dir: Annotated[Path, typer.Option("--out", help="directory to write into", metavar="DIR")],
) -> None:
    """Write every VM's cloud-init seed and the cluster's addon manifests to a directory.

    The seeds hold the cluster's private keys and bootstrap token: files are written 0600.
    """
    from homelab.verbs.render import render_to_dir

    spec, secrets = _load(spec_path)
    paths = render_to_dir(spec, secrets, out_dir)
    out.print(
        f"rendered {len(paths)} files for {len(spec.vms)} VMs of lab {spec.name} into {out_dir}",
        markup=False,
    )


@app.command()
def kubeconfig(
    spec_path: SpecArg,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="file to write (0600); default: .homelab/<lab>/admin.conf"
        ),
    ] = None,
    stdout: Annotated[
        bool, typer.Option("--stdout", help="print the kubeconfig instead (it holds a key)")
    ] = False,
    server: Annotated[
        str | None, typer.Option(help="API URL to use instead of the lab's endpoint")
    ] = None,
    server_name: Annotated[
        str | None,
        typer.Option(
            "--server-name",
            help="reach the API by this DNS name (api.<domain> with an opnsense: section); "
            "the API server's certificate must name it",
        ),
    ] = None,
) -> None:
    """Mint a 1-year admin kubeconfig for the lab's cluster from the tool-owned CA."""
    from homelab.engine.state import state_dir
    from homelab.verbs.kubeconfig import admin_kubeconfig, server_by_name, write_kubeconfig

    spec, secrets = _load(spec_path)
    if server_name is not None:
        if server is not None:
            raise typer.BadParameter("give --server or --server-name, not both")
        server = server_by_name(spec, server_name)
    text = admin_kubeconfig(spec, secrets, server=server)
    if stdout:
        sys.stdout.write(text)
        return
    path = write_kubeconfig(text, out_file or state_dir(spec_path) / spec.name / "admin.conf")
    out.print(f"wrote {path} (mode 0600); use: export KUBECONFIG={path}", markup=False)
