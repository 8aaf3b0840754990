"""The object store of one simulated cluster: what etcd holds behind the API server.

Objects are plain dicts keyed by (group, resource, namespace, name); cluster-scoped objects
have namespace ``""``. The store owns the bookkeeping the API server does on every write:
``resourceVersion`` (one counter per cluster, as etcd's revision), ``uid``,
``creationTimestamp`` from the virtual clock, and ``generation`` (bumped when anything but
metadata and status changes). It does no validation and no authorisation (``api.py`` does).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import yaml

from homelab_sim.kube.resources import ResourceType

T = TypeVar("T")
# libyaml when PyYAML has it: several times faster than the pure-Python loader and emitter
YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YAML_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # group, resource, namespace, name
Event = tuple[int, str, Key, Obj]  # revision, ADDED|MODIFIED|DELETED, key, object (a copy)
HISTORY = 1000  # events kept for watches (etcd compacts too: older start points get 410)


def to_yaml(data: Any) -> str:
    text: str = yaml.dump(data, Dumper=YAML_DUMPER, sort_keys=False, default_flow_style=False)
    return text


def clone(obj: T) -> T:
    """A deep copy of JSON-shaped data (several times faster than ``copy.deepcopy``)."""
    copied: T = json.loads(json.dumps(obj))
    return copied


def key_of(rt: ResourceType, namespace: str, name: str) -> Key:
    return (rt.group, rt.name, namespace if rt.namespaced else "", name)


def timestamp(epoch: float) -> str:
    """RFC 3339 in UTC with seconds, as metav1.Time serialises."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _generation_part(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class ObjectStore:
    """Objects of one cluster, with resourceVersion/uid/generation bookkeeping."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._objects: dict[Key, Obj] = {}
        self.revision = 1
        self._events: deque[Event] = deque(maxlen=HISTORY)
        self._changed = threading.Condition()
        self.watch_epoch = 0  # bumped when the serving API stops: open watches end

    def events_since(self, revision: int) -> list[Event] | None:
        """Events after ``revision``; None when that start point is older than the history."""
        with self._changed:
            if revision < self.revision and (not self._events or self._events[0][0] > revision + 1):
                return None
            return [e for e in self._events if e[0] > revision]

    def wait_change(self, revision: int, timeout: float, epoch: int | None = None) -> None:
        """Block (no polling) until the revision passes ``revision``, ``timeout`` seconds pass,
        or the watches of ``epoch`` are released."""
        with self._changed:
            self._changed.wait_for(
                lambda: (
                    self.revision > revision or (epoch is not None and epoch != self.watch_epoch)
                ),
                timeout,
            )

    def release_watchers(self) -> None:
        """End every open watch (the API server stops: its streams close, as a real one's do)."""
        with self._changed:
            self.watch_epoch += 1
            self._changed.notify_all()

    def _record(self, kind: str, key: Key, obj: Obj) -> None:
        with self._changed:
            self._events.append((self.revision, kind, key, clone(obj)))
            self._changed.notify_all()

    def get(self, key: Key) -> Obj | None:
        return self._objects.get(key)

    def items(self, group: str, resource: str, namespace: str | None = None) -> list[Obj]:
        """Objects of one resource, all namespaces when ``namespace`` is None, sorted by key."""
        keys = sorted(
            k
            for k in self._objects
            if k[0] == group and k[1] == resource and (namespace is None or k[2] == namespace)
        )
        return [self._objects[k] for k in keys]

    def keys(self) -> Iterator[Key]:
        return iter(list(self._objects))

    def create(self, rt: ResourceType, obj: Obj) -> Obj:
        """Store a new object (caller checked it does not exist); fills system metadata."""
        meta = obj.setdefault("metadata", {})
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = timestamp(self._now())
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        obj["apiVersion"], obj["kind"] = rt.group_version, rt.kind
        return self._put(rt, obj)

    def update(self, rt: ResourceType, obj: Obj) -> Obj:
        """Replace an existing object; keeps uid/creationTimestamp, bumps generation on spec."""
        meta = obj.setdefault("metadata", {})
        key = key_of(rt, meta.get("namespace", ""), meta["name"])
        old = self._objects[key]
        for field in ("uid", "creationTimestamp", "resourceVersion"):
            meta[field] = old["metadata"][field]
        generation = int(old["metadata"].get("generation", 1))
        if _generation_part(old) != _generation_part(obj):
            generation += 1
        meta["generation"] = generation
        obj["apiVersion"], obj["kind"] = rt.group_version, rt.kind
        if obj == old:
            return old
        return self._put(rt, obj)

    def delete(self, key: Key) -> Obj | None:
        obj = self._objects.pop(key, None)
        if obj is not None:
            self.revision += 1
            gone = clone(obj)
            gone["metadata"]["resourceVersion"] = str(self.revision)
            self._record("DELETED", key, gone)
        return obj

    def _put(self, rt: ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        if not rt.namespaced:
            meta.pop("namespace", None)
        self.revision += 1
        meta["resourceVersion"] = str(self.revision)
        key = key_of(rt, meta.get("namespace", ""), meta["name"])
        kind = "MODIFIED" if key in self._objects else "ADDED"
        self._objects[key] = obj
        self._record(kind, key, obj)
        return obj

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "objects": [[list(k), clone(v)] for k, v in sorted(self._objects.items())],
        }

    def load(self, data: dict[str, Any]) -> None:
        self.revision = int(data.get("revision", 1))
        self._objects = {
            (str(k[0]), str(k[1]), str(k[2]), str(k[3])): v for k, v in data.get("objects", [])
        }
