"""End to end on loopback: a real Prometheus (Debian's) loads the lab's rendered rules and
scrapes a real prometheus-pve-exporter (the PyPI package, its own process) pointed at the
simulated Proxmox VE with the read-only token ``homelab monitoring token`` made, plus the
tool's own exporter. A VM no backup job covers makes VmNotBackedUp fire, from both exporters;
a backup job for every guest, and a backup, make it resolve.

TLS stays verified: the exporter's ``verify_ssl`` is a CA file holding the simulator's
self-signed certificate, fetched from the server and accepted only because its SHA-256 is the
fingerprint the simulator recorded (the pin every other client uses).

VmNotBackedUp waits 30 minutes before it fires (``for: 30m``). The test checks the rendered
rule says so, then loads a copy whose only change is that wait, cut to 1 s: the expression
and labels Prometheus evaluates are the rendered ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from homelab.engine.state import open_store
from homelab.simulated.background import read_running
from homelab.verbs import monitoring_token as mt
from tests.monitoring.support import (
    HOMELAB,
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

pytestmark = pytest.mark.slow


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv(mt.ADMIN_ENV, raising=False)  # --sim: the simulator's root stands in
    spec = copy_example("home-lab.yaml", tmp_path)
    spec.write_text(spec.read_text() + "monitoring: {enabled: true}\n")
    homelab("sim", "start", str(spec))
    try:
        yield spec
    finally:
        subprocess.run([*HOMELAB, "sim", "stop", str(spec)], capture_output=True, timeout=60)


def pinned_ca(spec: Path, into: Path) -> tuple[str, Path]:
    """The simulator's address and its certificate as a CA file, checked against the pin."""
    running = read_running(spec.parent / ".homelab" / "home-lab" / "sim")
    assert running is not None
    pem = ssl.get_server_certificate(("127.0.0.1", running.port))
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest().upper()
    assert ":".join(digest[i : i + 2] for i in range(0, 64, 2)) == running.fingerprint
    into.write_text(pem)
    return f"127.0.0.1:{running.port}", into


def exporter_config(spec: Path, ca: Path, into: Path) -> Path:
    with open_store(spec) as store:
        token = mt.auditor_token(store.secrets("home-lab"))
    module = {
        "user": token.user,
        "token_name": token.token_name,
        "token_value": token.value.reveal(),
        "verify_ssl": str(ca),
    }
    into.touch(mode=0o600)
    into.write_text(yaml.safe_dump({"default": module}))
    return into


def short_wait_rules(rendered: Path, into: Path) -> Path:
    data = yaml.safe_load(rendered.read_text())
    (rule,) = [r for g in data["groups"] for r in g["rules"] if r.get("alert") == "VmNotBackedUp"]
    assert rule["for"] == "30m"
    rule["for"] = "1s"
    into.write_text(yaml.safe_dump(data))
    return into


def not_backed_up(base: str) -> list[dict[str, Any]]:
    """The VmNotBackedUp alerts Prometheus reports: their labels and state."""
    reply = httpx.get(f"{base}/api/v1/alerts", timeout=5)
    reply.raise_for_status()
    alerts: list[dict[str, Any]] = reply.json()["data"]["alerts"]
    return [
        {**a["labels"], "state": a["state"]}
        for a in alerts
        if a["labels"]["alertname"] == "VmNotBackedUp"
    ]


@contextlib.contextmanager
def running(*procs: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in procs:
            stop(proc)


@needs("prometheus")
def test_a_vm_without_backup_fires_from_the_pve_exporter_and_resolves(
    lab: Path, tmp_path: Path
) -> None:
    homelab("apply", str(lab), "--sim", "--yes", "--quiet")
    homelab("monitoring", "token", str(lab), "--sim")
    pve, ca = pinned_ca(lab, tmp_path / "pve-ca.pem")
    pve_yml = exporter_config(lab, ca, tmp_path / "pve.yml")
    out = tmp_path / "rendered"
    homelab("render", str(lab), "--out", str(out))
    rules = short_wait_rules(out / "monitoring" / "homelab-rules.yaml", tmp_path / "rules.yaml")
    pve_port, tool_port, prom_port = free_port(), free_port(), free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "pve",
                "metrics_path": "/pve",
                "params": {"module": ["default"], "cluster": ["1"], "node": ["1"]},
                "static_configs": [{"targets": [pve]}],
                "relabel_configs": [  # the exporter's pattern: the PVE host is a parameter
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": f"127.0.0.1:{pve_port}"},
                ],
            },
            {"job_name": "homelab", "static_configs": [{"targets": [f"127.0.0.1:{tool_port}"]}]},
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    listen = ["--web.listen-address", f"127.0.0.1:{pve_port}"]
    pve_exporter = serve(
        [sys.executable, "-m", "pve_exporter", "--config.file", str(pve_yml), *listen],
        tmp_path / "pve-exporter.log",
    )
    tool_addr = f"127.0.0.1:{tool_port}"
    tool = serve(
        [*HOMELAB, "metrics", str(lab), "--sim", "--min-interval", "0", "--listen", tool_addr],
        tmp_path / "homelab-metrics.log",
    )
    prometheus = serve(
        [
            require("prometheus"),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        tmp_path / "prometheus.log",
    )
    base = f"http://127.0.0.1:{prom_port}"
    with running(pve_exporter, tool, prometheus), root_session(lab) as root:
        vms = {
            str(r["name"]): int(r["vmid"])
            for r in root.get("/cluster/resources", type="vm")
            if str(r.get("name", "")).startswith("k8s-")
        }
        assert len(vms) == 3
        eventually(
            lambda: (
                {f"qemu/{v}" for v in vms.values()}
                <= {a.get("id") for a in not_backed_up(base) if a["state"] == "firing"}
            ),
            "VmNotBackedUp firing for each lab VM from the pve exporter",
        )
        # the pve exporter's series, read with the auditor token through verified TLS
        pve_up = query(base, 'pve_up{id="node/pve"}')
        assert [float(s["value"][1]) for s in pve_up] == [1.0]
        eventually(
            lambda: (
                {a.get("vm") for a in not_backed_up(base) if a.get("job") == "homelab"} == set(vms)
            ),
            "VmNotBackedUp for each lab VM from the tool's exporter",
        )

        root.post("/cluster/backup", id="nightly", schedule="02:00", storage="local", all=1)
        root.post("/nodes/pve/vzdump", all=1, storage="local")
        eventually(lambda: not_backed_up(base) == [], "VmNotBackedUp resolved", seconds=45)
        total = query(base, "pve_not_backed_up_total")
        assert [float(s["value"][1]) for s in total] == [0.0]
