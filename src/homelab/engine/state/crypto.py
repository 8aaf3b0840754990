"""Encryption of secrets at rest: AES-256-GCM with a key kept apart from the store.

The key is 32 random bytes, written as URL-safe base64. It comes from the environment
variable HOMELAB_STATE_KEY when set (CI, shared labs), else from a file named after the
store's identity in the user's configuration directory,
``$XDG_CONFIG_HOME/homelab/keys/<store-id>.key`` (``~/.config/...``; 0600 in a 0700 folder):
never beside the store, so copying ``.homelab/`` (or dumping the PostgreSQL database) does not
copy the key with it. A key file an older homelab left beside the store (``.homelab/state.key``)
is moved there on first use. A new key is made only for a store that holds no secret yet; a
store with secrets and no key here is a clear error saying how to bring the key
(``homelab state key import``). Every sealed value is bound to its lab and name (GCM
associated data), so a value copied under another name does not decrypt.

Sealed format: b"HL1" + 12-byte nonce + ciphertext-with-tag.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from homelab.errors import SecretKeyError

KEY_ENV = "HOMELAB_STATE_KEY"
_MAGIC = b"HL1"
_NONCE = 12


def generate_key() -> str:
    """A new key, as the URL-safe base64 text HOMELAB_STATE_KEY takes."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def decode_key(text: str, *, origin: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        key = b""
    if len(key) != 32:
        raise SecretKeyError(
            f"the state key from {origin} is not 32 bytes of URL-safe base64",
            hint="generate one with: python -c 'import base64,os;"
            "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'",
        )
    return key


def key_dir() -> Path:
    """``$XDG_CONFIG_HOME/homelab/keys`` (an absolute XDG_CONFIG_HOME only), else
    ``~/.config/homelab/keys``."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if Path(base).is_absolute() else Path.home() / ".config"
    return root / "homelab" / "keys"


def key_file_for(store_id: str) -> Path:
    return key_dir() / f"{store_id}.key"


def write_key_file(path: Path, text: str) -> None:
    """Write a key file 0600 in a 0700 folder; never over an existing file or a symlink."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text.strip() + "\n")


def _read_key(path: Path) -> bytes | None:
    try:
        return decode_key(path.read_text(encoding="ascii"), origin=str(path))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"cannot read the state key {path}: {exc}") from exc


def load_key(store_id: str, *, legacy: Path, has_secrets: bool, store: str) -> bytes:
    """The key of store ``store_id`` (see the module docstring for where it comes from)."""
    env = os.environ.get(KEY_ENV)
    if env:
        return decode_key(env, origin=KEY_ENV)
    path = key_file_for(store_id)
    key = _read_key(path)
    if key is not None:
        return key
    old = _read_key(legacy)
    if old is not None:
        _claim(path, legacy.read_text(encoding="ascii"))
        legacy.unlink(missing_ok=True)
        return decode_key(path.read_text(encoding="ascii"), origin=str(path))
    if has_secrets:
        raise SecretKeyError(
            f"the state store {store} holds secrets, and its key is not on this machine "
            f"({path} is missing and {KEY_ENV} is not set)",
            hint="on the machine that made it run `homelab state key export SPEC --out FILE`, "
            "then here `homelab state key import SPEC FILE` (or set HOMELAB_STATE_KEY)",
        )
    _claim(path, generate_key())
    return decode_key(path.read_text(encoding="ascii"), origin=str(path))


def _claim(path: Path, text: str) -> None:
    """Write ``text`` as the key file, unless another process wrote one first (theirs wins)."""
    try:
        write_key_file(path, text)
    except FileExistsError:
        return
    except OSError as exc:
        raise SecretKeyError(f"cannot write the state key {path}: {exc.strerror or exc}") from exc


class Cipher:
    """Seals and opens values bound to (lab, name)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Cipher(***)"

    def seal(self, lab: str, name: str, value: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _MAGIC + nonce + self._aead.encrypt(nonce, value, _aad(lab, name))

    def open(self, lab: str, name: str, sealed: bytes) -> bytes:
        if not sealed.startswith(_MAGIC) or len(sealed) < len(_MAGIC) + _NONCE + 16:
            raise SecretKeyError(f"secret {name!r} of lab {lab!r} is not in a known format")
        nonce = sealed[len(_MAGIC) : len(_MAGIC) + _NONCE]
        try:
            return self._aead.decrypt(nonce, sealed[len(_MAGIC) + _NONCE :], _aad(lab, name))
        except InvalidTag as exc:
            raise SecretKeyError(
                f"secret {name!r} of lab {lab!r} cannot be decrypted with this state key",
                hint=f"use the key it was written with ({KEY_ENV} or .homelab/state.key)",
            ) from exc


def _aad(lab: str, name: str) -> bytes:
    return f"homelab/{lab}/{name}".encode()
