"""Shared fixtures. pytest-socket (see pyproject addopts) lets tests connect to loopback only.

Plain helpers (paths, upstream files, the PostgreSQL URL) live in ``tests/support/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.golden import ENV, RETIRED
from tests.support.paths import SHARED
from tests.support.upstream import missing


def pytest_configure(config: pytest.Config) -> None:
    if RETIRED in os.environ:
        raise pytest.UsageError(f"{RETIRED} is now {ENV}=1 (one variable for every golden)")


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` beside the repository; the test is skipped without it (fails under CI)."""
    if not SHARED.is_dir():
        missing(f"../shared is not beside this clone ({SHARED})")
    return SHARED
