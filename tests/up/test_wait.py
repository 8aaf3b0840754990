"""Bounded waits: the API server's readiness, on a clock the test controls."""

from __future__ import annotations

import httpx
import pytest

from homelab.core.secret import Secret
from homelab.engine.clock import Clock
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.kubeconfig import KubeCredentials
from homelab.engine.kube.wait import ApiTimeout, wait_api_ready


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(sleep=self.sleep, monotonic=lambda: self.now)


def api_answering(answers: list[tuple[int, str]], calls: list[str]) -> KubeApi:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/version":
            return httpx.Response(200, json={"gitVersion": "v1.29.15"})
        status, text = answers.pop(0) if len(answers) > 1 else answers[0]
        return httpx.Response(status, text=text)

    creds = KubeCredentials("https://10.0.20.10:6443", "", "", Secret(""))
    return KubeApi(creds, transport=httpx.MockTransport(handle))


def test_waits_until_readyz_answers_then_returns_the_version() -> None:
    calls: list[str] = []
    api = api_answering([(500, "[-]etcd failed"), (500, "[-]etcd failed"), (200, "ok")], calls)
    fake = FakeTime()
    assert wait_api_ready(api, fake.clock(), timeout=60, endpoint="10.0.20.10:6443") == "v1.29.15"
    assert calls == ["/readyz", "/readyz", "/readyz", "/version"]
    assert fake.now == 4.0


def test_gives_up_at_the_deadline_with_the_last_answer() -> None:
    api = api_answering([(500, "[-]etcd failed")], [])
    fake = FakeTime()
    with pytest.raises(ApiTimeout) as caught:
        wait_api_ready(api, fake.clock(), timeout=30, endpoint="10.0.20.10:6443")
    assert str(caught.value) == (
        "the API server at 10.0.20.10:6443 was not ready after 30 s; "
        "last: /readyz answered: [-]etcd failed"
    )
    assert 30 <= fake.now <= 32
