"""What the first-boot tests share: a spec without some VMs, a node's secret-free user-data."""

from __future__ import annotations

from pathlib import Path

from homelab.core.render.cloudinit import clean_user_data, dump_user_data, user_data
from homelab.core.render.versions import versions_for
from homelab.verbs.lab import LabContext
from homelab.verbs.secrets import cluster_secrets


def without(spec: Path, *names: str) -> str:
    """Drop the VMs ``names`` from the spec; the original text, to put back."""
    text = spec.read_text()
    kept = [
        line
        for line in text.splitlines()
        if not any(line.lstrip().startswith(f"{n}:") for n in names)
    ]
    spec.write_text("\n".join(kept) + "\n")
    return text


def twin_user_data(ctx: LabContext, name: str) -> bytes:
    """The user-data of ``name``'s secret-free twin: what cloud-init keeps once it re-read its
    datasource from the twin (keys and pinned packages, no bootstrap steps)."""
    spec, secrets = ctx.spec, cluster_secrets(ctx.store, ctx.lab)
    versions = versions_for(spec.kubernetes.minor)
    doc = user_data(spec, secrets, name, versions)
    return dump_user_data(clean_user_data(doc, spec, versions))
