"""Field ownership (``metadata.managedFields``) and server-side apply.

A field set is a set of paths (tuples of map keys). Maps are granular, lists are atomic (the
simulator does not model associative-list merge keys: a list is owned whole). Paths are stored
as ``FieldsV1`` (``{"f:spec": {"f:replicas": {}}}``), as the API server stores them.

``apply_object`` is server-side apply: the applied configuration is merged into the live object;
fields owned by another manager with a different value are conflicts (409) unless ``force``,
which takes them over; fields the same manager applied before and no longer applies are removed
unless someone else owns them. ``record_update`` gives the fields a PUT/PATCH/POST changed to
its manager and takes them from the others (an update never conflicts).
"""

from __future__ import annotations

from typing import Any

from homelab_sim.kube.resources import ResourceType
from homelab_sim.kube.status import apply_conflict
from homelab_sim.kube.store import clone

Obj = dict[str, Any]
Path = tuple[str, ...]
_SYSTEM_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
}
_MISSING = object()


def leaf_paths(obj: Obj, rt: ResourceType) -> set[Path]:
    """The field paths ``obj`` sets, minus what the server owns (identity, system metadata,
    and status for kinds with a status subresource)."""
    paths: set[Path] = set()
    for top, value in obj.items():
        if top in ("apiVersion", "kind") or (top == "status" and rt.has_status):
            continue
        if top == "metadata" and isinstance(value, dict):
            for key, sub in value.items():
                if key not in _SYSTEM_META:
                    _collect(sub, ("metadata", key), paths)
            continue
        _collect(value, (top,), paths)
    return paths


