"""`homelab init`: a first spec to start from, the reference lab with its comments.

The text is the reference lab (``examples/home-lab.yaml``, shipped in the package), with the
lab's name and the user's own SSH public key put in: the first of ``~/.ssh/id_ed25519.pub``,
``id_ecdsa.pub``, ``id_rsa.pub``, or the file given. The written spec is loaded and validated
before the command says it is done, and an existing file is never overwritten.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

from homelab.errors import LabError
from homelab.verbs.spec import load_valid_spec

__all__ = ["DEFAULT_KEYS", "reference_lab_text", "write_reference_lab"]

DEFAULT_KEYS = ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_EXAMPLE_KEY = re.compile(r'ssh_authorized_keys: \["[^"]*"\]')


def reference_lab_text() -> str:
    """The reference lab as shipped (the same text as ``examples/home-lab.yaml``)."""
    return resources.files("homelab.verbs").joinpath("templates/home-lab.yaml").read_text("utf-8")


def _public_key(path: Path | None) -> str:
    candidates = [path] if path is not None else [Path.home() / ".ssh" / n for n in DEFAULT_KEYS]
    for candidate in candidates:
        try:
            text = candidate.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise LabError(f"cannot read the SSH public key {candidate}: {exc}") from exc
        if text.startswith("-----BEGIN") or "PRIVATE KEY" in text:
            raise LabError(f"{candidate} holds a private key; give the .pub file")
        return text.splitlines()[0]
    raise LabError(
        "no SSH public key found (~/.ssh/id_ed25519.pub, id_ecdsa.pub or id_rsa.pub)",
        hint="pass --ssh-key FILE, or make one with: ssh-keygen -t ed25519",
    )


def write_reference_lab(out: Path, *, name: str = "home-lab", ssh_key: Path | None = None) -> Path:
    """Write the reference lab to ``out`` (a new file) for lab ``name``; returns ``out``."""
    if not _NAME.match(name):
        raise LabError(
            f"lab name {name!r} is not an RFC 1123 label",
            hint="lower-case letters, digits and '-', at most 63, e.g. home-lab",
        )
    key = _public_key(ssh_key)
    text = reference_lab_text().replace("name: home-lab\n", f"name: {name}\n", 1)
    text = _EXAMPLE_KEY.sub(lambda _m: f"ssh_authorized_keys: [{_quoted(key)}]", text, count=1)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        raise LabError(
            f"{out} exists: not overwriting it", hint="choose another --out, or remove it first"
        ) from None
    except OSError as exc:
        raise LabError(f"cannot write {out}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    try:
        load_valid_spec(out)
    except LabError:
        out.unlink(missing_ok=True)  # never leave a spec that does not validate
        raise
    return out


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
