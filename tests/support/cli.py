"""Running the command line in the test's own process: ``homelab ARGS...`` through ``main()``,
its exit code and what it printed (so that coverage and monkeypatched settings apply)."""

from __future__ import annotations

import sys

import pytest

from homelab.cli.main import main


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """``homelab *args``: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["homelab", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
