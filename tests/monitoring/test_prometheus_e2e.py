"""End to end on loopback: a real Prometheus (Debian's 2.42) loads the lab's rendered rules,
scrapes `homelab metrics` against the simulated lab, and fires, then resolves, LabDrift.

The simulated lab runs in the background (`homelab sim start`) so the exporter and `apply`
share it; the exporter reuses no collection (``--min-interval 0``) and the spec sets
``drift_for: 1s``, so the alert follows the lab within a few scrape intervals.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from homelab.engine.proxmox.config import ConnectionSettings, parse_token
from homelab.engine.proxmox.session import PveSession
from homelab.simulated.background import read_running, read_token
from tests.support.tools import needs, require
from tests.up.simlab import copy_example

HOMELAB = [sys.executable, "-m", "homelab"]


@contextlib.contextmanager
def root_session(spec: Path) -> Iterator[PveSession]:
    """The background simulator's root token, to set a scene up (never the tool's)."""
    folder = spec.parent / ".homelab" / "home-lab" / "sim"
    running = read_running(folder)
    assert running is not None
    token_id, secret = parse_token(read_token(folder))
    settings = ConnectionSettings(
        endpoint=running.endpoint,
        token_id=token_id,
        token_secret=secret,
        fingerprint=running.fingerprint,
    )
    session = PveSession(settings)
    try:
        yield session
    finally:
        session.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def homelab(*args: str) -> None:
    done = subprocess.run([*HOMELAB, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Path]:
    spec = copy_example("home-lab.yaml", tmp_path)
    spec.write_text(spec.read_text() + "monitoring: {enabled: true, alerts: {drift_for: 1s}}\n")
    homelab("sim", "start", str(spec))
    try:
        yield spec
    finally:
        subprocess.run([*HOMELAB, "sim", "stop", str(spec)], capture_output=True, timeout=60)


def serve(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(argv, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def alerts(base: str) -> dict[str, str]:
    """alertname -> state (pending/firing) of every active alert Prometheus reports."""
    response = httpx.get(f"{base}/api/v1/alerts", timeout=5)
    response.raise_for_status()  # 503 while Prometheus starts: not yet
    reply = response.json()
    return {a["labels"]["alertname"]: a["state"] for a in reply["data"]["alerts"]}


def query(base: str, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    reply = response.json()
    result: list[dict[str, Any]] = reply["data"]["result"]
    return result


def eventually(probe: Any, what: str, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except httpx.HTTPError as exc:
            last = exc
        if last is True or (last and not isinstance(last, Exception)):
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {seconds:.0f} s (last: {last!r})")


@needs("prometheus")
def test_prometheus_fires_lab_drift_from_the_exporter_then_resolves_it(
    lab: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rendered"
    homelab("render", str(lab), "--out", str(out))
    rules = out / "monitoring" / "homelab-rules.yaml"
    exporter_port, prometheus_port = free_port(), free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "homelab", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    exporter = serve(
        [
            *HOMELAB,
            "metrics",
            str(lab),
            "--sim",
            "--min-interval",
            "0",
            "--listen",
            f"127.0.0.1:{exporter_port}",
        ],
        tmp_path / "exporter.log",
    )
    prometheus = serve(
        [
            require("prometheus"),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        tmp_path / "prometheus.log",
    )
    base = f"http://127.0.0.1:{prometheus_port}"
    try:
        # nothing applied yet: three VMs to create is drift
        eventually(lambda: alerts(base).get("LabDrift") == "firing", "LabDrift firing")
        up = query(base, 'up{job="homelab"}')
        assert [float(s["value"][1]) for s in up] == [1.0]
        assert "HomelabExporterDown" not in alerts(base)
        drift = query(base, "homelab_drift_objects")
        assert [float(s["value"][1]) for s in drift] == [3.0]

        homelab("apply", str(lab), "--sim", "--yes", "--quiet")
        eventually(lambda: "LabDrift" not in alerts(base), "LabDrift resolved")
        # the apply's record lands with its end: the next scrapes carry it
        eventually(
            lambda: (
                [float(s["value"][1]) for s in query(base, "homelab_last_apply_success")] == [1.0]
            ),
            "the last apply recorded as a success",
        )

        # no job backs the VMs up: VmNotBackedUp (pending for its 30 minutes); a job for all
        # guests makes every VM covered and the alert goes
        eventually(lambda: alerts(base).get("VmNotBackedUp") == "pending", "VmNotBackedUp")
        uncovered = query(base, "homelab_vm_backup_covered == 0")
        assert sorted(s["metric"]["vm"] for s in uncovered) == [
            "k8s-master-1", "k8s-worker-2", "k8s-worker-3",
        ]  # fmt: skip
        with root_session(lab) as root:
            root.post("/cluster/backup", id="all", schedule="02:00", storage="local", all=1)
        eventually(lambda: "VmNotBackedUp" not in alerts(base), "VmNotBackedUp resolved")
    finally:
        stop(exporter)
        stop(prometheus)
