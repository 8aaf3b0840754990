"""The real programs tests judge output with (kubectl, ...), found where `make test` installs them.

`scripts/ensure-tools.sh` installs them from Debian's packages; a program still missing skips its
tests on a developer's machine and fails them under CI (``CI`` set), like a missing upstream file.
"""

from __future__ import annotations

import shutil

import pytest

from tests.support.upstream import missing, under_ci

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def find(program: str) -> str | None:
    """The path of ``program`` on the system path, if installed."""
    return shutil.which(program, path=SYSTEM_PATH)


def require(program: str) -> str:
    """The path of ``program``; skips the test without it (fails it under CI)."""
    path = find(program)
    if path is None:
        missing(f"{program} is not installed (scripts/ensure-tools.sh installs it)")
    return path


def needs(program: str) -> pytest.MarkDecorator:
    """Mark a test that runs ``program``: skipped without it locally; under CI it runs and fails."""
    return pytest.mark.skipif(
        find(program) is None and not under_ci(),
        reason=f"{program} is not installed (scripts/ensure-tools.sh installs it)",
    )
