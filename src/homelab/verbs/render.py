"""Writing a rendered lab to a directory: ``DIR/<vm>/{user-data,meta-data,network-config}``
and ``DIR/cluster/*.yaml``.

user-data holds private keys (control planes) or the bootstrap token (workers), so every
seed file is written 0600 in 0700 directories; files are replaced atomically, and files
that are already identical are left alone (their mtime too).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from homelab.core.cluster import ClusterSecrets
from homelab.core.render.lab import render_lab
from homelab.core.spec.models import LabSpec
from homelab.errors import LabError

CLUSTER_DIR = "cluster"


def render_to_dir(spec: LabSpec, secrets: ClusterSecrets, out: Path) -> list[Path]:
    """Render ``spec`` and write every file under ``out``; return the paths, in write order."""
    if CLUSTER_DIR in spec.vms:
        raise LabError(f"a VM named {CLUSTER_DIR!r} would clash with the addon directory")
    artifacts = render_lab(spec, secrets)
    written: list[Path] = []
    for vm, seed in artifacts.seeds.items():
        for name, content in seed.files().items():
            written.append(_write(out / vm / name, content, mode=0o600))
    for name, content in artifacts.cluster.items():
        written.append(_write(out / CLUSTER_DIR / name, content, mode=0o644))
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
