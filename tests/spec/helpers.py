"""Helpers for the spec tests: the example files as text, mutations that keep line numbers."""

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


def check(text: str) -> ValidationResult:
    return validate_text(text, "lab.yaml")


def find(result: ValidationResult, path: str, fragment: str) -> Finding:
    """The one finding at ``path`` whose message holds ``fragment``."""
    matches = [f for f in result.findings if f.dotted == path and fragment in f.message]
    assert matches, f"no finding {path}: ...{fragment}... in:\n" + "\n".join(result.lines())
    return matches[0]
