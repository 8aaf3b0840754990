"""`homelab patch --sim` from the command line: the JSON report, bad input without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.up.simlab import copy_example

HOMELAB = [sys.executable, "-m", "homelab"]


def homelab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HOMELAB, *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_patch_one_node_never_rebooting_prints_json_and_refuses_bad_input(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    try:
        up = homelab("up", str(spec), "--sim", "--yes", "--quiet")
        assert up.returncode == 0, up.stderr
        bad = homelab("patch", str(spec), "--sim", "--yes", "--only", "k8s-worker-9")
        assert bad.returncode == 1 and "Traceback" not in bad.stderr
        assert "lab home-lab has no VM 'k8s-worker-9'" in bad.stderr
        mode = homelab("patch", str(spec), "--sim", "--yes", "--reboot", "sometimes")
        assert mode.returncode == 1 and "Traceback" not in mode.stderr
        assert "--reboot must be one of auto, always, never, not 'sometimes'" in mode.stderr
        done = homelab(
            "patch",
            str(spec),
            "--sim",
            "--yes",
            "--json",
            "--only",
            "k8s-worker-3",
            "--reboot",
            "never",
        )
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["reboot"] == "never"
        (node,) = doc["nodes"]
        assert node["vm"] == "k8s-worker-3" and node["reboot_pending"] is True
        assert node["rebooted"] is False and node["drained"] is True
        assert node["kernel"] == {"before": "6.8.0-45-generic", "after": "6.8.0-45-generic"}
        assert {p["name"] for p in node["packages"]} == {
            "linux-image-generic",
            "linux-image-6.8.0-51-generic",
            "openssl",
            "systemd",
        }
        text = homelab("patch", str(spec), "--sim", "--yes", "--only", "k8s-worker-3")
        assert text.returncode == 0, text.stderr
        assert "k8s-worker-3: 0 package(s) upgraded; rebooted, kernel 6.8.0-45-generic -> " in (
            text.stdout
        )
    finally:  # `up --sim` leaves the simulated lab running in the background
        homelab("sim", "stop", str(spec))
