"""`homelab state key export|import`: keeping the state store's key safe, and bringing it back.

The key seals the lab's secrets (cluster CAs, service-account keys, bootstrap token) and lives
apart from the store (``homelab.engine.state.crypto``). ``export_key`` writes it to a file
(0600, never over an existing file) for safekeeping; ``import_key`` installs such a file for
the store of this spec on this machine, after checking it really opens the store's secrets,
and refuses to replace a different key already there unless told to.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from homelab.engine.state import open_keyless, open_store
from homelab.engine.state.crypto import (
    KEY_ENV,
    Cipher,
    decode_key,
    key_file_for,
    write_key_file,
)
from homelab.errors import SecretKeyError, StateError

__all__ = ["export_key", "import_key"]


def export_key(spec_path: Path, out: Path) -> Path:
    """Write the store's key to ``out`` (0600, a new file); returns ``out``."""
    with open_store(spec_path) as store:
        env = os.environ.get(KEY_ENV)
        text = env.strip() if env else key_file_for(store.store_id).read_text(encoding="ascii")
    try:
        write_key_file(out, text)
    except FileExistsError as exc:
        raise StateError(f"{out} exists: not overwriting it", hint="choose a new file") from exc
    except OSError as exc:
        raise StateError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out


def import_key(spec_path: Path, source: Path, *, replace: bool = False) -> Path:
    """Install the key in ``source`` for this spec's store; returns where it now lives."""
    try:
        text = source.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"cannot read the key file {source}: {exc}") from exc
    key = decode_key(text, origin=str(source))
    with open_keyless(spec_path) as store:
        sample = store.sealed_sample()
        if sample is not None:
            lab, name, sealed = sample
            try:
                Cipher(key).open(lab, name, sealed)
            except SecretKeyError as exc:
                raise SecretKeyError(
                    f"the key in {source} does not open the secrets of the state store "
                    f"{store.backend.description}: it is another store's key"
                ) from exc
        target = key_file_for(store.store_id)
    current = target.read_text(encoding="ascii").strip() if target.exists() else None
    if current == text:
        return target
    if current is not None and not replace:
        raise SecretKeyError(
            f"{target} already holds another key for this store",
            hint="pass --force to replace it (keep a copy of it first)",
        )
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    write_key_file(target, text)
    return target


def export_pbs_key(spec_path: Path, lab: str, storage: str, out: Path) -> Path:
    """Write the PBS encryption key of ``storage`` (kept sealed in the state store since the
    storage was added) to ``out`` (0600, a new file) for escrow; returns ``out``."""
    with open_store(spec_path) as store:
        key = store.secrets(lab).get(f"pbs-encryption-key/{storage}")
    if key is None:
        raise StateError(
            f"the state store holds no encryption key of the PBS storage {storage}",
            hint="it has one only when homelab added the storage with `encrypt: true`",
        )
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise StateError(f"{out} exists: not overwriting it", hint="choose a new file") from exc
    except OSError as exc:
        raise StateError(f"cannot write {out}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return out
