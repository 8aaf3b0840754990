"""Watches over HTTPS: ``?watch=1`` streams events, the real ``kubectl get -w`` sees a change."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from pathlib import Path

import httpx

from homelab_sim.kube import KubeRegistry
from tests.sim.kube.support import client_files, kubectl, needs_kubectl
from tests.support.tools import require

CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched"}}


def _client(config: Path, tmp: Path) -> httpx.Client:
    ca, crt, key = client_files(config, tmp)
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(crt, key)
    return httpx.Client(verify=context, timeout=30)


def test_watch_replays_from_a_resource_version_and_ends_at_its_timeout(
    kubeconfig: Path, served: str, tmp_path: Path, registry: KubeRegistry
) -> None:
    with _client(kubeconfig, tmp_path) as http:
        base = f"{served}/api/v1/namespaces/default/configmaps"
        start = http.get(base).json()["metadata"]["resourceVersion"]
        assert http.post(base, json=CONFIG_MAP).status_code == 201
        assert http.delete(f"{base}/watched").status_code == 200
        began = time.monotonic()
        reply = http.get(
            base, params={"watch": "1", "resourceVersion": start, "timeoutSeconds": "1"}
        )
        took = time.monotonic() - began
    assert reply.status_code == 200
    events = [json.loads(line) for line in reply.text.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "watched"),
        ("DELETED", "watched"),
    ]
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) > int(start)
    assert 0.9 < took < 10


def test_watch_from_a_compacted_resource_version_is_gone(
    kubeconfig: Path, served: str, tmp_path: Path
) -> None:
    with _client(kubeconfig, tmp_path) as http:
        base = f"{served}/api/v1/namespaces/default/configmaps"
        for i in range(1100):  # more writes than the history keeps
            body = {**CONFIG_MAP, "data": {"i": str(i)}}
            http.post(base, json=body) if i == 0 else http.put(f"{base}/watched", json=body)
        reply = http.get(
            base, params={"watch": "true", "resourceVersion": "2", "timeoutSeconds": "1"}
        )
    event = json.loads(reply.text.splitlines()[0])
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410


@needs_kubectl
def test_kubectl_get_watch_sees_a_new_object(kubeconfig: Path) -> None:
    watcher = subprocess.Popen(
        [
            require("kubectl"),
            "--kubeconfig",
            str(kubeconfig),
            "get",
            "configmaps",
            "-w",
            "--request-timeout=20s",
            "-o",
            "name",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2)
        created = kubectl(kubeconfig, "create", "configmap", "seen-by-watch")
        assert created.returncode == 0, created.stderr
        out, err = watcher.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        watcher.kill()
        out, err = watcher.communicate()
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert "configmap/seen-by-watch" in out.splitlines(), err


def test_stopping_the_api_ends_an_open_watch(
    kubeconfig: Path, served: str, tmp_path: Path, registry: KubeRegistry
) -> None:
    """A watch with a long timeout ends when the API server stops, as a real one's stream
    closes: its thread must not outlive the server (it would keep the process from exiting)."""
    ended = threading.Event()
    errors: list[BaseException] = []

    def watch() -> None:
        try:
            with _client(kubeconfig, tmp_path) as http:
                base = f"{served}/api/v1/namespaces/default/configmaps"
                with http.stream("GET", base, params={"watch": "1", "timeoutSeconds": "600"}) as r:
                    for _ in r.iter_lines():
                        pass
        except httpx.HTTPError:
            pass  # the connection closing under the stream is the expected end
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            ended.set()

    before = {t.ident for t in threading.enumerate()}
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    time.sleep(1.0)  # the watch is open and waiting
    registry.close()
    assert ended.wait(15), "the watch outlived the API server"
    assert not errors
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        left = [
            t
            for t in threading.enumerate()
            if t.ident not in before and t is not thread and t.is_alive()
        ]
        if not left:
            break
        time.sleep(0.2)
    assert not left, f"threads left running after the server stopped: {[t.name for t in left]}"
