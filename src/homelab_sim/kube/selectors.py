"""Label and field selectors, as the API server parses and matches them.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``,
comma-separated (all must match). Field selectors: ``path=value``, ``path==value``,
``path!=value`` on dotted paths such as ``metadata.name``, ``metadata.namespace``,
``spec.nodeName``, ``status.phase``. ``match_label_selector`` also matches the structured
``LabelSelector`` objects of workloads, Services and PodDisruptionBudgets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from homelab_sim.kube.status import ApiError, bad_request

Labels = dict[str, str]
Predicate = Callable[[dict[str, Any]], bool]
_SET = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p.strip()]


def _label_requirement(text: str) -> Callable[[Labels], bool]:
    eq = _EQ.match(text)
    if eq:
        key, op, value = eq.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    match = _SET.match(text)
    if not match:
        raise bad_request(f"unable to parse requirement: found '{text.strip()}'")
    negated, key, op, values = match.groups()
    if op:
        if negated:
            raise bad_request(f"unable to parse requirement: found '{text.strip()}'")
        wanted = {v.strip() for v in values.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in wanted
        return lambda labels: labels.get(key) not in wanted
    if negated:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def parse_label_selector(selector: str) -> Predicate:
    """A predicate on objects from a ``labelSelector`` query parameter."""
    try:
        requirements = [_label_requirement(part) for part in _split(selector)]
    except ApiError:
        raise
    return lambda obj: all(req(_labels(obj)) for req in requirements)


def _labels(obj: dict[str, Any]) -> Labels:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_field_selector(selector: str) -> Predicate:
    """A predicate on objects from a ``fieldSelector`` query parameter."""
    requirements: list[tuple[str, bool, str]] = []
    for part in _split(selector):
        match = _EQ.match(part)
        if not match:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{part}'")
        path, op, value = match.groups()
        requirements.append((path, op != "!=", value))
    return lambda obj: all((_field_value(obj, p) == v) == eq for p, eq, v in requirements)


def match_label_selector(selector: dict[str, Any] | None, labels: Labels) -> bool:
    """Whether ``labels`` match a structured LabelSelector (matchLabels + matchExpressions).
    An empty or missing selector matches everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or [])
        present = key in labels
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and present and labels.get(key) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def match_service_selector(selector: dict[str, str] | None, labels: Labels) -> bool:
    """A Service's plain map selector; an empty one selects nothing (manual endpoints)."""
    if not selector:
        return False
    return all(labels.get(k) == v for k, v in selector.items())
