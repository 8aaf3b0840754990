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


def _stop_running_simulators(root: Path) -> list[Path]:
    """Stop every background simulator recorded under ``root``; the spec folders whose one
    still ran (a ``server.json`` whose process is gone is stale, not a leak)."""
    from homelab.simulated.background import INFO_FILE, read_running, stop_background

    leaked = []
    for info in sorted(root.rglob(INFO_FILE)):
        folder = info.parent
        if folder.name == "sim" and read_running(folder) is not None:
            stop_background(folder)
            leaked.append(folder.parent.parent.parent)  # <spec dir>/.homelab/<lab>/sim
    return leaked


@pytest.fixture(autouse=True)
def _no_background_simulator_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that runs `up --sim` (which leaves the lab's simulator in the background) stops
    it (`homelab sim stop`, in a ``finally``): one still running under the test's ``tmp_path``
    when the test and its fixtures are done is stopped, and the test errors."""
    yield
    tmp = request.node.funcargs.get("tmp_path")
    if not isinstance(tmp, Path):
        return
    leaked = _stop_running_simulators(tmp)
    if leaked:
        pytest.fail(
            f"the test left a background simulator running in {', '.join(map(str, leaked))}: "
            "stop it with `homelab sim stop SPEC` in a finally",
            pytrace=False,
        )


@pytest.fixture(autouse=True, scope="session")
def _no_background_simulator_outlives_the_tests(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """The session's check: a background simulator still running under the session's
    temporary folders when the tests end (a test that made its folder with
    ``tmp_path_factory``) is stopped, and the session errors naming it."""
    yield
    leaked = _stop_running_simulators(tmp_path_factory.getbasetemp())
    if leaked:
        pytest.fail(
            "background simulators outlived their tests (stop them with `homelab sim stop "
            f"SPEC` in a finally): {', '.join(map(str, leaked))}",
            pytrace=False,
        )
