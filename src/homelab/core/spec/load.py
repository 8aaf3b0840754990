"""YAML text -> plain Python data plus the source position of every key and value.

Pure: takes text or bytes and a source name, never opens files. Parsing goes through PyYAML's
composer (SafeLoader nodes), so every node keeps its line and column; scalars are typed as
``yaml.safe_load`` would type them (YAML 1.1). Anything wrong with the text itself (binary
content, bad encoding, syntax errors, duplicate keys, non-text keys, unknown tags, recursive or
exploding aliases, a top level that is not a mapping) becomes an error ``Finding``, never an
exception. A spec holds text, numbers, booleans, null, lists and mappings only: a value YAML
would make into anything else (``!!binary`` bytes, a date or timestamp, a ``!!set`` or
``!!omap``, a ``!!python/...`` object) is refused where it is written. Merge keys
(``<<: *defaults``) are honoured; merged values keep the position where they were written.
"""

from __future__ import annotations

import codecs
import datetime
from dataclasses import dataclass, field
from typing import Any

import yaml

from homelab.core.spec.findings import Finding, SpecPath

MAX_SPEC_BYTES = 4 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64

# libyaml composes ~3x faster and caps nesting itself; marks and types are the same.
FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_TOP_KEYS = "name, proxmox, networks, kubernetes and vms"
_KINDS: dict[type, str] = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}
PLAIN_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in the source text."""

    line: int
    col: int


START = Position(1, 1)


@dataclass
class PositionIndex:
    """Where each path was written: keys of mapping entries, scalar values and list items."""

    keys: dict[SpecPath, Position] = field(default_factory=dict)
    values: dict[SpecPath, Position] = field(default_factory=dict)
    raw: dict[SpecPath, str] = field(default_factory=dict)

    def locate(self, path: SpecPath, *, on_key: bool = False) -> Position:
        """The position of ``path``, else of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            first, second = (self.keys, self.values) if on_key else (self.values, self.keys)
            found = first.get(prefix) or second.get(prefix)
            if found is not None:
                return found
        return START

    def known(self, path: SpecPath) -> bool:
        return path in self.keys or path in self.values


@dataclass(frozen=True)
class LoadedSpec:
    """The outcome of loading: ``data`` is None when the text is not a usable mapping."""

    source: str
    data: dict[str, Any] | None
    index: PositionIndex
    findings: list[Finding]


class _Abort(Exception):
    """Stops building: the document cannot be turned into data at all."""

    def __init__(self, message: str, position: Position) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def _pos(mark: yaml.Mark | None) -> Position:
    return START if mark is None else Position(mark.line + 1, mark.column + 1)


def _text_position(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset) + 1
    return Position(line, offset - (text.rfind("\n", 0, offset) + 1) + 1)


def _fail(message: str, position: Position = START) -> Finding:
    return Finding("error", (), message, position.line, position.col)


def decode_text(content: str | bytes) -> str | Finding:
    """Bytes or text -> text, or an error finding for binary or non-UTF-8 content."""
    if len(content) > MAX_SPEC_BYTES:
        return _fail(f"the file is too large for a lab spec (over {MAX_SPEC_BYTES} bytes)")
    if isinstance(content, str):
        if "\x00" in content:
            return _fail("binary content (NUL characters): not a YAML text file")
        return content
    for bom, codec in _BOMS:
        if content.startswith(bom):
            try:
                return content.decode(codec)
            except UnicodeDecodeError:
                return _fail(f"the file starts with a {codec} byte-order mark but is not {codec}")
    if b"\x00" in content:
        return _fail("binary content (NUL bytes): not a YAML text file")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        good = content[: exc.start].decode("utf-8-sig", errors="replace")
        where = _text_position(good, len(good))
        return _fail(f"not UTF-8 text (byte 0x{content[exc.start]:02x}); save it as UTF-8", where)


