from __future__ import annotations

import codecs

import pytest
import yaml

from homelab.core.spec.load import FAST_LOADER, MAX_NODES, MAX_SPEC_BYTES, Position, load_text
from tests.spec.helpers import example_text


def only_error(content: str | bytes) -> tuple[int, int, str]:
    loaded = load_text(content, "lab.yaml")
    assert len(loaded.findings) == 1, loaded.findings
    finding = loaded.findings[0]
    assert finding.severity == "error"
    return finding.line, finding.col, finding.message


def test_positions_of_keys_values_and_list_items() -> None:
    loaded = load_text("a:\n  b: 1\n  c: [x, y]\nd: {e: 2}\n", "s")
    assert loaded.findings == []
    assert loaded.data == {"a": {"b": 1, "c": ["x", "y"]}, "d": {"e": 2}}
    index = loaded.index
    assert index.keys[("a",)] == Position(1, 1)
    assert index.values[("a", "b")] == Position(2, 6)
    assert index.values[("a", "c", 1)] == Position(3, 10)
    assert index.keys[("d", "e")] == Position(4, 5)
    assert index.raw[("d", "e")] == "2"


def test_locate_falls_back_to_the_nearest_ancestor() -> None:
    index = load_text("a:\n  b: 1\n", "s").index
    assert index.locate(("a", "b", "missing")) == Position(2, 6)
    assert index.locate(("a", "nothing")) == Position(1, 1)
    assert index.locate(("a", "b"), on_key=True) == Position(2, 3)
    assert index.locate(("zzz",)) == Position(1, 1)


def test_scalars_are_typed_as_yaml_1_1_safe_load_types_them() -> None:
    loaded = load_text("a: 1.30\nb: yes\nc: ~\nd: '1.30'\ne: 0x10\n", "s")
    assert loaded.data == {"a": 1.3, "b": True, "c": None, "d": "1.30", "e": 16}


@pytest.mark.parametrize(
    ("content", "line", "col", "fragment"),
    [
        ("", 1, 1, "the file is empty"),
        ("# only a comment\n", 1, 1, "the file is empty"),
        ("- a\n- b\n", 1, 1, "not a list"),
        ("just text\n", 1, 1, "not a single value (str)"),
        ("a: [1, 2\n", 2, 1, "YAML syntax error"),
        ("a: 1\n b: 2\n", 2, 3, "YAML syntax error: mapping values are not allowed"),
        ("a: 1\n---\nb: 2\n", 2, 1, "more than one YAML document"),
        (b"\x7fELF\x02\x01\x01\x00\x00", 1, 1, "binary content"),
        ("a: \x00", 1, 1, "binary content"),
        (b"a: 1\nb: caf\xe9\n", 2, 7, "not UTF-8 text (byte 0xe9)"),
        ("a: \x07\n", 1, 4, "control character #x0007"),
        ("a: &x [*x]\n", 1, 4, "alias refers to a node that contains it"),
        ("[" * 200 + "]" * 200, 1, 66, "nesting deeper than 64 levels"),
    ],
)
def test_text_that_is_not_a_mapping_is_one_error(
    content: str | bytes, line: int, col: int, fragment: str
) -> None:
    got_line, got_col, message = only_error(content)
    assert (got_line, got_col) == (line, col)
    assert fragment in message


@pytest.mark.parametrize(
    "content", ["[" * 20000 + "]" * 20000, "".join(" " * i + "a:\n" for i in range(1500))]
)
def test_very_deep_nesting_is_one_error(content: str) -> None:
    _, _, message = only_error(content)
    assert "nesting" in message


def test_a_billion_laughs_stops_at_the_node_budget() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    loaded = load_text("\n".join(lines) + "\n", "s")
    assert loaded.data is None
    assert f"more than {MAX_NODES} values" in loaded.findings[-1].message


def test_too_large_content_is_refused_before_parsing() -> None:
    _, _, message = only_error(b"#" * (MAX_SPEC_BYTES + 1))
    assert "too large" in message


@pytest.mark.parametrize("bom", [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE])
def test_byte_order_marks_are_understood(bom: bytes) -> None:
    codec = {codecs.BOM_UTF8: "utf-8", codecs.BOM_UTF16_LE: "utf-16-le"}.get(bom, "utf-16-be")
    loaded = load_text(bom + "name: café\n".encode(codec), "s")
    assert loaded.findings == []
    assert loaded.data == {"name": "café"}


