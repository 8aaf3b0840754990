"""The pure core raises no error named after an I/O system (issue 8, part 4): what it reads
comes from the engine, which owns StateError, ProxmoxError, KubeError and SimulatorError."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "src" / "homelab" / "core"
IO_ERRORS = {"StateError", "StateLockedError", "SecretKeyError", "ProxmoxError", "KubeError"}
IO_ERRORS |= {"SimulatorError"}


def io_error_names(source: str) -> set[str]:
    """The I/O error classes a module names (imported, raised or subclassed)."""
    return {
        node.id if isinstance(node, ast.Name) else node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Name | ast.Attribute)
        and (node.id if isinstance(node, ast.Name) else node.attr) in IO_ERRORS
    } | {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name in IO_ERRORS
    }


def test_the_core_names_no_io_error() -> None:
    found = {
        str(path.relative_to(CORE)): sorted(names)
        for path in sorted(CORE.rglob("*.py"))
        if (names := io_error_names(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_check_sees_an_import_and_a_raise() -> None:
    source = "from homelab.errors import StateError\nraise errors.ProxmoxError('x')\n"
    assert io_error_names(source) == {"StateError", "ProxmoxError"}
