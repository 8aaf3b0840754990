"""`homelab ci github`: write the GitHub Actions workflows of the lab's repository.

The spec is validated first and named in the workflows by its path relative to the repository
root (``--dir``; a spec outside it is refused). The files come from
``homelab.core.render.ci_github``; this module decides, per file, what writing them means:

- a missing file is written; a file with exactly the rendered text is left alone (not even
  touched: its mtime stays), and reported ``unchanged``;
- a file homelab wrote (its marker line), untouched since and made for this spec, is replaced;
- anything else is refused unless ``force``: a file homelab did not write, one edited since,
  or one made for another spec (two specs of one lab name). Every refusal is checked before
  anything is written, so a refused run changes nothing.

Files are written whole (a temporary file beside them, then renamed), mode 0644.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homelab import __version__
from homelab.core.render.ci_github import (
    ACTIONLINT_CONFIG,
    CiSettings,
    apply_workflow_path,
    check_settings,
    config_labels,
    plan_workflow_path,
    read_marker,
    render_ci_github,
)
from homelab.core.spec.models import LabSpec
from homelab.errors import LabError
from homelab.verbs.spec import load_valid_spec

__all__ = ["DEFAULT_INSTALL", "CiFile", "CiResult", "Secret", "write_github_ci"]

DEFAULT_INSTALL = f"homelab=={__version__}"
WRITTEN = "written"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class CiFile:
    path: str  # relative to the repository root
    status: str  # WRITTEN or UNCHANGED


@dataclass(frozen=True)
class Secret:
    """A repository (or environment) secret the workflows read."""

    name: str
    required: bool
    why: str


@dataclass(frozen=True)
class CiResult:
    root: Path
    spec: str
    lab: str
    files: tuple[CiFile, ...]
    secrets: tuple[Secret, ...]
    environment: str
    runner_labels: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return any(f.status == WRITTEN for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "spec": self.spec,
            "lab": self.lab,
            "files": [{"path": f.path, "status": f.status} for f in self.files],
            "secrets": [
                {"name": s.name, "required": s.required, "why": s.why} for s in self.secrets
            ],
            "environment": self.environment,
            "runner_labels": list(self.runner_labels),
            "notes": list(self.notes),
        }


def write_github_ci(
    spec_path: Path,
    *,
    root: Path = Path(),
    runner_label: str = "homelab",
    install: str | None = None,
    branch: str = "main",
    environment: str = "homelab-apply",
    force: bool = False,
) -> CiResult:
    """Write the workflows for the lab at ``spec_path`` into the repository at ``root``."""
    spec = load_valid_spec(spec_path)
    root = _repository_root(root)
    relative = _relative_spec(spec_path, root)
    pbs = spec.backup.storage.pbs if spec.backup is not None else None
    settings = CiSettings(
        lab=spec.name,
        spec=relative,
        install=DEFAULT_INSTALL if install is None else install,
        version=__version__,
        runner_label=runner_label,
        branch=branch,
        environment=environment,
        pbs_token_env=pbs.token_env if pbs is not None else None,
    )
    check_settings(settings)
    current = {path: _read(root, path) for path in _paths(settings)}
    config = current.get(ACTIONLINT_CONFIG)
    known: tuple[str, ...] = ()
    if config is not None:
        marker = read_marker(config)
        if marker is not None and marker.intact:
            known = config_labels(config)
    files = render_ci_github(settings, known_labels=known)
    refusals = [
        problem
        for path, text in files.items()
        if (problem := _refusal(path, current[path], text, relative, force)) is not None
    ]
    if refusals:
        raise LabError(
            "not overwriting " + "; ".join(refusals),
            hint="move them aside, or pass --force to replace them (their content is lost)",
        )
    results = []
    for path, text in files.items():
        if current[path] == text:
            results.append(CiFile(path, UNCHANGED))
            continue
        _write(root / path, text)
        results.append(CiFile(path, WRITTEN))
    return CiResult(
        root=root,
        spec=relative,
        lab=spec.name,
        files=tuple(results),
        secrets=_secrets(spec, settings),
        environment=environment,
        runner_labels=("self-hosted", "linux", runner_label),
        notes=_notes(root, branch),
    )


def _paths(settings: CiSettings) -> list[str]:
    """The paths the files go to."""
    return [
        plan_workflow_path(settings.lab),
        apply_workflow_path(settings.lab),
        ACTIONLINT_CONFIG,
    ]


def _repository_root(root: Path) -> Path:
    absolute = Path(os.path.normpath(root.absolute()))
    if not absolute.is_dir():
        raise LabError(
            f"--dir {root} is not a directory", hint="give the root of the lab's repository"
        )
    return absolute


def _relative_spec(spec_path: Path, root: Path) -> str:
    """The spec's path relative to ``root``, with '/'; refused outside it."""
    for spec, base in (
        (Path(os.path.normpath(spec_path.absolute())), root),
        (spec_path.resolve(), root.resolve()),
    ):
        try:
            return spec.relative_to(base).as_posix()
        except ValueError:
            continue
    raise LabError(
        f"the spec {spec_path} is outside the repository {root}",
        hint="the workflows run in a checkout of the repository: keep the spec in it, and "
        "give its root with --dir",
    )


