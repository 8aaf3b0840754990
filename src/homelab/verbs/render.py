"""Writing a rendered lab to a directory: ``DIR/<vm>/{user-data,meta-data,network-config}``,
``DIR/cluster/*.yaml`` and, when ``monitoring.enabled``, ``DIR/monitoring/homelab-rules.yaml``
(the lab's alert rules as a Prometheus rule file, for ``promtool`` or an existing Prometheus).

user-data holds private keys (control planes) or the bootstrap token (workers), so every
seed file is written 0600 in 0700 directories; files are replaced atomically, and files
that are already identical are left alone (their mtime too).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from homelab.core.cluster import ClusterSecrets
from homelab.core.monitoring.rules import rule_file
from homelab.core.render.lab import render_lab
from homelab.core.spec.models import LabSpec
from homelab.errors import LabError

CLUSTER_DIR = "cluster"
MONITORING_DIR = "monitoring"
RULES_FILE = "homelab-rules.yaml"


def render_to_dir(spec: LabSpec, secrets: ClusterSecrets, out: Path) -> list[Path]:
    """Render ``spec`` and write every file under ``out``; return the paths, in write order."""
    for folder in (CLUSTER_DIR, MONITORING_DIR):
        if folder in spec.vms:
            raise LabError(f"a VM named {folder!r} would clash with the {folder} directory")
    artifacts = render_lab(spec, secrets)
    written: list[Path] = []
    for vm, seed in artifacts.seeds.items():
        for name, content in seed.files().items():
            written.append(_write(out / vm / name, content, mode=0o600))
    for name, content in artifacts.cluster.items():
        written.append(_write(out / CLUSTER_DIR / name, content, mode=0o644))
    if spec.monitoring is not None and spec.monitoring.enabled:
        rules = yaml.safe_dump(rule_file(spec.monitoring.alerts), sort_keys=False)
        written.append(_write(out / MONITORING_DIR / RULES_FILE, rules.encode(), mode=0o644))
    return written


def _write(path: Path, content: bytes, *, mode: int) -> Path:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.is_file() and path.read_bytes() == content:
            path.chmod(mode)
            return path
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            Path(tmp).chmod(mode)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise LabError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
