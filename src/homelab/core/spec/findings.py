"""Findings: what validation says about a spec, each tied to a dotted path and a source position.

A ``Problem`` is what a check knows (severity, path, message); the validator places it in the file
and it becomes a ``Finding`` (plus line and column). Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from homelab.core.spec.printable import printable

Severity = Literal["error", "warning"]
PathPart = str | int
SpecPath = tuple[PathPart, ...]

ROOT_NAME = "<root>"


def format_path(path: SpecPath) -> str:
    """('vms', 'web-1', 'ip') -> 'vms.web-1.ip'; list items as 'dns[0]'; () -> '<root>'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or ROOT_NAME


@dataclass(frozen=True)
class Problem:
    """A finding before it has a position. ``on_key`` places it on the key, not its value."""

    severity: Severity
    path: SpecPath
    message: str
    on_key: bool = False

    def at(self, line: int, col: int) -> Finding:
        return Finding(self.severity, self.path, self.message, line, col)


def error(path: SpecPath, message: str, *, on_key: bool = False) -> Problem:
    return Problem("error", path, message, on_key)


def warning(path: SpecPath, message: str, *, on_key: bool = False) -> Problem:
    return Problem("warning", path, message, on_key)


@dataclass(frozen=True)
class Finding:
    """One problem in a spec, at a 1-based line and column."""

    severity: Severity
    path: SpecPath
    message: str
    line: int
    col: int

    @property
    def dotted(self) -> str:
        return format_path(self.path)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def format(self, source: str) -> str:
        """``SPEC:LINE:COL: error: dotted.path: message``, control characters escaped."""
        where = f"{printable(source)}:{self.line}:{self.col}"
        return f"{where}: {self.severity}: {printable(self.dotted)}: {printable(self.message)}"

    def sort_key(self) -> tuple[int, int, int, str, str]:
        return (self.line, self.col, 0 if self.is_error else 1, self.dotted, self.message)

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "path": self.dotted,
            "keys": list(self.path),
            "line": self.line,
            "col": self.col,
            "message": self.message,
        }
