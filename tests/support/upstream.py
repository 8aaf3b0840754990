"""Upstream files the tests check against: vendored in ``tests/data/`` or read from ``../shared``.

A fresh clone has ``tests/data/`` (small files, each with its source and licence in
``tests/data/README.md``) but no ``../shared``; a test that needs a large upstream file that is
not vendored is skipped there with a one-line reason. Under CI (``CI`` set) nothing is skipped:
CI has ``../shared``, so a missing file fails the test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

from tests.support.paths import DATA, SHARED


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def missing(reason: str) -> NoReturn:
    """Skip (fail under CI) a test whose upstream input is not on this machine: ``reason``."""
    if under_ci():
        pytest.fail(f"{reason}; CI must have it")
    pytest.skip(reason)


def upstream_file(relative: str) -> Path:
    """``relative`` (a path under ``../shared``): the vendored copy, else the shared one."""
    for base in (DATA, SHARED):
        path = base / relative
        if path.is_file():
            return path
    missing(f"{relative} is in neither tests/data/ nor ../shared (not beside this clone)")
