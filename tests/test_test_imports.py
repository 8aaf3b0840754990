"""Tests import helpers from support modules, never from a conftest or another test module.

A conftest is pytest's to load (importing it again runs it twice, under two names), and a test
module imported by another runs its module-level code and collects its tests in two places.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def forbidden_imports(path: Path) -> list[str]:
    """What ``path`` imports that is a conftest or a test module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            names.append(("." * node.level) + node.module)
        elif isinstance(node, ast.ImportFrom):
            names.extend("." * node.level + alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [
        name
        for name in names
        if any(part == "conftest" or part.startswith("test_") for part in name.split("."))
    ]


def test_no_test_imports_a_conftest_or_a_test_module() -> None:
    offenders = {
        str(path.relative_to(TESTS)): bad
        for path in sorted(TESTS.rglob("*.py"))
        if (bad := forbidden_imports(path))
    }
    assert offenders == {}


def test_the_check_sees_each_form(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "from tests.sim.conftest import Api\n"
        "from .conftest import Kube\n"
        "from . import test_other\n"
        "import tests.plan.test_build\n"
        "from tests.sim.support import Api as Fine\n",
        encoding="utf-8",
    )
    assert forbidden_imports(sample) == [
        "tests.sim.conftest",
        ".conftest",
        ".test_other",
        "tests.plan.test_build",
    ]