def _collect(value: Any, path: Path, out: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            _collect(sub, (*path, str(key)), out)
    else:
        out.add(path)


def get_at(obj: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _MISSING
        obj = obj[key]
    return obj


def delete_at(obj: Obj, path: Path) -> None:
    parent: Any = get_at(obj, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def merge_into(live: Obj, applied: Obj) -> None:
    """Deep-merge maps of ``applied`` into ``live``; anything else replaces."""
    for key, value in applied.items():
        if isinstance(value, dict) and isinstance(live.get(key), dict) and value:
            merge_into(live[key], value)
        else:
            live[key] = clone(value)


def to_fields_v1(paths: set[Path]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


def from_fields_v1(tree: Obj, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for key, sub in tree.items():
        if key == ".":
            paths.add(prefix)
        elif key.startswith("f:"):
            path = (*prefix, key[2:])
            if isinstance(sub, dict) and sub:
                paths |= from_fields_v1(sub, path)
            else:
                paths.add(path)
    return paths


def _overlaps(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _dotted(path: Path) -> str:
    return "." + ".".join(path)


class Entry:
    """One managedFields entry: a manager, its operation, and the paths it owns."""

    def __init__(self, raw: Obj) -> None:
        self.manager = str(raw.get("manager", ""))
        self.operation = str(raw.get("operation", "Update"))
        self.api_version = str(raw.get("apiVersion", "v1"))
        self.time = str(raw.get("time", ""))
        self.subresource = str(raw.get("subresource", ""))
        self.paths = from_fields_v1(raw.get("fieldsV1") or {})

    def same(self, manager: str, operation: str, subresource: str) -> bool:
        return (self.manager, self.operation, self.subresource) == (manager, operation, subresource)

    def to_dict(self) -> Obj:
        raw: Obj = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(self.paths),
        }
        if self.subresource:
            raw["subresource"] = self.subresource
        return raw


def _entries(obj: Obj | None) -> list[Entry]:
    if obj is None:
        return []
    return [Entry(raw) for raw in obj.get("metadata", {}).get("managedFields") or []]


def _own(
    entries: list[Entry],
    manager: str,
    operation: str,
    api_version: str,
    now: str,
    subresource: str = "",
) -> Entry:
    for entry in entries:
        if entry.same(manager, operation, subresource):
            entry.api_version, entry.time = api_version, now
            return entry
    entry = Entry(
        {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": now,
            "subresource": subresource,
        }
    )
    entries.append(entry)
    return entry


def _store(obj: Obj, entries: list[Entry]) -> None:
    kept = [e.to_dict() for e in entries if e.paths]
    obj.setdefault("metadata", {})["managedFields"] = kept


def apply_object(
    rt: ResourceType,
    live: Obj | None,
    applied: Obj,
    *,
    manager: str,
    force: bool,
    now: str,
) -> Obj:
    """The object after server-side applying ``applied`` as ``manager`` (not yet stored)."""
    wanted = leaf_paths(applied, rt)
    entries = _entries(live)
    result: Obj = clone(live) if live is not None else {"metadata": {}}
    name = str(applied.get("metadata", {}).get("name", ""))
    _settle_conflicts(rt, name, entries, manager, wanted, live, applied, force)
    mine = next((e for e in entries if e.same(manager, "Apply", "")), None)
    if mine is not None:
        others = [p for e in entries if e is not mine for p in e.paths]
        for path in mine.paths:
            dropped = not any(_overlaps(path, w) for w in wanted)
            if dropped and not any(_overlaps(path, o) for o in others):
                delete_at(result, path)
    body = {k: v for k, v in applied.items() if not (k == "status" and rt.has_status)}
    merge_into(result, body)
    before = {(e.manager, e.operation, e.subresource): e.paths for e in _entries(live)}
    _own(entries, manager, "Apply", rt.group_version, now).paths = wanted
    after = {(e.manager, e.operation, e.subresource): e.paths for e in entries if e.paths}
    if live is not None and before == after and _without_fields(result) == _without_fields(live):
        return clone(live)  # a no-op apply: not even the managedFields time changes
    _store(result, entries)
    return result


def _without_fields(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def same_but_times(a: Obj, b: Obj) -> bool:
    """Whether two objects differ at most in the times of their managedFields entries."""

    def untimed(obj: Obj) -> list[Obj]:
        entries = obj.get("metadata", {}).get("managedFields") or []
        return [{k: v for k, v in e.items() if k != "time"} for e in entries]

    return _without_fields(a) == _without_fields(b) and untimed(a) == untimed(b)


def _settle_conflicts(
    rt: ResourceType,
    name: str,
    entries: list[Entry],
    manager: str,
    wanted: set[Path],
    live: Obj | None,
    applied: Obj,
    force: bool,
) -> None:
    found: list[tuple[str, str, str]] = []
    for entry in entries:
        if entry.manager == manager:
            continue
        for theirs in sorted(entry.paths):
            for path in wanted:
                if not _overlaps(path, theirs):
                    continue
                if get_at(live, path) == get_at(applied, path):
                    continue
                if force:
                    entry.paths.discard(theirs)
                else:
                    found.append((entry.manager, entry.api_version, _dotted(theirs)))
                break
    if found:
        raise apply_conflict(rt, name, sorted(set(found)))


def record_update(
    rt: ResourceType,
    old: Obj | None,
    new: Obj,
    *,
    manager: str,
    now: str,
    subresource: str = "",
) -> None:
    """Give the fields that changed from ``old`` to ``new`` to ``manager`` (in place)."""
    entries = _entries(old)
    paths = _status_paths if subresource == "status" else (lambda obj: leaf_paths(obj, rt))
    before = paths(old) if old is not None else set()
    after = paths(new)
    changed = {p for p in after if old is None or get_at(old, p) != get_at(new, p)}
    gone = before - after
    for entry in entries:
        entry.paths = {p for p in entry.paths if not any(_overlaps(p, c) for c in changed | gone)}
    if changed:
        mine = _own(entries, manager, "Update", rt.group_version, now, subresource)
        mine.paths |= changed
    _store(new, entries)


def _status_paths(obj: Obj) -> set[Path]:
    paths: set[Path] = set()
    if "status" in obj:
        _collect(obj["status"], ("status",), paths)
    return paths
