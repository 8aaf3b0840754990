"""Reading a spec file: the file system side of validation, and the gate other verbs pass through.

``read_spec`` turns every way a file can fail to be read (missing, a directory, a device,
unreadable, too large) into an error finding at line 1, column 1, so ``homelab validate`` reports
it like any other problem. ``load_valid_spec`` is what every other verb calls: a valid LabSpec or
a SpecError. ``write_new_spec`` is how the verbs that write a spec (``init``, ``import
terraform``) create it: a new file only, validated, removed again if it does not validate.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from homelab.core.spec import schema
from homelab.core.spec.checks import HOSTNAME_RE
from homelab.core.spec.findings import Finding
from homelab.core.spec.load import MAX_SPEC_BYTES
from homelab.core.spec.models import LabSpec
from homelab.core.spec.validate import ValidationResult, validate_text
from homelab.errors import LabError, SpecError


def _unreadable(path: Path, message: str) -> ValidationResult:
    return ValidationResult(None, [Finding("error", (), message, 1, 1)], str(path))


def _read_bytes(path: Path) -> bytes | str:
    """The file's bytes, or why they cannot be read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return "this is a directory, not a spec file"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    try:
        with path.open("rb") as handle:
            content = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    return content


def read_spec(path: Path) -> ValidationResult:
    """Read and validate the spec at ``path``; never raises for a bad or missing file."""
    content = _read_bytes(path)
    if isinstance(content, str):
        return _unreadable(path, content)
    return validate_text(content, str(path))


def load_valid_spec(path: Path) -> LabSpec:
    """The valid spec at ``path``, or SpecError naming the first error and how many follow."""
    result = read_spec(path)
    errors = result.errors
    if result.spec is None or errors:
        first = errors[0].format(str(path)) if errors else f"{path}: not a valid spec"
        more = f" ({len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SpecError(f"{first}{more}", hint=f"run homelab validate {path}")
    return result.spec


def spec_schema() -> dict[str, object]:
    """The JSON Schema of a spec file."""
    return schema.lab_json_schema()


def check_lab_name(name: str) -> None:
    """A LabError unless ``name`` is an RFC 1123 label (what ``name:`` must be)."""
    if not HOSTNAME_RE.match(name):
        raise LabError(
            f"lab name {name!r} is not an RFC 1123 label",
            hint="lower-case letters, digits and '-', at most 63, e.g. home-lab",
        )


def refuse_existing(path: Path, option: str = "--out") -> None:
    """A LabError if ``path`` exists (a dangling link counts): homelab never overwrites it."""
    if path.exists() or path.is_symlink():
        raise _exists(path, option)


def _exists(path: Path, option: str) -> LabError:
    return LabError(
        f"{path} exists: not overwriting it", hint=f"choose another {option}, or remove it first"
    )


def write_new_file(path: Path, text: str, option: str = "--out") -> None:
    """Write ``text`` to ``path``, a new file (never over one, never through a link)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        raise _exists(path, option) from None
    except OSError as exc:
        raise LabError(f"cannot write {path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_new_spec(path: Path, text: str) -> LabSpec:
    """``write_new_file`` of a spec, then ``load_valid_spec``; the file is removed again if it
    does not validate (a verb never leaves a spec behind that homelab would refuse)."""
    write_new_file(path, text)
    try:
        return load_valid_spec(path)
    except LabError:
        path.unlink(missing_ok=True)
        raise
