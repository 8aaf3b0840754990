"""`homelab state recover SPEC --sim` from the command line: asks before it writes, rebuilds the
lost store of a lab `up` made, after which `plan --detailed-exitcode` says no changes; bad input
and refusals are one clear line and a non-zero exit, never a traceback or a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.engine.state import open_keyless
from tests.day2.recover.support import lose_store
from tests.support.cli import run_main
from tests.up.simlab import copy_example


def test_the_cli_recovers_a_lost_store_and_plan_says_no_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    try:
        assert run_main(monkeypatch, capsys, "up", str(spec), "--sim", "--yes", "--quiet")[0] == 0
        with open_keyless(spec) as store:
            lost = store.store_id
        lose_store(spec, lost)

        code, out, err = run_main(monkeypatch, capsys, "state", "recover", str(spec), "--sim")
        assert code == 1
        assert "re-adopt k8s-master-1" in out and "needs confirmation" in err
        assert not (spec.parent / ".homelab" / "state.db").exists()

        code, out, err = run_main(monkeypatch, capsys, "state", "recover", str(spec), "--sim", "-y")
        assert code == 0, err
        assert "verified, read from k8s-master-1" in out and "state store is rebuilt" in out
        assert "BEGIN" not in out + err  # no key material shown

        code, out, err = run_main(
            monkeypatch, capsys, "plan", str(spec), "--sim", "--detailed-exitcode"
        )
        assert code == 0, out + err
        assert "No changes" in out

        code, out, err = run_main(monkeypatch, capsys, "state", "recover", str(spec), "--sim", "-y")
        assert code == 1
        assert "state.db exists: it manages lab home-lab" in err and "--replace" in err
        assert "Traceback" not in err

        code, out, err = run_main(
            monkeypatch, capsys, "state", "recover", str(spec), "--sim", "-y", "--replace"
        )
        assert code == 0, err
        assert "replace the state store" in out and "the replaced store is kept as" in out
    finally:
        run_main(monkeypatch, capsys, "sim", "stop", str(spec))


def test_a_spec_that_does_not_load_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "lab.yaml"
    spec.write_text("name: lab\nvms: [\n")
    code, _out, err = run_main(monkeypatch, capsys, "state", "recover", str(spec), "--sim")
    assert code != 0
    assert "lab.yaml:" in err and "Traceback" not in err
