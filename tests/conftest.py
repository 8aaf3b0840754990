"""Shared fixtures. pytest-socket (see pyproject addopts) lets tests connect to loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EXAMPLES = REPO / "examples"


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared is missing beside the repository ({SHARED})")
    return SHARED


def postgres_url() -> str | None:
    """The throwaway server scripts/with-postgres.sh starts; required under CI."""
    import os

    url = os.environ.get("HOMELAB_TEST_PG_URL")
    if not url and os.environ.get("CI"):
        pytest.fail("HOMELAB_TEST_PG_URL is not set under CI: run the tests via make test")
    return url
