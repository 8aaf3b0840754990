"""Encryption of secrets at rest: AES-256-GCM with a key from HOMELAB_STATE_KEY or a key file.

The key is 32 random bytes, written as URL-safe base64. It comes from the environment
variable HOMELAB_STATE_KEY when set (CI, shared labs), else from `.homelab/state.key` beside
the spec, created with mode 0600 on first use. Every sealed value is bound to its lab and
name (GCM associated data), so a value copied under another name does not decrypt.

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


def load_or_create_key(key_file: Path) -> bytes:
    """The key from HOMELAB_STATE_KEY, else from key_file (created with mode 0600 if missing)."""
    env = os.environ.get(KEY_ENV)
    if env:
        return decode_key(env, origin=KEY_ENV)
    try:
        return decode_key(key_file.read_text(encoding="ascii"), origin=str(key_file))
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"cannot read the state key {key_file}: {exc}") from exc
    key_file.parent.mkdir(parents=True, exist_ok=True)
    text = generate_key()
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return decode_key(key_file.read_text(encoding="ascii"), origin=str(key_file))
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text + "\n")
    return decode_key(text, origin=str(key_file))


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
