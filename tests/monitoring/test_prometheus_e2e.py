"""End to end on loopback: a real Prometheus (Debian's 2.42) loads the lab's rendered rules,
scrapes `homelab metrics` against the simulated lab, and fires, then resolves, LabDrift.

The simulated lab runs in the background (`homelab sim start`) so the exporter and `apply`
share it; the exporter reuses no collection (``--min-interval 0``) and the spec sets
``drift_for: 1s``, so the alert follows the lab within a few scrape intervals.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.monitoring.support import (
    HOMELAB,
    alerts,
    eventually,
    free_port,
    homelab,
    query,
    root_session,
    serve,
    stop,
)
from tests.support.tools import needs, require
from tests.up.simlab import copy_example


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Path]:
    spec = copy_example("home-lab.yaml", tmp_path)
    spec.write_text(spec.read_text() + "monitoring: {enabled: true, alerts: {drift_for: 1s}}\n")
    homelab("sim", "start", str(spec))
    try:
        yield spec
    finally:
        subprocess.run([*HOMELAB, "sim", "stop", str(spec)], capture_output=True, timeout=60)


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
