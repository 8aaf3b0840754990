"""Bounded waits on the cluster: the API server answering, then the cluster being healthy.

Both poll on the connection's clock (virtual seconds with ``--sim``) and stop at a deadline; a
timeout names the last error or the things still not healthy, so the user knows where to look.
"""

from __future__ import annotations

from collections.abc import Callable

from homelab.engine.clock import Clock
from homelab.engine.kube.client import KubeApi
from homelab.engine.kube.errors import KubeForbidden
from homelab.engine.kube.health import ExpectedNode, HealthReport, check_health
from homelab.errors import KubeError

__all__ = ["ApiTimeout", "wait_api_ready", "wait_authorized", "wait_healthy"]

POLL = 2.0
#: How long a 403 for the admin certificate is taken for "kubeadm has not bound its group yet".
AUTHORIZATION_WINDOW = 60.0


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


def wait_authorized(api: KubeApi, clock: Clock, *, timeout: float, endpoint: str) -> None:
    """Wait until the admin certificate has rights: its group ``kubeadm:cluster-admins`` (kubeadm
    >= 1.29) has none until kubeadm creates the ClusterRoleBinding of that name, a moment after
    ``/readyz`` answers. A 403 is taken for "not yet" for at most ``AUTHORIZATION_WINDOW``
    seconds (or ``timeout``, if shorter); any other error is raised at once."""
    deadline = clock.monotonic() + min(timeout, AUTHORIZATION_WINDOW)
    while True:
        try:
            api.get("v1", "Namespace", "kube-system")
            return
        except KubeForbidden as exc:
            if clock.monotonic() >= deadline:
                raise ApiTimeout(
                    f"the API server at {endpoint} still refuses the admin certificate after "
                    f"{min(timeout, AUTHORIZATION_WINDOW):.0f} s ({exc.message}); kubeadm gives "
                    "its group rights through the ClusterRoleBinding kubeadm:cluster-admins: "
                    "check that it exists (kubectl --kubeconfig /etc/kubernetes/super-admin.conf "
                    "get clusterrolebinding kubeadm:cluster-admins on the first control plane)"
                ) from exc
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
