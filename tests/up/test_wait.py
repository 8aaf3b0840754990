"""Bounded waits: the API server's readiness, on a clock the test controls."""

from __future__ import annotations

import httpx
import pytest

from homelab.core.secret import Secret
from homelab.engine.clock import Clock
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.kubeconfig import KubeCredentials
from homelab.engine.kube.wait import ApiTimeout, wait_api_ready, wait_authorized


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


def api_authorizing(forbidden: int, calls: list[str]) -> KubeApi:
    """An API that answers 403 ``forbidden`` times (the admins' binding not there yet)."""

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) <= forbidden:
            return httpx.Response(
                403,
                json={
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "Forbidden",
                    "code": 403,
                    "message": 'namespaces "kube-system" is forbidden: User "kubernetes-admin" '
                    'cannot get resource "namespaces" in API group "" at the cluster scope',
                },
            )
        return httpx.Response(
            200,
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}},
        )

    creds = KubeCredentials("https://10.0.20.10:6443", "", "", Secret(""))
    return KubeApi(creds, transport=httpx.MockTransport(handle))


def test_waits_while_the_admins_group_is_not_bound_yet() -> None:
    calls: list[str] = []
    fake = FakeTime()
    wait_authorized(api_authorizing(2, calls), fake.clock(), timeout=600, endpoint="10.0.20.10")
    assert calls == ["/api/v1/namespaces/kube-system"] * 3
    assert fake.now == 4.0


def test_a_403_that_stays_is_reported_after_the_window() -> None:
    fake = FakeTime()
    with pytest.raises(ApiTimeout) as caught:
        wait_authorized(
            api_authorizing(10_000, []), fake.clock(), timeout=600, endpoint="10.0.20.10"
        )
    assert "still refuses the admin certificate after 60 s" in caught.value.message
    assert "kubeadm:cluster-admins" in caught.value.message
    assert fake.now == 60.0
