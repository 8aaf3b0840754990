"""`homelab status` shows what an interrupted day-2 run left (a patch run, the node it stopped
at, a node left cordoned) with the command that finishes it, in text and JSON; after that
command, nothing. Against the lab's background simulator, as a user sees it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from homelab.engine.apply.progress import ProgressEvent
from homelab.engine.apply.runtime import Limits
from homelab.verbs.connection import open_connection
from homelab.verbs.interrupted import interrupted_runs
from homelab.verbs.lab import prepare_lab
from homelab.verbs.patch import patch_lab
from tests.support.cli import run_main
from tests.up.simlab import copy_example


class Killed(BaseException):
    """The process dies here (not an error patch could handle)."""


def kill_patch_at_worker_2_reboot(spec: Path) -> None:
    def killer(event: ProgressEvent) -> None:
        if (event.vm, event.phase, event.status) == ("k8s-worker-2", "reboot", "running"):
            raise Killed

    ctx = prepare_lab(spec)
    try:
        with open_connection(ctx.spec, spec, sim=True) as conn, pytest.raises(Killed):
            patch_lab(
                conn,
                ctx,
                only=[],
                reboot="auto",
                confirm=lambda _t: True,
                progress=killer,
                limits=Limits(poll=0.5),
            )
    finally:
        ctx.close()


def test_status_shows_an_interrupted_patch_run_until_it_is_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    try:
        assert run_main(monkeypatch, capsys, "up", str(spec), "--sim", "--yes", "--quiet")[0] == 0
        kill_patch_at_worker_2_reboot(spec)

        code, out, err = run_main(monkeypatch, capsys, "status", str(spec), "--sim")
        assert code == 0, err
        lines = [" ".join(line.split()) for line in out.splitlines()]
        assert (
            "interrupted patch: 1 of 3 node(s) patched (k8s-master-1), stopped at k8s-worker-2 "
            f"(phase rebooting) (reboot auto); run `homelab patch {spec}` to finish it"
        ) in lines, out
        assert (
            "interrupted drain: k8s-worker-2: left cordoned by a drain that did not finish; "
            f"run `homelab patch {spec}` to finish it"
        ) in lines, out
        code, out, err = run_main(monkeypatch, capsys, "status", str(spec), "--sim", "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert [(i["kind"], i["vm"]) for i in doc["interrupted"]] == [
            ("patch", None),
            ("drain", "k8s-worker-2"),
        ]
        assert doc["interrupted"][0]["run"] == [f"homelab patch {spec}"]
        assert "stopped at k8s-worker-2 (phase rebooting)" in doc["interrupted"][0]["detail"]

        code, out, err = run_main(monkeypatch, capsys, "patch", str(spec), "--sim", "--yes")
        assert code == 0, err
        assert "resumed the interrupted patch run (k8s-master-1 already patched)" in out
        code, out, err = run_main(monkeypatch, capsys, "status", str(spec), "--sim")
        assert code == 0, err
        assert "interrupted" not in out, out
        code, out, err = run_main(monkeypatch, capsys, "status", str(spec), "--sim", "--json")
        assert json.loads(out)["interrupted"] == []
    finally:
        run_main(monkeypatch, capsys, "sim", "stop", str(spec))


def test_an_interrupted_upgrade_and_a_drain_outside_a_patch_run_name_up_and_apply() -> None:
    journal: dict[str, dict[str, Any]] = {
        "upgrade/start": {
            "op": "upgrade-start",
            "to": "1.30.14",
            "etcd": ".homelab/lab/etcd/1.db.sealed",
            "pve": ["k8s-master-1@pre-k8s-1-30-14"],
        },
        "upgrade/k8s-worker-2": {
            "op": "upgrade",
            "vm": "k8s-worker-2",
            "to": "1.30.14",
            "phase": "kubeadm",
        },
        "drain/k8s-worker-2": {"op": "drain", "vm": "k8s-worker-2", "node": "pve"},
        "vm/k8s-worker-3": {"op": "create", "vmid": 203, "node": "pve"},
    }
    left = interrupted_runs(journal, "lab.yaml")
    assert [i.line() for i in left] == [
        "interrupted upgrade: the rolling upgrade to 1.30.14 began (etcd snapshot "
        ".homelab/lab/etcd/1.db.sealed) and did not finish; run `homelab up lab.yaml` or "
        "`homelab apply lab.yaml` to finish it",
        "interrupted upgrade: k8s-worker-2: its upgrade to 1.30.14 stopped after kubeadm; "
        "run `homelab up lab.yaml` or `homelab apply lab.yaml` to finish it",
        "interrupted drain: k8s-worker-2: left cordoned by a drain that did not finish; "
        "run `homelab apply lab.yaml` to finish it",
    ]
    assert left[1].to_dict() == {
        "kind": "upgrade",
        "vm": "k8s-worker-2",
        "detail": "k8s-worker-2: its upgrade to 1.30.14 stopped after kubeadm",
        "run": ["homelab up lab.yaml", "homelab apply lab.yaml"],
    }
    run = {"op": "patch", "reboot": "never", "targets": [{"vm": "a"}, {"vm": "b"}]}
    (patch,) = interrupted_runs({"patch/run": run})
    assert patch.detail == "0 of 2 node(s) patched (reboot never)"
    assert interrupted_runs({}) == []
