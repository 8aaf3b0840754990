"""Shared fixtures. pytest-socket (see pyproject addopts) lets tests connect to loopback only.

Plain helpers (paths, upstream files, the PostgreSQL URL) live in ``tests/support/``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.golden import ENV, RETIRED
from tests.support.paths import SHARED
from tests.support.upstream import missing

# One folder for the whole run, made by the controller and inherited by pytest-xdist's workers
# (they start after it is configured): a state store in the test PostgreSQL is one store for
# all of them, with one key.
_CONFIG_ENV = "HOMELAB_TEST_CONFIG_HOME"


def pytest_configure(config: pytest.Config) -> None:
    if RETIRED in os.environ:
        raise pytest.UsageError(f"{RETIRED} is now {ENV}=1 (one variable for every golden)")
    # State keys live in the user's configuration directory: never the real one in a test run
    # (this process and every CLI subprocess it starts see this one).
    if _CONFIG_ENV not in os.environ:
        os.environ[_CONFIG_ENV] = tempfile.mkdtemp(prefix="homelab-test-config-")
    os.environ["XDG_CONFIG_HOME"] = os.environ[_CONFIG_ENV]


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, once every worker is done
        shutil.rmtree(os.environ.pop(_CONFIG_ENV), ignore_errors=True)


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` beside the repository; the test is skipped without it (fails under CI)."""
    if not SHARED.is_dir():
        missing(f"../shared is not beside this clone ({SHARED})")
    return SHARED


@pytest.fixture(autouse=True, scope="session")
def _no_background_simulator_outlives_the_tests(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """`up --sim` leaves the lab's simulator running in the background (as it should): every
    one a test started under the session's temporary folders is stopped when the tests end."""
    yield
    from homelab.simulated.background import INFO_FILE, stop_background

    for info in tmp_path_factory.getbasetemp().rglob(INFO_FILE):
        if info.parent.name == "sim":
            stop_background(info.parent)
