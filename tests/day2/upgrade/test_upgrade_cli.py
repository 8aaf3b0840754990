"""A user's upgrade, command by command, against the background simulated lab: `up` at 1.29,
the version bumped in the spec, `plan`, `up`, `status` and `guest log`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.up.simlab import copy_example

NODES = "k8s-master-1, k8s-worker-2, k8s-worker-3"


def homelab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homelab", *args], capture_output=True, text=True, timeout=600
    )


def test_a_version_bump_through_the_commands(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    try:
        first = homelab("up", str(spec), "--sim", "--yes", "--quiet")
        assert first.returncode == 0, first.stderr
        spec.write_text(spec.read_text().replace("version: 1.29.15", "version: 1.30.14"))

        plan = homelab("plan", str(spec), "--sim")
        assert plan.returncode == 0, plan.stderr
        assert "0 to replace, 0 to destroy; 3 node(s) to upgrade" in plan.stdout, plan.stdout

        up = homelab("up", str(spec), "--sim", "--yes")
        assert up.returncode == 0, up.stderr
        (closing,) = [line for line in up.stdout.splitlines() if line.startswith("Lab ")]
        assert closing.startswith(
            f"Lab home-lab is up: VMs unchanged; 3 node(s) upgraded to 1.30.14: {NODES}; "
        ), closing
        assert "recovered:" not in up.stderr, "an upgrade is not a recovery"

        status = homelab("status", str(spec), "--sim", "--json")
        assert status.returncode == 0, status.stderr
        rows = json.loads(status.stdout)["vms"]
        assert {r["vm"]: r["drift"] for r in rows} == dict.fromkeys(NODES.split(", "), "in sync")

        log = json.loads(homelab("guest", "log", str(spec), "k8s-master-1", "--json").stdout)
        ran = [r["argv"] for r in log if r["event"] == "guest-exec"]
        assert ["kubeadm", "upgrade", "apply", "-y", "v1.30.14"] in ran
        steps = [r for r in log if r.get("argv", [""])[0] in ("kubeadm", "apt-get", "apt-mark")]
        assert len(steps) == 9 and all(r["exitcode"] == 0 for r in steps), steps
    finally:
        homelab("sim", "stop", str(spec))
