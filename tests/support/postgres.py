"""The PostgreSQL server the postgres-marked tests use (started by scripts/with-postgres.sh)."""

from __future__ import annotations

import os

import pytest

from tests.support.upstream import under_ci


def postgres_url() -> str | None:
    """The throwaway server scripts/with-postgres.sh starts; required under CI."""
    url = os.environ.get("HOMELAB_TEST_PG_URL")
    if not url and under_ci():
        pytest.fail("HOMELAB_TEST_PG_URL is not set under CI: run the tests via make test")
    return url