def _syntax_finding(exc: yaml.YAMLError, text: str) -> Finding:
    if isinstance(exc, yaml.reader.ReaderError):
        bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
        where = _text_position(text, bad.start()) if bad else START
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return _fail(f"control character #x{code:04x} is not allowed in YAML text", where)
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or "invalid YAML"
        if exc.context == "expected a single document in the stream":
            message = "more than one YAML document (---); a spec is a single document"
            return _fail(message, _pos(exc.problem_mark))
        context = exc.context or ""
        if exc.context_mark is not None and context:
            context = f"{context} at line {exc.context_mark.line + 1}"
        detail = f" ({context})" if context else ""
        return _fail(f"YAML syntax error: {problem}{detail}", _pos(exc.problem_mark))
    return _fail(f"YAML syntax error: {exc}")


class _Builder:
    """Turns composed nodes into plain data, recording positions and problems as it goes."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.index = PositionIndex()
        self.findings: list[Finding] = []
        self.budget = MAX_NODES
        self.active: set[int] = set()

    def problem(self, path: SpecPath, message: str, mark: yaml.Mark | None) -> None:
        where = _pos(mark)
        self.findings.append(Finding("error", path, message, where.line, where.col))

    def build(self, node: yaml.Node, path: SpecPath) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _Abort(
                f"the document expands to more than {MAX_NODES} values (aliases nested "
                "too deeply?)",
                _pos(node.start_mark),
            )
        if len(path) > MAX_DEPTH:
            raise _Abort(f"nesting deeper than {MAX_DEPTH} levels", _pos(node.start_mark))
        if id(node) in self.active:
            raise _Abort("an alias refers to a node that contains it", _pos(node.start_mark))
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.build_mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return self.build_sequence(node, path)
            return self.build_scalar(node, path)
        finally:
            self.active.discard(id(node))

    def build_scalar(self, node: yaml.Node, path: SpecPath) -> Any:
        self.index.values[path] = _pos(node.start_mark)
        raw = str(node.value)
        self.index.raw[path] = raw
        try:
            value = self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            reason = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else str(exc)
            self.problem(path, f"cannot read this value ({reason})", node.start_mark)
            return None
        if isinstance(value, PLAIN_SCALARS):
            return value
        self.problem(path, _not_plain(value, raw, node.tag), node.start_mark)
        return None

    def build_sequence(self, node: yaml.SequenceNode, path: SpecPath) -> list[Any]:
        if node.tag != _SEQ_TAG:
            self.problem(path, f"unsupported tag {node.tag} on a list", node.start_mark)
        items = []
        for number, item in enumerate(node.value):
            self.index.values[(*path, number)] = _pos(item.start_mark)
            items.append(self.build(item, (*path, number)))
        return items

    def build_mapping(self, node: yaml.MappingNode, path: SpecPath) -> dict[str, Any]:
        if node.tag != _MAP_TAG:
            self.problem(path, f"unsupported tag {node.tag} on a mapping", node.start_mark)
        result: dict[str, Any] = {}
        seen: dict[str, Position] = {}
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self.merge_entries(value_node, path))
                continue
            key = self.build_key(key_node, path)
            if key is None:
                continue
            where = _pos(key_node.start_mark)
            if key in seen:
                first = seen[key]
                self.problem(
                    (*path, key),
                    f"duplicate key {key!r} (first at line {first.line}); YAML would keep "
                    "only the last one",
                    key_node.start_mark,
                )
            seen[key] = where
            self.index.keys[(*path, key)] = where
            result[key] = self.build(value_node, (*path, key))
        return self.apply_merges(result, merged, path)

    def build_key(self, key_node: yaml.Node, path: SpecPath) -> str | None:
        if not isinstance(key_node, yaml.ScalarNode):
            self.problem(
                path, "a key must be plain text, not a list or mapping", key_node.start_mark
            )
            return None
        raw = str(key_node.value)
        try:
            key = self.loader.construct_object(key_node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            key = raw
        if not isinstance(key, str):
            kind = _KINDS.get(type(key), f"a {type(key).__name__}")
            self.problem(
                (*path, raw),
                f"the key {raw!r} reads as {kind} in YAML, not as text; quote it: '{raw}'",
                key_node.start_mark,
            )
        return raw

    def merge_entries(
        self, value_node: yaml.Node, path: SpecPath, outer: frozenset[int] = frozenset()
    ) -> list[tuple[yaml.Node, yaml.Node]]:
        """The entries ``<<`` brings in, nested merges included; earlier entries win."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        entries: list[tuple[yaml.Node, yaml.Node]] = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.problem(path, "'<<' merges mappings only (<<: *anchor)", source.start_mark)
                continue
            if id(source) in outer:
                continue  # a merge cycle brings nothing new
            entries.extend(pair for pair in source.value if pair[0].tag != _MERGE_TAG)
            for key_node, nested in source.value:
                if key_node.tag == _MERGE_TAG:
                    entries.extend(self.merge_entries(nested, path, outer | {id(source)}))
            if len(entries) > MAX_NODES:
                raise _Abort(
                    f"merge keys expand to more than {MAX_NODES} entries", _pos(source.start_mark)
                )
        return entries

    def apply_merges(
        self, result: dict[str, Any], merged: list[tuple[yaml.Node, yaml.Node]], path: SpecPath
    ) -> dict[str, Any]:
        if not merged:
            return result
        defaults: dict[str, Any] = {}
        for key_node, value_node in merged:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(key_node.value)
            if key in result or key in defaults:
                continue
            self.index.keys[(*path, key)] = _pos(key_node.start_mark)
            defaults[key] = self.build(value_node, (*path, key))
        return {**defaults, **result}


