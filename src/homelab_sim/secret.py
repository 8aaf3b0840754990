"""Secret: a string the simulator never shows by accident (tokens, passwords, keys).

``str()``, ``repr()`` and f-strings give ``***``; only ``reveal()`` gives the value.
"""

from __future__ import annotations

MASK = "***"


class Secret:
    """A secret value. Compares by value; prints as ``***``."""

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
