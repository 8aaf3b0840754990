"""RetryPolicy: backoff growth and cap, jitter, which errors and requests are retried."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from homelab.engine.proxmox import errors as e
from homelab.engine.proxmox.retry import RetryPolicy, should_retry
from homelab.errors import ProxmoxError

LOCK = "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"


def failing(
    errors: list[ProxmoxError], result: str = "done"
) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def operation() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return calls, operation


def test_backoff_doubles_then_caps() -> None:
    policy = RetryPolicy(attempts=8, base=0.5, cap=4.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_jitter_shortens_waits_within_bounds() -> None:
    low = RetryPolicy(base=1.0, cap=10.0, jitter=0.5, random=lambda: 1.0)
    high = RetryPolicy(base=1.0, cap=10.0, jitter=0.5, random=lambda: 0.0)
    assert low.delay(3) == 2.0 and high.delay(3) == 4.0


def test_transient_errors_are_retried_with_growing_waits() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=5, base=0.5, cap=1.5, jitter=0.0, sleep=waits.append)
    server = e.ServerError(500, "boom", "boom")
    calls, operation = failing([server, server, server, server])
    assert policy.call(operation, idempotent=True, what="GET /x") == "done"
    assert len(calls) == 5
    assert waits == [0.5, 1.0, 1.5, 1.5]


def test_attempts_run_out_and_the_last_error_is_raised() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, sleep=waits.append, random=lambda: 0.0)
    errors: list[ProxmoxError] = [e.LockTimeoutError(500, LOCK, LOCK) for _ in range(3)]
    calls, operation = failing(errors)
    with pytest.raises(e.LockTimeoutError) as caught:
        policy.call(operation, idempotent=True, what="PUT /x")
    assert caught.value is errors[-1]
    assert len(calls) == 3 and len(waits) == 2


@pytest.mark.parametrize(
    "error",
    [
        e.ParameterError(400, "Parameter verification failed.", "", {"vmid": "bad"}),
        e.AuthenticationError(401, "Authentication failed!", ""),
        e.PermissionDenied(403, "Permission check failed", ""),
        e.ConflictError(500, "config file already exists", ""),
        e.NotFoundError(500, "Configuration file does not exist", ""),
        e.TlsError("untrusted"),
    ],
)
def test_permanent_errors_are_not_retried(error: ProxmoxError) -> None:
    waits: list[float] = []
    calls, operation = failing([error])
    with pytest.raises(type(error)):
        RetryPolicy(sleep=waits.append).call(operation, idempotent=True, what="x")
    assert len(calls) == 1 and waits == []


def test_unsafe_requests_retry_only_errors_that_prove_nothing_happened() -> None:
    refused_connection = e.TransportError("refused", sent=False)
    read_timeout = e.TransportError("no answer", sent=True)
    assert should_retry(e.LockTimeoutError(500, LOCK, LOCK), idempotent=False)
    assert should_retry(e.LockedError(500, "VM is locked (clone)", ""), idempotent=False)
    assert should_retry(refused_connection, idempotent=False)
    assert not should_retry(read_timeout, idempotent=False)
    assert not should_retry(e.ServerError(500, "boom", ""), idempotent=False)
    assert should_retry(read_timeout, idempotent=True)
    assert should_retry(e.ServerError(500, "boom", ""), idempotent=True)


def test_unsafe_request_stops_on_an_ambiguous_error() -> None:
    waits: list[float] = []
    calls, operation = failing([e.ServerError(596, "Connection timed out", "")])
    with pytest.raises(e.ServerError):
        RetryPolicy(sleep=waits.append).call(operation, idempotent=False, what="POST /clone")
    assert len(calls) == 1


def test_invalid_policy_is_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
