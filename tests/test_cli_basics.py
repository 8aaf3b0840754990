from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from homelab import __version__
from homelab.cli.main import app


def test_version_command() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_unknown_command_is_a_usage_error_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "homelab", "no-such-verb"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_help_lists_every_command_although_their_code_loads_lazily() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    commands = {
        line.split()[1]
        for line in result.output.splitlines()
        if line.startswith("│ ") and len(line.split()) > 2
    }
    expected = {"plan", "apply", "destroy", "adopt", "status", "unlock", "up", "render"}
    expected |= {"kubeconfig", "validate", "schema", "version", "sim"}
    assert expected <= commands, result.output
