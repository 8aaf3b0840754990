"""The Kubernetes API client of the tool: lightkube over our TLS transport, errors as KubeError.

``KubeApi`` is the one object the converge steps talk to. It wraps two clients on the same
transport: lightkube (typed lists, reads and server-side apply of any kind, including custom
resources registered from their CRDs) and a plain httpx client for the raw paths lightkube does
not cover (``/readyz``, ``/version``). Every exception of lightkube, httpx or ssl is converted
here (``kube_errors``) into the tree of ``homelab.engine.kube.errors``: a Status answer becomes
the ``KubeApiError`` of its code (``status``, ``reason``, ``transient``), a failed connection a
``KubeTransportError``, an untrusted certificate a ``KubeTlsError``. Messages quote the API
server's Status message, cut to 300 characters, never a request body.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import lightkube
from lightkube import codecs
from lightkube.config.kubeconfig import KubeConfig
from lightkube.core.exceptions import ApiError, LoadResourceError
from lightkube.core.resource import NamespacedResource
from lightkube.resources.core_v1 import Node, Pod, Service
from lightkube.types import PatchType

from homelab.engine.kube.errors import (
    MESSAGE_LIMIT,
    KubeNotFound,
    KubeTlsError,
    KubeTransportError,
    classify_status,
    status_error,
    trim,
)
from homelab.engine.kube.kubeconfig import KubeCredentials
from homelab.engine.kube.transport import build_transport
from homelab.errors import KubeError

__all__ = ["FIELD_MANAGER", "ApplyResult", "Eviction", "KubeApi", "kube_errors", "object_ref"]

FIELD_MANAGER = "homelab"

Change = Literal["created", "configured", "unchanged"]


@dataclass(frozen=True)
class ApplyResult:
    """One object after a server-side apply, and whether the apply changed it."""

    ref: str
    change: Change
    obj: dict[str, Any]


def object_ref(obj: dict[str, Any]) -> str:
    """``Kind namespace/name`` (or ``Kind name``) for messages and reports."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "?")
    return f"{obj.get('kind', '?')} {ns}/{name}" if ns else f"{obj.get('kind', '?')} {name}"


@contextlib.contextmanager
def kube_errors(server: str, what: str) -> Iterator[None]:
    """Turn lightkube/httpx/ssl failures while doing ``what`` into the KubeError tree."""
    try:
        yield
    except ApiError as exc:
        status = exc.status
        code = status.code or exc.response.status_code
        raise classify_status(
            code, status.reason or "", status.message or "", request=what
        ) from exc
    except httpx.HTTPStatusError as exc:
        raise status_error(exc.response.status_code, _json(exc.response), request=what) from exc
    except httpx.TimeoutException as exc:
        raise KubeTransportError(
            f"{what}: the API server at {server} did not answer in time"
        ) from exc
    except httpx.TransportError as exc:
        refused = _tls_failure(exc)
        if refused is not None:
            raise KubeTlsError(
                f"{what}: cannot reach the API server at {server}: {refused}"
            ) from exc
        raise KubeTransportError(
            f"{what}: cannot reach the API server at {server}: {str(exc) or type(exc).__name__}"
        ) from exc
    except LoadResourceError as exc:
        raise KubeError(f"{what}: {str(exc)[:MESSAGE_LIMIT]}") from exc


def _tls_failure(exc: BaseException) -> str | None:
    """The certificate verification failure behind ``exc``, if that is what it is."""
    inner: BaseException | None = exc
    while inner is not None:
        if isinstance(inner, ssl.SSLCertVerificationError):
            return f"TLS verification failed ({inner.verify_message})"
        inner = inner.__cause__ or inner.__context__
    return None


def _json(response: httpx.Response) -> Any:
    """The body as JSON (a Status, as a rule), or None when it is not JSON."""
    try:
        response.read()
        return response.json()
    except (ValueError, httpx.HTTPError):
        return None


