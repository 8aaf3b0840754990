"""A workload that must stay within its budget on the simulated cluster, and the helpers of
the day-2 tests that watch it (drain, upgrade): a Deployment of 3 replicas with a
PodDisruptionBudget, a watch on its pods, a spec rewritten, an apply with a progress recorder."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lightkube.resources.core_v1 import Pod

from homelab.core.ownership import NO_FLAGS, Flags
from homelab.engine.apply.progress import Recorder
from homelab.engine.apply.runtime import Limits
from homelab.engine.kube.client import KubeApi
from homelab.simulated.site import SimulatedSite
from homelab.verbs.lab import LabContext, prepare_lab
from homelab.verbs.provision import ApplyOutcome, apply_lab
from tests.up.simlab import Upped

APP = {"app": "web"}


def workload(min_available: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": APP},
                "template": {
                    "metadata": {"labels": APP},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": APP}},
        },
    ]


def running(api: KubeApi) -> list[dict[str, Any]]:
    return [
        p
        for p in api.pods("default")
        if p["metadata"].get("labels", {}).get("app") == "web"
        and p["status"].get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
    ]


def start_workload(lab: Upped, api: KubeApi, min_available: int) -> None:
    for obj in workload(min_available):
        api.apply(obj)
    site = lab.conn.site
    assert isinstance(site, SimulatedSite)
    for _ in range(200):
        if len(running(api)) == 3:
            return
        site.advance_clock(5)
        lab.conn.clock.sleep(0.5)
    raise AssertionError(f"the Deployment did not come up: {running(api)}")


@contextlib.contextmanager
def watched(api: KubeApi) -> Iterator[list[int]]:
    """Yields the Running web pods counted after every watch event once all 3 were seen (the
    watch first replays the pods that exist, one ADDED event each)."""
    counts: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()
    alive: dict[str, bool] = {}

    def follow() -> None:
        client: Any = api._kube  # the watch lightkube gives (as kubectl get -w)
        try:
            for kind, pod in client.watch(Pod, namespace="default", labels=APP):
                up = pod.status.phase == "Running" and pod.metadata.deletionTimestamp is None
                if kind == "DELETED" or not up:
                    alive.pop(pod.metadata.name, None)
                else:
                    alive[pod.metadata.name] = True
                if counts or len(alive) == 3:
                    counts.append(len(alive))
                if stop.is_set():
                    return
        except Exception as exc:  # the server stops under the watch at the end of the test
            if not stop.is_set():
                failures.append(exc)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield counts
        assert failures == [], failures
    finally:
        stop.set()


def respec(spec: Path, old: str, new: str) -> LabContext:
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))
    return prepare_lab(spec)


WORKER2 = "k8s-worker-2: {role: worker, cores: 2, memory: 4GiB"
WORKER2_8G = "k8s-worker-2: {role: worker, cores: 2, memory: 8GiB"


def apply(lab: Upped, ctx: LabContext, flags: Flags = NO_FLAGS, **limits: Any) -> ApplyOutcome:
    return apply_lab(
        lab.conn,
        ctx,
        confirm=lambda _plan: True,
        flags=flags,
        progress=RECORDER,
        limits=Limits(**limits),
    )


RECORDER = Recorder()


def node(api: KubeApi, name: str) -> dict[str, Any]:
    found = api.find("v1", "Node", name)
    assert found is not None, name
    return dict(found)