def test_duplicate_keys_are_errors_at_the_second_key() -> None:
    loaded = load_text("a: 1\nb:\n  c: 1\n  c: 2\n", "s")
    (finding,) = loaded.findings
    assert (finding.line, finding.col, finding.dotted) == (4, 3, "b.c")
    assert "duplicate key 'c' (first at line 3)" in finding.message
    assert loaded.data == {"a": 1, "b": {"c": 2}}


@pytest.mark.parametrize(
    ("key", "kind"), [("yes", "a boolean"), ("10", "a number"), ("~", "null"), ("1.5", "a number")]
)
def test_keys_that_yaml_reads_as_non_text_must_be_quoted(key: str, kind: str) -> None:
    loaded = load_text(f"nets:\n  {key}: 1\n", "s")
    (finding,) = loaded.findings
    assert finding.path == ("nets", key)
    assert (finding.line, finding.col) == (2, 3)
    assert f"reads as {kind}" in finding.message and "quote it" in finding.message
    assert loaded.data == {"nets": {key: 1}}


def test_merge_keys_fill_in_defaults_with_their_own_positions() -> None:
    text = "d: &d {cores: 2, memory: 4GiB}\nvm:\n  <<: *d\n  cores: 4\n"
    loaded = load_text(text, "s")
    assert loaded.findings == []
    assert loaded.data is not None
    assert loaded.data["vm"] == {"cores": 4, "memory": "4GiB"}
    assert loaded.index.locate(("vm", "memory")) == Position(1, 26)
    assert loaded.index.locate(("vm", "cores")) == Position(4, 10)


def test_nested_and_cyclic_merges() -> None:
    text = (
        "a: &a {x: 1, y: 1}\n"
        "b: &b {<<: *a, y: 2, z: 2}\n"
        "c: {<<: [*b, *a], z: 3}\n"
        "d: &d {<<: *d, w: 1}\n"
    )
    loaded = load_text(text, "s")
    assert loaded.findings == []
    assert loaded.data is not None
    assert loaded.data["c"] == {"x": 1, "y": 2, "z": 3}
    assert loaded.data["d"] == {"w": 1}


def test_exploding_merges_stop() -> None:
    lines = ["m0: &m0 {k: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}" for i in range(1, 8)]
    loaded = load_text("\n".join(lines) + "\n", "s")
    assert loaded.data is None
    assert "expand to more than" in loaded.findings[-1].message


def test_merge_of_a_scalar_is_an_error() -> None:
    loaded = load_text("a: &a 1\nb:\n  <<: *a\n", "s")
    assert [f.message for f in loaded.findings] == ["'<<' merges mappings only (<<: *anchor)"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("a: !!python/object:os.system x\n", "cannot read this value"),
        ("a: 2024-13-45\n", "cannot read this value (month must be in 1..12)"),
        ("a: !custom {b: 1}\n", "unsupported tag !custom"),
        ("? [a, b]\n: 1\n", "a key must be plain text"),
    ],
)
def test_values_yaml_cannot_type_are_errors_not_exceptions(content: str, fragment: str) -> None:
    loaded = load_text(content, "s")
    assert any(fragment in finding.message for finding in loaded.findings), loaded.findings


@pytest.mark.parametrize("content", ["a: 1\n b: 2\n", "a: &x [*x]\n", "a: 1\na: 2\n", "- 1\n"])
def test_the_pure_python_loader_reports_like_libyaml(content: str) -> None:
    fast = load_text(content, "s", loader_class=FAST_LOADER).findings
    pure = load_text(content, "s", loader_class=yaml.SafeLoader).findings
    assert [(f.line, f.col, f.path) for f in pure] == [(f.line, f.col, f.path) for f in fast]


def test_the_pure_python_loader_gives_the_same_data_and_positions() -> None:
    fast = load_text(example_text("ha-lab"), "s", loader_class=FAST_LOADER)
    pure = load_text(example_text("ha-lab"), "s", loader_class=yaml.SafeLoader)
    assert pure.data == fast.data and pure.findings == fast.findings == []
    assert pure.index == fast.index


def test_the_pure_python_loader_survives_deep_nesting() -> None:
    # deep enough for the pure composer to hit Python's recursion limit
    (finding,) = load_text("[" * 700 + "]" * 700, "s", loader_class=yaml.SafeLoader).findings
    assert (finding.line, finding.col) == (1, 1)
    assert "nesting deeper than" in finding.message
