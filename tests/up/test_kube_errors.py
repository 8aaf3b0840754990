"""Kubernetes errors like Proxmox errors: a Status becomes a class with status, reason and
``transient``, and the addon install retries only what can succeed later (issue 8, part 1)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from homelab.core.cluster import ClusterSecrets
from homelab.core.secret import Secret
from homelab.engine.clock import Clock
from homelab.engine.kube import errors as e
from homelab.engine.kube.addons import install_addons
from homelab.engine.kube.client import ApplyResult, KubeApi, object_ref
from homelab.engine.kube.kubeconfig import KubeCredentials, credentials_of
from homelab.engine.kube.manifests import ManifestSource
from homelab.engine.kube.wait import POLL, wait_healthy
from homelab.engine.pki import mint_admin_kubeconfig
from homelab.errors import KubeError
from tests.up.tlsserver import serve_api

ENDPOINT = "10.0.20.10"
WEBHOOK_NOT_READY = (
    "Internal error occurred: failed calling webhook "
    '"ipaddresspoolvalidationwebhook.metallb.io": failed to call webhook: Post '
    '"https://metallb-webhook-service.metallb-system.svc:443/'
    'validate-metallb-io-v1beta1-ipaddresspool?timeout=10s": no endpoints available for '
    'service "metallb-webhook-service"'
)
WEBHOOK_REFUSED = (
    'Internal error occurred: failed calling webhook "ipaddresspoolvalidationwebhook.metallb.io":'
    ' failed to call webhook: Post "https://metallb-webhook-service.metallb-system.svc:443/'
    'validate-metallb-io-v1beta1-ipaddresspool?timeout=10s": dial tcp 10.96.12.7:443: '
    "connect: connection refused"
)
WEBHOOK_DENIED = (
    'admission webhook "ipaddresspoolvalidationwebhook.metallb.io" denied the request: CIDR '
    "'10.0.20.208/29' in pool 'early' overlaps with already defined CIDR '10.0.20.200-10.0.20.210'"
)
INVALID = (
    'IPAddressPool.metallb.io "pool" is invalid: spec.addresses: Invalid value: "string": '
    "spec.addresses in body must be of type array"
)


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


# ---- the classifier -----------------------------------------------------------------------

CASES: list[tuple[int, str, str, type[e.KubeApiError], bool]] = [
    (400, "BadRequest", "the body of the request was in an unknown format", e.KubeApiError, False),
    (401, "Unauthorized", "Unauthorized", e.KubeUnauthorized, False),
    (403, "Forbidden", 'nodes is forbidden: User "x" cannot list', e.KubeForbidden, False),
    (403, "Forbidden", WEBHOOK_DENIED, e.KubeForbidden, False),
    (404, "NotFound", 'configmaps "x" not found', e.KubeNotFound, False),
    (409, "AlreadyExists", 'configmaps "x" already exists', e.KubeConflict, True),
    (409, "Conflict", "the object has been modified", e.KubeConflict, True),
    (422, "Invalid", INVALID, e.KubeInvalid, False),
    (429, "TooManyRequests", "too many requests, please try again later", e.KubeUnavailable, True),
    (500, "InternalError", WEBHOOK_NOT_READY, e.KubeWebhookUnavailable, True),
    (500, "InternalError", WEBHOOK_REFUSED, e.KubeWebhookUnavailable, True),
    (500, "InternalError", "etcdserver: leader changed", e.KubeUnavailable, True),
    (503, "ServiceUnavailable", "the server is unable", e.KubeUnavailable, True),
    (504, "Timeout", "no answer in time", e.KubeUnavailable, True),
    # a Status without a usable code: the reason decides
    (0, "Invalid", INVALID, e.KubeInvalid, False),
    (0, "Conflict", "the object has been modified", e.KubeConflict, True),
]  # fmt: skip


@pytest.mark.parametrize(("code", "reason", "message", "cls", "transient"), CASES)
def test_a_status_becomes_its_class(
    code: int, reason: str, message: str, cls: type[e.KubeApiError], transient: bool
) -> None:
    error = e.classify_status(code, reason, message, request="apply x/pool")
    assert type(error) is cls
    assert error.transient is transient
    assert error.reason == reason
    assert error.detail == message
    status = code or {"Invalid": 422, "Conflict": 409}[reason]
    assert error.status == status
    assert error.message == f"apply x/pool: the API server answered {status}: {message}"


def test_the_status_body_wins_over_the_http_code_and_a_body_that_is_not_a_status() -> None:
    error = e.status_error(500, status(422, "Invalid", INVALID), request="apply x")
    assert isinstance(error, e.KubeInvalid)
    assert error.status == 422
    proxy = e.status_error(502, "<html>Bad Gateway</html>", request="GET /version")
    assert isinstance(proxy, e.KubeUnavailable)
    assert proxy.message == "GET /version: the API server answered 502"


def test_long_messages_are_one_trimmed_line() -> None:
    error = e.classify_status(422, "Invalid", "spec:\n  " + "x" * 1000, request="apply x")
    assert "\n" not in error.message
    assert len(error.detail) == e.MESSAGE_LIMIT
    assert error.detail.endswith("...")


# ---- the client maps lightkube's and httpx's failures onto the tree --------------------------


def api_for(secrets: ClusterSecrets, url: str) -> KubeApi:
    text = mint_admin_kubeconfig(secrets, cluster="t-lab", server=url, tls_server_name=ENDPOINT)
    return KubeApi(credentials_of(text), timeout=5)


@pytest.mark.parametrize(
    ("answer", "cls"),
    [
        (status(422, "Invalid", INVALID), e.KubeInvalid),
        (status(409, "Conflict", "the object has been modified"), e.KubeConflict),
        (status(503, "ServiceUnavailable", "etcd is starting"), e.KubeUnavailable),
        (status(500, "InternalError", WEBHOOK_NOT_READY), e.KubeWebhookUnavailable),
        (status(403, "Forbidden", WEBHOOK_DENIED), e.KubeForbidden),
    ],
)
def test_the_client_raises_the_class_of_the_answer(
    lab_secrets: ClusterSecrets, answer: dict[str, Any], cls: type[e.KubeApiError]
) -> None:
    with serve_api(lab_secrets, [ENDPOINT]) as fake:
        fake.routes["/api/v1/nodes"] = (int(answer["code"]), answer)
        with api_for(lab_secrets, fake.url) as api, pytest.raises(e.KubeApiError) as caught:
            api.nodes()
    assert type(caught.value) is cls
    assert caught.value.status == answer["code"]
    assert caught.value.reason == answer["reason"]
    expected = e.trim(str(answer["message"]))
    assert str(caught.value) == f"list nodes: the API server answered {answer['code']}: {expected}"


def test_a_raw_path_reads_the_status_too(lab_secrets: ClusterSecrets) -> None:
    with serve_api(lab_secrets, [ENDPOINT]) as fake:
        fake.routes["/version"] = (503, status(503, "ServiceUnavailable", "starting"))
        with api_for(lab_secrets, fake.url) as api, pytest.raises(e.KubeUnavailable) as caught:
            api.version()
    assert str(caught.value) == "GET /version: the API server answered 503: starting"
    assert caught.value.transient


def test_a_lost_connection_is_transient_and_an_untrusted_server_is_not(
    lab_secrets: ClusterSecrets, other_secrets: ClusterSecrets
) -> None:
    with serve_api(lab_secrets, [ENDPOINT]) as fake:
        url = fake.url
    with api_for(lab_secrets, url) as api, pytest.raises(e.KubeTransportError) as lost:
        api.nodes()
    assert lost.value.transient
    with serve_api(other_secrets, [ENDPOINT]) as fake:
        with api_for(lab_secrets, fake.url) as api, pytest.raises(e.KubeTlsError) as untrusted:
            api.nodes()
        assert fake.seen == []
    assert not untrusted.value.transient
    assert "TLS verification failed" in str(untrusted.value)


# ---- the addon install retries only what can succeed later ----------------------------------

POOL = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "IPAddressPool",
    "metadata": {"name": "pool", "namespace": "metallb-system"},
    "spec": {"addresses": ["10.0.20.200-10.0.20.210"]},
}
CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings", "namespace": "metallb-system"},
    "data": {"a": "b"},
}
MANIFEST_URL = "https://example.invalid/metallb-native.yaml"
TIMEOUT = 1800.0


@dataclass
class ScriptedApi:
    """Answers each apply of an object with the next scripted error, then with success."""

    script: dict[str, list[KubeError]]
    calls: list[str] = field(default_factory=list)

    def apply(self, obj: dict[str, Any]) -> ApplyResult:
        ref = object_ref(obj)
        self.calls.append(ref)
        pending = self.script.get(ref, [])
        if pending:
            raise pending.pop(0)
        return ApplyResult(ref, "created", obj)

    def find(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return None


@dataclass
class VirtualTime:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(sleep=self.sleep, monotonic=lambda: self.now)


def install(api: ScriptedApi, time: VirtualTime, cache: Path) -> list[str]:
    """Install an index of one addon: a manifest (a ConfigMap) and the lab's pool."""
    cache.mkdir(exist_ok=True)
    digest = hashlib.sha256(MANIFEST_URL.encode()).hexdigest()
    (cache / f"{digest}.yaml").write_text(yaml.safe_dump(CONFIGMAP), encoding="utf-8")
    index = {
        "addons": [
            {
                "component": "metallb",
                "version": "v0.14.9",
                "manifest": MANIFEST_URL,
                "resources": ["pool.yaml"],
            }
        ]
    }
    files = {
        "addons.yaml": yaml.safe_dump(index).encode(),
        "pool.yaml": yaml.safe_dump(POOL).encode(),
    }
    source = ManifestSource(cache_dir=cache)
    report = install_addons(api, files, source, time.clock(), timeout=TIMEOUT)
    return [r.ref for r in report.results]


