"""`homelab metrics` as a user runs it: once, as a server scraped over HTTP, bad input."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from homelab.cli.metrics import parse_listen
from homelab.core.monitoring import metrics as m
from homelab.errors import LabError
from tests.up.simlab import copy_example

HOMELAB = [sys.executable, "-m", "homelab"]


def _families(text: str) -> dict[str, list[float]]:
    return {f.name: [s.value for s in f.samples] for f in text_string_to_metric_families(text)}


def test_once_prints_one_collection(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    done = subprocess.run(
        [*HOMELAB, "metrics", str(spec), "--sim", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    families = _families(done.stdout)
    assert families[m.DRIFT_OBJECTS] == [3.0]  # nothing applied yet: three VMs to create
    assert m.APPLY_SUCCESS not in families or families[m.APPLY_SUCCESS] == []


def test_served_metrics_answer_a_scrape_and_the_server_stops_on_sigterm(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with subprocess.Popen(
        [*HOMELAB, "metrics", str(spec), "--sim", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            assert f"on http://127.0.0.1:{port}/metrics" in line, line
            reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
            assert reply.status_code == 200
            assert _families(reply.text)[m.DRIFT_OBJECTS] == [3.0]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("text", ["9877", "localhost:9877", "127.0.0.1:0", "127.0.0.1:x", ""])
def test_a_bad_listen_address_is_refused(text: str) -> None:
    with pytest.raises(LabError, match="is not an address and port"):
        parse_listen(text)


def test_listen_addresses_v4_and_v6() -> None:
    assert parse_listen("127.0.0.1:9877") == ("127.0.0.1", 9877)
    assert parse_listen("[::1]:9100") == ("::1", 9100)


def test_a_bad_listen_address_is_one_line_and_exit_1(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)
    done = subprocess.run(
        [*HOMELAB, "metrics", str(spec), "--sim", "--listen", "nowhere"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "is not an address and port" in done.stderr
    assert "Traceback" not in done.stderr


def test_status_shows_health_beside_the_vms(tmp_path: Path) -> None:
    spec = copy_example("home-lab.yaml", tmp_path)

    def homelab(*args: str) -> str:
        done = subprocess.run(
            [*HOMELAB, *args], capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        homelab("up", str(spec), "--sim", "--yes", "--quiet")
        text = homelab("status", str(spec), "--sim")
        header = text.splitlines()[0].split()
        assert header[-2:] == ["drift", "health"]
        ready = [line for line in text.splitlines() if line.rstrip().endswith("in sync  Ready")]
        assert len(ready) == 3
        assert "certificate apiserver: expires" in text and "last apply:" in text
        doc = json.loads(homelab("status", str(spec), "--sim", "--json"))
        assert {vm["health"] for vm in doc["vms"]} == {"Ready"}
        assert doc["health"]["api"] == "" and doc["health"]["last_apply"]["ok"] is True
        bare = json.loads(homelab("status", str(spec), "--sim", "--json", "--no-health"))
        assert "health" not in bare and "health" not in bare["vms"][0]
    finally:  # `up --sim` leaves the simulated lab running in the background
        homelab("sim", "stop", str(spec))
