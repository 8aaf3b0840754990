"""Secret: a string that never shows itself by accident.

``str()``, ``repr()`` and f-strings print ``***``; only ``reveal()`` gives the value, so a secret
reaches a log or a terminal only where the code says so in plain words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

MASK = "***"

# what a secret looks like where homelab cannot know its value: a private key in PEM, a kubeadm
# bootstrap token (``[a-z0-9]{6}.[a-z0-9]{16}``), the key kubeadm encrypts uploaded certificates
# with (``--certificate-key``), a password or token given as ``name=value`` / ``name: value``
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.S
        ),
        "[private key " + MASK + "]",
    ),
    (re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b"), MASK),
    (re.compile(r"(--certificate-key[= ]+)[0-9a-fA-F]{64}\b"), r"\g<1>" + MASK),
    (
        re.compile(r"(?i)\b((?:password|passwd|secret|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',]+"),
        r"\g<1>" + MASK,
    ),
)


def redact(text: str, secrets: Iterable[Secret] = ()) -> str:
    """``text`` with the values of ``secrets`` and anything shaped like a secret masked, for
    what is kept or shown of a command's arguments and output."""
    for secret in sorted((s.reveal() for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


class Secret:
    """A secret value (token, key, password). Compares by value; prints as ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            lambda v: v if isinstance(v, Secret) else Secret(v),
            core_schema.union_schema(
                [core_schema.is_instance_schema(cls), core_schema.str_schema()]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda v: MASK),
        )