def _read(root: Path, relative: str) -> str | None:
    """The text at ``root/relative``, None if there is no file; LabError if it is not a file
    homelab could replace."""
    path = root / relative
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LabError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(info.st_mode):
        return f"# a symbolic link to {path.readlink()}\n"  # never homelab's: refused below
    if not stat.S_ISREG(info.st_mode):
        raise LabError(f"{path} is not a regular file", hint="move it aside and run again")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return "# not UTF-8 text\n"  # never homelab's: refused below
    except OSError as exc:
        raise LabError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _refusal(path: str, existing: str | None, text: str, spec: str, force: bool) -> str | None:
    """Why the file at ``path`` must not be replaced by ``text`` (None: it may)."""
    if existing is None or existing == text or force:
        return None
    marker = read_marker(existing)
    if marker is None:
        return f"{path}: homelab did not write it"
    if not marker.intact:
        return f"{path}: it was edited since homelab wrote it"
    if marker.spec is not None and marker.spec != spec:
        return f"{path}: homelab wrote it for the spec {marker.spec}"
    return None


def _write(path: Path, text: str) -> None:
    """``path`` replaced whole by ``text`` (0644), through a temporary file beside it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            Path(name).chmod(0o644)
            Path(name).replace(path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise LabError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _secrets(spec: LabSpec, settings: CiSettings) -> tuple[Secret, ...]:
    pinned = spec.proxmox.fingerprint is not None or spec.proxmox.ca_bundle is not None
    secrets = [
        Secret("HOMELAB_STATE_URL", True, "the shared state store, postgresql://..."),
        Secret("HOMELAB_STATE_KEY", True, "its key, from `homelab state key export`"),
        Secret("PROXMOX_VE_API_TOKEN", True, f"{spec.proxmox.token_id}=<secret>"),
        Secret(
            "PROXMOX_VE_FINGERPRINT",
            False,
            "the PVE certificate's SHA-256"
            + ("; the spec pins it already" if pinned else ", unless a public CA signed it"),
        ),
    ]
    if settings.pbs_token_env is not None:
        secrets.append(
            Secret(settings.pbs_token_env, True, "the PBS token's secret, when apply adds the PBS")
        )
    return tuple(secrets)


def _notes(root: Path, branch: str) -> tuple[str, ...]:
    notes = []
    if not (root / ".git").exists():
        notes.append(f"{root} has no .git: the files belong at the root of the repository")
    notes.append(
        f"protect {branch} (pull requests only, branches up to date before merging): the "
        "reviewed plan is then made on top of what the merge contains"
    )
    return tuple(notes)
