"""An internal error's traceback goes to the user's state directory, private, never through a
symlink: not to a fixed, world-readable name in /tmp that anyone could plant a link at."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from homelab.cli import main as cli_main


def _crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_main, "app", boom)
    monkeypatch.setattr(sys, "argv", ["homelab", "plan"])
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    assert exited.value.code == 70


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_debug_log_is_private_under_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    _crash(monkeypatch)
    log = tmp_path / "state" / "homelab" / "debug.log"
    assert "RuntimeError: boom" in log.read_text()
    assert _mode(log) == 0o600 and _mode(log.parent) == 0o700
    assert str(log) in " ".join(capsys.readouterr().err.split())


def test_without_xdg_state_home_it_is_under_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    _crash(monkeypatch)
    log = tmp_path / ".local" / "state" / "homelab" / "debug.log"
    assert "RuntimeError: boom" in log.read_text() and _mode(log) == 0o600


def test_a_symlink_at_the_log_path_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "homelab").mkdir(mode=0o700)
    (tmp_path / "homelab" / "debug.log").symlink_to(victim)
    _crash(monkeypatch)
    assert victim.read_text() == "keep me"
    (written,) = (tmp_path / "homelab").glob("debug-*.log")
    assert "RuntimeError: boom" in written.read_text() and _mode(written) == 0o600
    assert str(written) in " ".join(capsys.readouterr().err.split())
