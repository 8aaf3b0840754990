"""The light commands start without the heavy parts of the tool (issue 8, part 6).

Each command runs in a fresh interpreter, as a user would run it; the modules it imported are
written to a file when the interpreter exits and compared with what that command must not load.
``benchmarks/cli_startup.py`` measures the time; these tests keep the imports from creeping back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "home-lab.yaml"

# Runs `homelab ARGS...` as `python -m homelab` does and records sys.modules at exit.
RUNNER = """
import atexit, json, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["homelab", *sys.argv[2:]]
runpy.run_module("homelab", run_name="__main__", alter_sys=True)
"""

# The simulator under each name it has had or will have, and the clients of the real lab.
SIMULATOR = ("homelab.sim", "homelab_sim", "homelab.simulated")
CLIENTS = ("lightkube", "psycopg", "httpx", "uvicorn")
# What reads or writes the lab: the engine (state store, Proxmox, Kubernetes) and its drivers.
ENGINE = ("homelab.engine", "sqlite3", "cryptography")
# The spec models (pydantic classes), the use cases and the schema validator.
SPEC_CODE = ("homelab.core", "homelab.verbs", "jsonschema")


def imported_by(tmp_path: Path, *args: str) -> list[str]:
    """The modules a `homelab ARGS` process had imported when it exited (exit code 0)."""
    record = tmp_path / "modules.json"
    # Not measured by coverage: its start-up hook in the child would import sqlite3 itself.
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "HOMELAB_STATE_URL" and not k.startswith(("COVERAGE_", "COV_CORE_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(record), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    modules: list[str] = json.loads(record.read_text(encoding="utf-8"))
    assert "homelab.cli.main" in modules  # the record is of a real CLI run
    return modules


def loaded(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    """The members of ``modules`` that are one of ``packages`` or inside one."""
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)]


def test_validate_does_not_import_the_simulator_or_the_clients(tmp_path: Path) -> None:
    modules = imported_by(tmp_path, "validate", str(SPEC))
    assert "homelab.core.spec.models" in modules  # it did validate
    assert loaded(modules, SIMULATOR) == []
    assert loaded(modules, CLIENTS) == []
    assert loaded(modules, ENGINE) == []


def test_schema_does_not_import_the_engine(tmp_path: Path) -> None:
    modules = imported_by(tmp_path, "schema")
    assert loaded(modules, SIMULATOR + CLIENTS + ENGINE) == []


@pytest.mark.parametrize("args", [["version"], ["--help"], ["validate", "--help"]])
def test_version_and_help_do_not_import_the_spec_code(tmp_path: Path, args: list[str]) -> None:
    modules = imported_by(tmp_path, *args)
    assert loaded(modules, SIMULATOR + CLIENTS + ENGINE + SPEC_CODE) == []


def test_render_loads_the_state_store_but_not_the_simulator_or_clients(tmp_path: Path) -> None:
    spec = tmp_path / SPEC.name
    spec.write_bytes(SPEC.read_bytes())
    modules = imported_by(tmp_path, "render", str(spec), "--out", str(tmp_path / "out"))
    assert "homelab.engine.state" in modules  # it did read the lab's secrets
    assert loaded(modules, SIMULATOR) == []
    assert loaded(modules, CLIENTS) == []


def test_plan_does_not_load_the_kubernetes_client(tmp_path: Path) -> None:
    """A plan reads Proxmox; the Kubernetes client (lightkube, ~0.15 s to import) loads only
    when a cluster must be asked (a version record missing, a drain, a rollout)."""
    spec = tmp_path / SPEC.name
    spec.write_bytes(SPEC.read_bytes())
    modules = imported_by(tmp_path, "plan", str(spec), "--sim")
    assert "homelab.verbs.lab" in modules  # it did plan
    assert loaded(modules, ("lightkube",)) == []
