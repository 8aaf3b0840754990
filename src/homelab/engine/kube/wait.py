"""Bounded waits on the cluster: the API server answering, then the cluster being healthy.

Both poll on the connection's clock (virtual seconds with ``--sim``) and stop at a deadline; a
timeout names the last error or the things still not healthy, so the user knows where to look.
"""

from __future__ import annotations

from collections.abc import Callable

from homelab.engine.clock import Clock
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.health import ExpectedNode, HealthReport, check_health
from homelab.errors import KubeError

__all__ = ["ApiTimeout", "wait_api_ready", "wait_healthy"]

POLL = 2.0


class ApiTimeout(KubeError):
    """The API server did not become ready in time."""


def wait_api_ready(api: KubeApi, clock: Clock, *, timeout: float, endpoint: str) -> str:
    """Poll ``/readyz`` until it answers 200; return the server's git version."""
    deadline = clock.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            ready, body = api.readyz()
            if ready:
                return str(api.version().get("gitVersion", ""))
            last = f"/readyz answered: {body or 'not ready'}"
        except KubeError as exc:
            last = exc.message
        if clock.monotonic() >= deadline:
            raise ApiTimeout(
                f"the API server at {endpoint} was not ready after {timeout:.0f} s; last: {last}"
            )
        clock.sleep(POLL)


def wait_healthy(
    api: KubeApi,
    expected: list[ExpectedNode],
    clock: Clock,
    *,
    timeout: float,
    load_balancer: bool,
    on_poll: Callable[[HealthReport], None] | None = None,
) -> HealthReport:
    """Poll the cluster's health until it is ok or ``timeout`` passes; return the last look.

    A look that fails with an error that can go away (a 5xx, a lost connection) is taken again
    at the next poll; any other error, or a transient one at the deadline, is raised."""
    deadline = clock.monotonic() + timeout
    while True:
        try:
            report = check_health(api, expected, load_balancer=load_balancer)
        except KubeError as exc:
            if not exc.transient or clock.monotonic() >= deadline:
                raise
            clock.sleep(POLL)
            continue
        if on_poll is not None:
            on_poll(report)
        if report.ok or clock.monotonic() >= deadline:
            return report
        clock.sleep(POLL)
