"""Helpers for the spec tests: the example files as text, mutations, positions found by text."""

from __future__ import annotations

from homelab.core.spec.findings import Finding
from homelab.core.spec.validate import ValidationResult, validate_text
from tests.support.paths import EXAMPLES


def example_text(name: str = "home-lab") -> str:
    return (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")


def mutate(text: str, edits: list[tuple[str, str]]) -> str:
    """Apply (old, new) replacements; each ``old`` must occur exactly once."""
    for old, new in edits:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text


def line_of(text: str, fragment: str) -> int:
    """The 1-based number of the one line of ``text`` holding ``fragment`` (so test data names a
    line by its content, not by a number that moves when the example is edited)."""
    numbers = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(numbers) == 1, f"{fragment!r} is on lines {numbers}, expected exactly one"
    return numbers[0]


def position_of(text: str, where: str) -> tuple[int, int]:
    """(line, column), 1-based, of the ``|`` in ``where``: ``where`` without its ``|`` occurs
    exactly once in ``text`` (``"role: |master"`` is the position of ``master``)."""
    needle = where.replace("|", "", 1)
    assert text.count(needle) == 1, f"{needle!r} occurs {text.count(needle)} times, expected once"
    index = text.index(needle) + where.index("|")
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def check(text: str) -> ValidationResult:
    return validate_text(text, "lab.yaml")


def find(result: ValidationResult, path: str, fragment: str) -> Finding:
    """The one finding at ``path`` whose message holds ``fragment``."""
    matches = [f for f in result.findings if f.dotted == path and fragment in f.message]
    assert matches, f"no finding {path}: ...{fragment}... in:\n" + "\n".join(result.lines())
    return matches[0]
