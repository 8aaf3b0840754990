"""Watches on list endpoints (``?watch=1``): a chunked stream of watch events.

Each line is ``{"type": "ADDED|MODIFIED|DELETED", "object": ...}`` as the API server sends.
Without ``resourceVersion`` (or ``0``) the stream opens with an ADDED event per current object,
then follows; with one it replays the store's history after it (410 Gone as an ERROR event
when that start point is older than the history kept). ``timeoutSeconds`` ends the stream.
Waiting blocks on the store's condition: an idle watch costs no CPU.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from homelab_sim.kube.selectors import parse_field_selector, parse_label_selector
from homelab_sim.kube.state import ClusterState
from homelab_sim.kube.status import bad_request
from homelab_sim.kube.wire import KubeResponse, Target

Obj = dict[str, Any]
DEFAULT_TIMEOUT = 1800.0
MAX_WAIT = 5.0  # wake at least this often to notice the deadline


@dataclass
class WatchResponse(KubeResponse):
    """A 200 whose body is streamed, one JSON event per chunk."""

    stream: Iterator[bytes] = field(default_factory=lambda: iter(()))


def _line(kind: str, obj: Obj) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _gone(revision: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"too old resource version: {revision}",
        "reason": "Expired",
        "code": 410,
    }


def watch(state: ClusterState, target: Target, query: dict[str, str]) -> WatchResponse:
    rt = target.rt
    matches: list[Callable[[Obj], bool]] = []
    if query.get("labelSelector"):
        matches.append(parse_label_selector(query["labelSelector"]))
    if query.get("fieldSelector"):
        matches.append(parse_field_selector(query["fieldSelector"]))
    namespace = target.namespace if rt.namespaced else ""
    try:
        timeout = float(query.get("timeoutSeconds") or DEFAULT_TIMEOUT)
        start = query.get("resourceVersion", "")
        since = int(start) if start not in ("", "0") else None
    except ValueError as exc:
        raise bad_request(f"invalid watch parameter: {exc}") from exc

    def wanted(key: tuple[str, str, str, str], obj: Obj) -> bool:
        if (key[0], key[1]) != (rt.group, rt.name) or (namespace and key[2] != namespace):
            return False
        return all(m(obj) for m in matches)

    store = state.store
    # the opening list is taken now, under the caller's cluster lock
    opening = (
        []
        if since is not None
        else [
            _line("ADDED", obj)
            for obj in state.items(rt, namespace or None)
            if all(m(obj) for m in matches)
        ]
    )
    first = since if since is not None else store.revision
    deadline = time.monotonic() + max(timeout, 0.0)
    epoch = store.watch_epoch

    def events() -> Iterator[bytes]:
        yield from opening
        revision = first
        while store.watch_epoch == epoch:
            found = store.events_since(revision)
            if found is None:
                yield _line("ERROR", _gone(str(revision)))
                return
            for number, kind, key, obj in found:
                revision = number
                if wanted(key, obj):
                    yield _line(kind, obj)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            store.wait_change(revision, min(left, MAX_WAIT), epoch)

    return WatchResponse(200, b"", stream=events())