def failing(cls: type[e.KubeApiError], code: int, message: str) -> e.KubeApiError:
    return cls(code, cls.__name__, message, request="apply IPAddressPool metallb-system/pool")


@pytest.mark.parametrize(
    "error",
    [
        failing(e.KubeInvalid, 422, INVALID),
        failing(e.KubeForbidden, 403, WEBHOOK_DENIED),
        failing(e.KubeNotFound, 404, "the server could not find the requested resource"),
    ],
)
def test_a_refusal_that_stays_fails_at_once_with_the_status_message(
    tmp_path: Path, error: e.KubeApiError
) -> None:
    api = ScriptedApi({"IPAddressPool metallb-system/pool": [error]})
    time = VirtualTime()
    with pytest.raises(KubeError) as caught:
        install(api, time, tmp_path / "cache")
    assert caught.value is error  # the API server's own words, not a timeout
    assert api.calls.count("IPAddressPool metallb-system/pool") == 1
    assert time.sleeps == []


@pytest.mark.parametrize(
    "errors",
    [
        [failing(e.KubeConflict, 409, "the object has been modified")],
        [failing(e.KubeUnavailable, 503, "the server is unable")],
        [failing(e.KubeUnavailable, 429, "too many requests")],
        [failing(e.KubeWebhookUnavailable, 500, WEBHOOK_NOT_READY)] * 5
        + [failing(e.KubeWebhookUnavailable, 500, WEBHOOK_REFUSED)],
        [e.KubeTransportError("apply: cannot reach the API server: connection reset")],
    ],
)
def test_what_can_succeed_later_is_retried_until_it_does(
    tmp_path: Path, errors: list[KubeError]
) -> None:
    api = ScriptedApi({"IPAddressPool metallb-system/pool": list(errors)})
    time = VirtualTime()
    applied = install(api, time, tmp_path / "cache")
    assert applied == ["ConfigMap metallb-system/settings", "IPAddressPool metallb-system/pool"]
    assert api.calls.count("IPAddressPool metallb-system/pool") == len(errors) + 1
    assert len(time.sleeps) == len(errors)