def _not_plain(value: object, raw: str, tag: str) -> str:
    """Why a scalar that YAML made into bytes, a date or another object is refused."""
    if isinstance(value, bytes):
        return "!!binary makes bytes; a spec holds text: write the value as plain text"
    if isinstance(value, datetime.date):
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        return f"{shown} reads as a date in YAML; quote it if it is text: '{shown}'"
    return f"unsupported tag {tag}: a spec holds text, numbers, true/false, lists and mappings"


def _compose(
    text: str, loader_class: type[yaml.SafeLoader]
) -> tuple[yaml.SafeLoader, yaml.Node | None]:
    loader = loader_class(text)
    return loader, loader.get_single_node()


def _top_level_finding(data: object, node: yaml.Node) -> Finding | None:
    if isinstance(data, dict):
        return None
    kind = "a list" if isinstance(data, list) else f"a single value ({type(data).__name__})"
    where = _pos(node.start_mark)
    return _fail(f"the top level must be a mapping with {_TOP_KEYS}, not {kind}", where)


def load_text(
    content: str | bytes, source: str, *, loader_class: type[yaml.SafeLoader] = FAST_LOADER
) -> LoadedSpec:
    """Parse a spec's text into data with positions; problems come back as findings.

    ``loader_class`` is libyaml's CSafeLoader when PyYAML has it, else the pure SafeLoader.
    """
    index = PositionIndex()
    text = decode_text(content)
    if isinstance(text, Finding):
        return LoadedSpec(source, None, index, [text])
    try:
        loader, node = _compose(text, loader_class)
    except yaml.YAMLError as exc:
        return LoadedSpec(source, None, index, [_syntax_finding(exc, text)])
    except RecursionError:
        return LoadedSpec(source, None, index, [_fail(f"nesting deeper than {MAX_DEPTH} levels")])
    if node is None:
        message = f"the file is empty; a lab spec is a mapping with {_TOP_KEYS}"
        return LoadedSpec(source, None, index, [_fail(message)])
    builder = _Builder(loader)
    builder.index.values[()] = _pos(node.start_mark)
    try:
        data = builder.build(node, ())
    except _Abort as exc:
        finding = Finding("error", (), exc.message, exc.position.line, exc.position.col)
        return LoadedSpec(source, None, builder.index, [*builder.findings, finding])
    finally:
        loader.dispose()
    top = _top_level_finding(data, node)
    if top is not None:
        return LoadedSpec(source, None, builder.index, [*builder.findings, top])
    return LoadedSpec(source, data, builder.index, builder.findings)


__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_SPEC_BYTES",
    "LoadedSpec",
    "Position",
    "PositionIndex",
    "decode_text",
    "load_text",
]
