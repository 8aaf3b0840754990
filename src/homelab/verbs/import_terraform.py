"""`homelab import terraform STATE`: the file side of importing a Terraform state.

Reads the state (a file, or the text ``terraform state pull`` printed), takes homelab's defaults
from the reference lab (``homelab init``'s: Kubernetes version, template, storages), lets
``homelab.core.onboarding.terraform`` make the spec and the commands, and writes them to new
files only (an existing file is never overwritten). The spec is loaded and validated before the
verb returns, and removed again if it does not validate, as ``homelab init`` does.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

import yaml

from homelab.core.onboarding.terraform import Defaults, ImportResult, import_state
from homelab.core.onboarding.tfstate import read_state
from homelab.errors import LabError
from homelab.verbs.init import reference_lab_text
from homelab.verbs.spec import (
    check_lab_name,
    load_valid_spec,
    refuse_existing,
    write_new_file,
)

__all__ = ["MAX_STATE_BYTES", "ImportOutcome", "import_terraform", "read_state_text"]

MAX_STATE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ImportOutcome:
    """What an import wrote, and its report."""

    result: ImportResult
    spec: Path
    commands_file: Path | None

    def to_json(self) -> dict[str, object]:
        commands = str(self.commands_file) if self.commands_file else None
        return self.result.to_json(str(self.spec), commands)


def read_state_text(path: Path) -> str:
    """The text of the state file at ``path``; a LabError naming the file if it cannot be read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise LabError(f"{path}: no such file") from None
    except OSError as exc:
        raise LabError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise LabError(
            f"{path}: a directory, not a state file",
            hint="give terraform.tfstate, or the output of `terraform state pull`",
        )
    try:
        with path.open("rb") as handle:
            content = handle.read(MAX_STATE_BYTES + 1)
    except OSError as exc:
        raise LabError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    return decode_state(content, str(path))


def decode_state(content: bytes, source: str) -> str:
    """Bytes of a state as text: UTF-8 (with or without a byte-order mark), not too large."""
    if len(content) > MAX_STATE_BYTES:
        raise LabError(f"{source}: larger than {MAX_STATE_BYTES // (1024 * 1024)} MiB")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabError(
            f"{source}: not UTF-8 text (byte {exc.start}): a Terraform state is JSON"
        ) from None


def _defaults(name: str) -> Defaults:
    """homelab's defaults, as the reference lab (`homelab init`) has them."""
    reference = yaml.safe_load(reference_lab_text())
    proxmox = reference["proxmox"]
    return Defaults(
        name=name,
        kubernetes_version=str(reference["kubernetes"]["version"]),
        template=str(proxmox["template"]),
        storage=str(proxmox.get("storage", "local-lvm")),
        iso_storage=str(proxmox.get("iso_storage", "local")),
    )


def import_terraform(
    state_text: str,
    source: str,
    out: Path,
    *,
    name: str = "home-lab",
    commands: Path | None = None,
) -> ImportOutcome:
    """Import the state ``state_text`` (read from ``source``): write the spec to ``out`` and,
    when given, the commands to ``commands`` (both new files); the spec is validated."""
    check_lab_name(name)
    if commands is not None and commands.absolute() == out.absolute():
        raise LabError("--commands and --out name the same file")
    refuse_existing(out, "--out")
    if commands is not None:
        refuse_existing(commands, "--commands")
    state = read_state(state_text, source)
    result = import_state(state, _defaults(name), str(out))
    write_new_file(out, result.spec_text, "--out")
    try:
        load_valid_spec(out)
        if commands is not None:
            write_new_file(commands, "\n".join(result.commands) + "\n", "--commands")
    except LabError:
        out.unlink(missing_ok=True)  # never leave a spec that does not validate, or half a job
        raise
    return ImportOutcome(result, out, commands)
