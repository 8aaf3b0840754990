"""Admin kubeconfigs for a lab: minted from the cluster CA the tool owns, written 0600."""

from __future__ import annotations

import os
from pathlib import Path

from homelab.core.cluster import ClusterSecrets
from homelab.core.render.kubeadm import api_server_endpoint, cert_sans
from homelab.core.spec.models import LabSpec
from homelab.engine.pki import mint_admin_kubeconfig
from homelab.errors import LabError


def admin_kubeconfig(spec: LabSpec, secrets: ClusterSecrets, *, server: str | None = None) -> str:
    """A kubeconfig for ``kubernetes-admin`` on the lab's API endpoint (or ``server``).

    When ``server`` is given (e.g. a simulator's loopback port), the TLS name checked is still
    the lab's endpoint address, which the API server certificate carries.
    """
    endpoint = api_server_endpoint(spec)
    if server is None:
        return mint_admin_kubeconfig(secrets, cluster=spec.name, server=f"https://{endpoint}")
    host = str(spec.api_endpoint())
    return mint_admin_kubeconfig(secrets, cluster=spec.name, server=server, tls_server_name=host)


def server_by_name(spec: LabSpec, name: str) -> str:
    """``https://NAME:6443`` for a DNS name the API server's certificate carries (the lab's
    ``api.<domain>`` when OPNsense names the lab), else a LabError naming what it carries."""
    names = cert_sans(spec)
    if name not in names:
        raise LabError(
            f"the API server's certificate does not name {name!r}; it names {', '.join(names)}",
            hint="with an opnsense: section the endpoint is api.<domain> (opnsense.domain)",
        )
    port = api_server_endpoint(spec).rsplit(":", 1)[1]
    return f"https://{name}:{port}"


def write_kubeconfig(text: str, path: Path) -> Path:
    """Write a kubeconfig with mode 0600 from the start (it holds a private key)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        path.chmod(0o600)
    except OSError as exc:
        raise LabError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