def test_a_manifest_object_is_retried_on_a_503_and_fails_at_once_on_a_422(
    tmp_path: Path,
) -> None:
    ref = "ConfigMap metallb-system/settings"
    unavailable = e.KubeUnavailable(503, "ServiceUnavailable", "starting", request=f"apply {ref}")
    api = ScriptedApi({ref: [unavailable]})
    assert install(api, VirtualTime(), tmp_path / "cache")[0] == ref
    assert api.calls.count(ref) == 2
    invalid = e.KubeInvalid(422, "Invalid", INVALID, request=f"apply {ref}")
    api = ScriptedApi({ref: [invalid]})
    with pytest.raises(e.KubeInvalid):
        install(api, VirtualTime(), tmp_path / "cache")
    assert api.calls == [ref]


def test_a_transient_refusal_gives_up_at_the_deadline_with_the_last_answer(
    tmp_path: Path,
) -> None:
    webhook = failing(e.KubeWebhookUnavailable, 500, WEBHOOK_NOT_READY)
    api = ScriptedApi({"IPAddressPool metallb-system/pool": [webhook] * 10_000})
    time = VirtualTime()
    with pytest.raises(KubeError, match="was still refused when the time ran out") as caught:
        install(api, time, tmp_path / "cache")
    assert caught.value.__cause__ is webhook
    assert "no endpoints available" in caught.value.message
    assert TIMEOUT <= time.now < TIMEOUT + 5