class KubeApi:
    """A connection to one cluster's API server with the admin credentials."""

    def __init__(
        self,
        creds: KubeCredentials,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = creds.server.rstrip("/")
        self._transport = transport or build_transport(creds)
        self._http = httpx.Client(
            base_url=self.server, transport=self._transport, timeout=timeout, trust_env=False
        )
        # TLS and the client certificate live in the transport: lightkube gets a bare config.
        config = KubeConfig.from_dict(
            {
                "clusters": [{"name": "lab", "cluster": {"server": self.server}}],
                "users": [{"name": "admin", "user": {}}],
                "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin"}}],
                "current-context": "lab",
            }
        )
        self._kube = lightkube.Client(
            config=config,
            timeout=httpx.Timeout(timeout),
            field_manager=FIELD_MANAGER,
            trust_env=False,
            transport=self._transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KubeApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- raw paths ----------------------------------------------------------------------

    def readyz(self) -> tuple[bool, str]:
        """(ready, what the server said) from ``/readyz``."""
        with kube_errors(self.server, "GET /readyz"):
            response = self._http.get("/readyz")
        return response.status_code == 200, response.text.strip()[:MESSAGE_LIMIT]

    def server_time(self) -> dt.datetime:
        """The API server's clock, from the ``Date`` of its ``/version`` answer (this machine's
        clock when the answer has none or an unreadable one)."""
        with kube_errors(self.server, "GET /version"):
            response = self._http.get("/version")
            response.raise_for_status()
        try:
            return email.utils.parsedate_to_datetime(response.headers.get("date", ""))
        except (TypeError, ValueError):
            return dt.datetime.now(dt.UTC)

    def version(self) -> dict[str, Any]:
        with kube_errors(self.server, "GET /version"):
            response = self._http.get("/version")
            response.raise_for_status()
            doc = response.json()
        if not isinstance(doc, dict):
            raise KubeError("GET /version: the answer is not a JSON object")
        return doc

    # ---- typed reads --------------------------------------------------------------------

    def nodes(self) -> list[dict[str, Any]]:
        with kube_errors(self.server, "list nodes"):
            return _dicts(self._kube.list(Node))

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        with kube_errors(self.server, "list pods"):
            return _dicts(self._kube.list(Pod, namespace=namespace or "*"))

    def pods_on(self, node: str) -> list[dict[str, Any]]:
        """Every pod bound to ``node`` (all namespaces; ``fieldSelector=spec.nodeName``)."""
        with kube_errors(self.server, f"list pods on node {node}"):
            return _dicts(self._kube.list(Pod, namespace="*", fields={"spec.nodeName": node}))

    def services(self, namespace: str | None = None) -> list[dict[str, Any]]:
        with kube_errors(self.server, "list services"):
            return _dicts(self._kube.list(Service, namespace=namespace or "*"))

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        """The object as a dict; ``KubeNotFound`` when it does not exist."""
        with kube_errors(self.server, f"get {kind} {name}"):
            res: Any = codecs.resource_registry.load(api_version, kind)
            found: Any = (
                self._kube.get(res, name, namespace=namespace or "default")
                if issubclass(res, NamespacedResource)
                else self._kube.get(res, name)
            )
            return found.to_dict()

    def find(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        """Like ``get``, but None when the object does not exist."""
        try:
            return self.get(api_version, kind, name, namespace)
        except KubeNotFound:
            return None

    # ---- writes -------------------------------------------------------------------------

    def apply(self, obj: dict[str, Any]) -> ApplyResult:
        """Server-side apply ``obj`` (field manager ``homelab``, forcing conflicts)."""
        ref = object_ref(obj)
        with kube_errors(self.server, f"apply {ref}"):
            res: Any = codecs.resource_registry.load(obj["apiVersion"], obj["kind"])
            meta = dict(obj.get("metadata") or {})
            namespace = None
            if issubclass(res, NamespacedResource):
                namespace = meta.setdefault("namespace", "default")
            resource: Any = codecs.from_dict({**obj, "metadata": meta})
            before = self.find(obj["apiVersion"], obj["kind"], meta.get("name", ""), namespace)
            applied: Any = self._kube.apply(resource, force=True)
            after: dict[str, Any] = applied.to_dict()
        return ApplyResult(ref, _change(before, after), after)

    def set_unschedulable(self, node: str, unschedulable: bool) -> None:
        """Cordon (True) or uncordon (False) ``node``, as ``kubectl cordon`` does (a patch)."""
        what = f"{'cordon' if unschedulable else 'uncordon'} node {node}"
        with kube_errors(self.server, what):
            self._kube.patch(
                Node,
                node,
                {"spec": {"unschedulable": unschedulable or None}},
                patch_type=PatchType.MERGE,
            )

    def evict(self, namespace: str, name: str) -> Eviction:
        """Ask the Eviction API to evict a pod; ``Eviction.refusal`` says why it did not
        (a disruption budget: 429, with the budget's own words), ``gone`` if it was not there."""
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        what = f"evict pod {namespace}/{name}"
        with kube_errors(self.server, what):
            response = self._http.post(
                f"/api/v1/namespaces/{namespace}/pods/{name}/eviction", json=body
            )
        if response.status_code in (200, 201):
            return Eviction(evicted=True)
        doc = _json(response)
        if response.status_code == 404:
            return Eviction(evicted=False, gone=True)
        if response.status_code == 429:
            return Eviction(evicted=False, refusal=_refusal_text(doc))
        raise status_error(response.status_code, doc, request=what)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        with kube_errors(self.server, f"delete {kind} {name}"):
            res: Any = codecs.resource_registry.load(api_version, kind)
            if issubclass(res, NamespacedResource):
                self._kube.delete(res, name, namespace=namespace or "default")
            else:
                self._kube.delete(res, name)


@dataclass(frozen=True)
class Eviction:
    """The answer to one eviction: done, refused (and why), or the pod was already gone."""

    evicted: bool
    gone: bool = False
    refusal: str = ""


def _refusal_text(doc: Any) -> str:
    """A 429's message with its causes (the budget and its counts, as the API server says)."""
    status: dict[str, Any] = doc if isinstance(doc, dict) else {}
    details = status.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    texts = [
        str(c.get("message")) for c in causes or [] if isinstance(c, dict) and c.get("message")
    ]
    message = str(status.get("message") or "too many requests")
    return trim(" ".join([message, *texts]))


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item.to_dict() for item in items]


VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation")


def _change(before: dict[str, Any] | None, after: dict[str, Any]) -> Change:
    """created, or whether the apply changed anything but bookkeeping.

    A real API server does not write a no-op apply (resourceVersion stays); comparing the
    content without resourceVersion, managedFields (their timestamps) and status is equally
    right there, and right with servers that record every apply.
    """
    if before is None:
        return "created"
    return "unchanged" if _content(before) == _content(after) else "configured"


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in VOLATILE_METADATA}
    return {k: v for k, v in obj.items() if k != "status"} | {"metadata": meta}
