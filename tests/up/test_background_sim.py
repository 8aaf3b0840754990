"""The simulated lab in the background: it outlives the command, real tools use it, it stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homelab.errors import SimulatorError
from homelab.simulated.background import INFO_FILE, held_lock, read_running
from tests.support.tools import needs, require
from tests.up.simlab import copy_example

HOMELAB = [sys.executable, "-m", "homelab"]
APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80}]
"""


def homelab(*args: str) -> str:
    done = subprocess.run([*HOMELAB, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def kubectl(conf: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [require("kubectl"), "--kubeconfig", str(conf), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 or not check, done.stderr
    return done


def eventually(probe: Any, what: str, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen in {seconds:.0f} s"
        time.sleep(0.2)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Path]:
    spec = copy_example("home-lab.yaml", tmp_path)
    try:
        yield spec
    finally:
        subprocess.run([*HOMELAB, "sim", "stop", str(spec)], capture_output=True, timeout=60)


def folder(spec: Path) -> Path:
    return spec.parent / ".homelab" / "home-lab" / "sim"


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return bool(stat[stat.rindex(")") + 2] == "Z")


@needs("kubectl")
def test_up_leaves_the_lab_running_for_kubectl_until_sim_stop(lab: Path) -> None:
    out = homelab("up", str(lab), "--sim", "--yes", "--quiet")
    assert "keeps running in the background: `homelab sim stop" in out
    info = read_running(folder(lab))
    assert info is not None
    conf = lab.parent / ".homelab" / "home-lab" / "admin.conf"
    nodes = kubectl(conf, "get", "nodes", "-o", "json")
    ready = {
        n["metadata"]["name"]: any(
            c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]
        )
        for n in json.loads(nodes.stdout)["items"]
    }
    assert ready == dict.fromkeys(["k8s-master-1", "k8s-worker-2", "k8s-worker-3"], True)

    # a watch sees the change a kubectl apply makes; the Deployment runs, the Service gets an IP
    with subprocess.Popen(
        [
            require("kubectl"),
            "--kubeconfig",
            str(conf),
            "get",
            "pods",
            "-n",
            "default",
            "-w",
            "--no-headers",
            "-o",
            "custom-columns=NAME:.metadata.name",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as watch:
        try:
            manifest = lab.parent / "app.yaml"
            manifest.write_text(APP)
            kubectl(conf, "apply", "-f", str(manifest))
            assert watch.stdout is not None
            assert watch.stdout.readline().startswith("web-")
        finally:
            watch.kill()

    def running_pods() -> bool:
        pods = json.loads(kubectl(conf, "get", "pods", "-n", "default", "-o", "json").stdout)
        phases = [str(p["status"].get("phase")) for p in pods["items"]]
        return phases.count("Running") == 2

    eventually(running_pods, "two web pods Running")

    def external_ip() -> str:
        svc = json.loads(kubectl(conf, "get", "svc", "web", "-n", "default", "-o", "json").stdout)
        ingress = svc["status"].get("loadBalancer", {}).get("ingress") or [{}]
        return str(ingress[0].get("ip") or "")

    ip = eventually(external_ip, "an external IP")
    assert ip.startswith("10.0.20.2")  # the reference lab's pool: 10.0.20.200-10.0.20.220

    # a no-op up and a plan reuse the running simulator
    assert "No changes" in homelab("plan", str(lab), "--sim")
    assert read_running(folder(lab)) == info

    assert f"stopped the simulated lab home-lab (pid {info.pid})" in homelab(
        "sim", "stop", str(lab)
    )
    eventually(lambda: process_gone(info.pid), "the simulator's exit", 15)
    assert not (folder(lab) / INFO_FILE).exists()
    assert kubectl(conf, "get", "nodes", check=False).returncode != 0  # nothing serves it

    # started again: the same ports, so the kubeconfig written before works
    homelab("sim", "start", str(lab))
    again = read_running(folder(lab))
    assert again is not None and again.port == info.port and again.pid != info.pid
    assert "k8s-worker-3" in kubectl(conf, "get", "nodes").stdout
    doc = json.loads(homelab("sim", "status", str(lab), "--json"))
    assert doc["running"] is True and doc["pid"] == again.pid


def test_a_stale_pid_file_is_detected_and_cleaned(lab: Path) -> None:
    folder(lab).mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = {
        "pid": dead.pid,
        "process": "",
        "endpoint": "https://127.0.0.1:1",
        "fingerprint": "",
        "scale": 100.0,
        "started": 0.0,
    }
    (folder(lab) / INFO_FILE).write_text(json.dumps(stale))
    assert json.loads(homelab("sim", "status", str(lab), "--json"))["running"] is False
    assert not (folder(lab) / INFO_FILE).exists()
    # a live pid that is another process (its identity differs) is stale too
    (folder(lab) / INFO_FILE).write_text(
        json.dumps({**stale, "pid": os.getpid(), "process": "x/1"})
    )
    assert "is not running" in homelab("sim", "status", str(lab))
    assert "was not running" in homelab("sim", "stop", str(lab))


def test_two_processes_never_serve_the_same_simulated_lab(tmp_path: Path) -> None:
    with (
        held_lock(tmp_path / "sim", wait=0),
        pytest.raises(SimulatorError, match="another homelab command uses the simulated"),
        held_lock(tmp_path / "sim", wait=0.3),
    ):
        pass
    with held_lock(tmp_path / "sim", wait=0):  # let go: free again
        pass


def _configmaps(conf: Path) -> set[str]:
    listed = kubectl(conf, "get", "configmaps", "-n", "default", "-o", "json")
    return {c["metadata"]["name"] for c in json.loads(listed.stdout)["items"]}


@needs("kubectl")
def test_restore_cluster_rolls_the_running_cluster_back_to_its_snapshot(lab: Path) -> None:
    homelab("up", str(lab), "--sim", "--yes", "--quiet")
    conf = lab.parent / ".homelab" / "home-lab" / "admin.conf"
    kubectl(conf, "create", "configmap", "before-snapshot", "-n", "default")
    homelab("backup", "etcd", str(lab), "--sim")
    kubectl(conf, "create", "configmap", "after-snapshot", "-n", "default")
    assert {"before-snapshot", "after-snapshot"} <= _configmaps(conf)

    refused = subprocess.run(
        [*HOMELAB, "restore", "cluster", str(lab), "--sim", "--etcd", "latest", "--yes"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 1
    assert "control plane(s) k8s-master-1 of the lab home-lab exist" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "after-snapshot" in _configmaps(conf)  # nothing was changed

    out = homelab(
        "restore", "cluster", str(lab), "--sim", "--etcd", "latest", "--force", "--yes", "--json"
    )
    report = json.loads(out[: out.rindex("}") + 1])
    assert report["node"] == "k8s-master-1" and report["keys"] > 0
    assert report["nodes_ready"] == ["k8s-master-1", "k8s-worker-2", "k8s-worker-3"]
    names = _configmaps(conf)
    assert "before-snapshot" in names and "after-snapshot" not in names