# ---- the health wait polls through what can go away, and stops on what cannot ---------------


def api_listing(nodes: list[tuple[int, Any]], calls: list[str]) -> KubeApi:
    """A KubeApi whose node lists answer ``nodes`` in turn (the last one repeats)."""

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/api/v1/nodes":
            code, body = nodes.pop(0) if len(nodes) > 1 else nodes[0]
            return httpx.Response(code, json=body)
        return httpx.Response(200, json={"kind": "PodList", "apiVersion": "v1", "items": []})

    creds = KubeCredentials("https://10.0.20.10:6443", "", "", Secret(""))
    return KubeApi(creds, transport=httpx.MockTransport(handle))


NO_NODES = {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": []}


def test_the_health_wait_polls_through_a_503() -> None:
    calls: list[str] = []
    unavailable = (503, status(503, "ServiceUnavailable", "etcd leader changed"))
    api = api_listing([unavailable, unavailable, (200, NO_NODES)], calls)
    time = VirtualTime()
    report = wait_healthy(api, [], time.clock(), timeout=60, load_balancer=False)
    # two failed looks, then a look that got both lists; no system pods: polled to the deadline
    assert calls[:5] == ["/api/v1/nodes"] * 3 + ["/api/v1/pods", "/api/v1/nodes"]
    assert time.sleeps[:2] == [POLL, POLL]
    assert not report.ok
    assert 60 <= time.now <= 62


def test_the_health_wait_stops_at_once_on_a_403_and_at_the_deadline_on_a_503() -> None:
    forbidden = (403, status(403, "Forbidden", 'nodes is forbidden: User "x" cannot list'))
    time = VirtualTime()
    with pytest.raises(e.KubeForbidden):
        wait_healthy(
            api_listing([forbidden], []), [], time.clock(), timeout=60, load_balancer=False
        )
    assert time.sleeps == []
    unavailable = (503, status(503, "ServiceUnavailable", "etcd leader changed"))
    time = VirtualTime()
    with pytest.raises(e.KubeUnavailable):
        wait_healthy(
            api_listing([unavailable], []), [], time.clock(), timeout=60, load_balancer=False
        )
    assert 60 <= time.now <= 62
