"""Property: whatever is done to the example spec, validation returns positioned findings."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from homelab.core.spec.validate import ValidationResult, validate_text
from tests.spec.helpers import example_text

EXAMPLE_TEXT = example_text()
EXAMPLE = yaml.safe_load(EXAMPLE_TEXT)

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def containers(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a dict or list inside ``data``."""
    found = [path]
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        if isinstance(value, dict | list) and value:
            found.extend(containers(value, (*path, key)))
    return found


def resolve(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated_documents(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.sampled_from(["data", "data", "data", "text", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "text":
        cut = draw(st.integers(0, len(EXAMPLE_TEXT)))
        insert = draw(st.text(max_size=10))
        return EXAMPLE_TEXT[:cut] + insert + EXAMPLE_TEXT[cut + draw(st.integers(0, 5)) :]
    data = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 4))):
        mutate_once(draw, data)
    return yaml.safe_dump(data, sort_keys=False)


def mutate_once(draw: st.DrawFn, data: dict[str, Any]) -> None:
    target = resolve(data, draw(st.sampled_from(containers(data))))
    keys = list(target) if isinstance(target, dict) else list(range(len(target)))
    if not keys:
        return
    key = draw(st.sampled_from(keys))
    action = draw(st.sampled_from(["delete", "replace", "insert", "swap"]))
    if action == "delete":
        del target[key]
    elif action == "replace":
        target[key] = draw(junk)
    elif action == "insert" and isinstance(target, dict):
        target[draw(st.text(min_size=1, max_size=10))] = draw(junk)
    elif action == "swap":
        other = draw(st.sampled_from(keys))
        target[key], target[other] = target[other], target[key]


def assert_well_formed(result: ValidationResult, lines: int) -> None:
    assert isinstance(result, ValidationResult)
    for finding in result.findings:
        assert 1 <= finding.line <= max(lines, 1) + 1
        assert finding.col >= 1
        assert finding.message
        assert finding.format("s.yaml").startswith(f"s.yaml:{finding.line}:{finding.col}: ")
    errors = [f for f in result.findings if f.is_error]
    assert (result.spec is None) == bool(errors)


@settings(max_examples=200, deadline=None)
@given(mutated_documents())
def test_validate_never_raises_and_always_places_findings(document: str | bytes) -> None:
    result = validate_text(document, "s.yaml")
    text = document if isinstance(document, str) else document.decode("utf-8", "replace")
    assert_well_formed(result, len(text.splitlines()) + 1)
