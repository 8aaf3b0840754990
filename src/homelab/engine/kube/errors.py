"""The Kubernetes error tree and the classifier that turns an API Status into one of its classes.

    KubeError (homelab.errors)          talking to the cluster's Kubernetes API failed
    ├── KubeApiError                    the API server answered with an error Status
    │   ├── KubeUnauthorized            401: the client certificate was not accepted
    │   ├── KubeForbidden               403: RBAC, or an admission webhook denied the request
    │   ├── KubeNotFound                404: the object (or its kind) does not exist
    │   ├── KubeConflict       (T)      409: AlreadyExists, or the object changed meanwhile
    │   ├── KubeInvalid                 422: the object is invalid (the Status says which field)
    │   └── KubeUnavailable    (T)      429, and 5xx: busy, starting, or failing for now
    │       └── KubeWebhookUnavailable  (T)  500 "failed calling webhook": not serving yet
    ├── KubeTransportError     (T)      connection refused/reset, timeouts
    └── KubeTlsError                    the server's certificate is not trusted

(T) marks classes whose ``transient`` attribute is true: asking again later may succeed. Every
other status (400, 405, 410, 413, 415...) is a plain ``KubeApiError``, not transient.

The API server answers errors with a ``Status`` object (``code``, ``reason``, ``message``); the
class is chosen from the code (the HTTP status when the Status has none), then from the reason
for a Status without a usable code. A webhook that *answers* and denies a request is not
"unavailable": its denial comes with the status the webhook chose (403 as a rule) and stays.
Messages quote the Status message, trimmed to one line, never a request body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from homelab.errors import KubeError

__all__ = [
    "MESSAGE_LIMIT",
    "KubeApiError",
    "KubeConflict",
    "KubeForbidden",
    "KubeInvalid",
    "KubeNotFound",
    "KubeTlsError",
    "KubeTransportError",
    "KubeUnauthorized",
    "KubeUnavailable",
    "KubeWebhookUnavailable",
    "classify_status",
    "status_error",
    "trim",
]

MESSAGE_LIMIT = 300

# The API server's text when it cannot call an admission or conversion webhook (the webhook's
# pods not running yet, its Service without endpoints, its certificate not yet injected).
WEBHOOK_RE = re.compile(r"failed calling webhook|failed to call webhook|conversion webhook")

_BY_REASON: dict[str, int] = {
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "AlreadyExists": 409,
    "Conflict": 409,
    "Invalid": 422,
    "TooManyRequests": 429,
    "InternalError": 500,
    "ServiceUnavailable": 503,
    "Timeout": 504,
    "ServerTimeout": 500,
}


def trim(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """One tidy line of at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class KubeApiError(KubeError):
    """The Kubernetes API answered ``status`` with an error Status.

    ``reason`` is the Status reason (``Invalid``, ``Forbidden``...; may be empty), ``detail`` its
    message, ``request`` what was asked (``apply IPAddressPool metallb-system/pool``); the
    ``message`` shown to the user is ``request: the API server answered STATUS: detail``.
    """

    def __init__(
        self, status: int, reason: str, detail: str, *, request: str, hint: str | None = None
    ) -> None:
        self.status = status
        self.reason = trim(reason)
        self.detail = trim(detail)
        self.request = request
        text = f"the API server answered {status}" + (f": {self.detail}" if self.detail else "")
        super().__init__(f"{request}: {text}" if request else text, hint=hint)


class KubeUnauthorized(KubeApiError):
    """401: the API server did not accept the client certificate."""


class KubeForbidden(KubeApiError):
    """403: the user may not do this, or an admission webhook denied the request."""


class KubeNotFound(KubeApiError):
    """404: the object, its namespace or its kind does not exist."""


class KubeConflict(KubeApiError):
    """409: the object already exists or changed between read and write; asking again works."""

    transient = True


class KubeInvalid(KubeApiError):
    """422: the object does not pass validation; the message names the fields."""


class KubeUnavailable(KubeApiError):
    """429 or 5xx: the API server (or something it calls) cannot serve the request now."""

    transient = True


class KubeWebhookUnavailable(KubeUnavailable):
    """The API server could not call a webhook (its controller is starting): try again later."""


class KubeTransportError(KubeError):
    """The connection failed or timed out before an answer came."""

    transient = True


class KubeTlsError(KubeError):
    """The server's certificate is not trusted (not signed by the lab CA, or a wrong name)."""


def classify_status(status: int, reason: str, message: str, *, request: str = "") -> KubeApiError:
    """The KubeApiError for an error answer: the HTTP ``status`` and the Status' fields."""
    code = status if status >= 400 else _BY_REASON.get(reason, status)
    cls: type[KubeApiError]
    hint: str | None = None
    if code == 401:
        cls = KubeUnauthorized
        hint = "the admin kubeconfig may be stale: rerun `homelab kubeconfig SPEC`"
    elif code == 403:
        cls = KubeForbidden
    elif code == 404:
        cls = KubeNotFound
    elif code == 409:
        cls = KubeConflict
    elif code == 422:
        cls = KubeInvalid
    elif code >= 500 and WEBHOOK_RE.search(message):
        cls = KubeWebhookUnavailable
    elif code == 429 or code >= 500:
        cls = KubeUnavailable
    else:
        cls = KubeApiError
    return cls(code, reason, message or reason, request=request, hint=hint)


def status_error(status: int, body: Any, *, request: str = "") -> KubeApiError:
    """The KubeApiError for an HTTP error ``status`` whose JSON ``body`` may be a Status."""
    doc: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    code = doc.get("code")
    http = code if isinstance(code, int) and code >= 400 else status
    return classify_status(
        http, str(doc.get("reason") or ""), str(doc.get("message") or ""), request=request
    )
