"""Dumping rendered documents as YAML: sorted keys, block style, multi-line text as ``|`` blocks.

Every rendered YAML file goes through here, so two renders of the same data give the same
bytes, and certificates, scripts and embedded configs stay readable in a review.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

# libyaml's emitter (CSafeDumper) is about 7x faster than the pure-Python one and, for the
# documents we render, byte-identical to it (tests/render/test_yaml_emitters.py checks this on
# every rendered file), so a machine without libyaml renders the same bytes and digests.
_BASE: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _dumper_class(base: type[yaml.SafeDumper]) -> type[yaml.SafeDumper]:
    """base plus a representer that writes multi-line strings as literal blocks."""
    dumper: type[yaml.SafeDumper] = type(f"Block{base.__name__}", (base,), {})
    dumper.add_representer(str, _represent_str)
    dumper.ignore_aliases = lambda self, data: True  # type: ignore[method-assign]
    return dumper


_Dumper = _dumper_class(_BASE)
PURE_DUMPER = _dumper_class(yaml.SafeDumper)


def dump(doc: Any, *, dumper: type[yaml.SafeDumper] | None = None) -> str:
    """One YAML document."""
    return yaml.dump(
        doc, Dumper=dumper or _Dumper, sort_keys=True, default_flow_style=False, width=100
    )


def dump_all(docs: list[Any], *, dumper: type[yaml.SafeDumper] | None = None) -> str:
    """A YAML stream of documents separated by ``---``."""
    return yaml.dump_all(
        docs,
        Dumper=dumper or _Dumper,
        sort_keys=True,
        default_flow_style=False,
        width=100,
        explicit_start=True,
    )


class PieceCache:
    """Remembers the YAML text of list items and top-level values already dumped.

    A lab's seeds repeat most of their content from VM to VM (packages, node preparation,
    containerd config). A block-style top-level mapping is the concatenation of its entries, and
    a top-level list the concatenation of its items, so those pieces are dumped once and joined.
    The golden tests check that the joined text is byte for byte what one dump would give.
    """

    def __init__(self) -> None:
        self._pieces: dict[str, str] = {}

    def dump_mapping(self, doc: dict[str, Any]) -> str:
        return "".join(self._entry(key, doc[key]) for key in sorted(doc))

    def _entry(self, key: str, value: Any) -> str:
        if isinstance(value, list) and value:
            return f"{key}:\n" + "".join(self._piece(item) for item in value)
        return self._piece({key: value}, whole=True)

    def _piece(self, item: Any, *, whole: bool = False) -> str:
        cache_key = json.dumps(item, sort_keys=True, default=str)
        text = self._pieces.get(cache_key)
        if text is None:
            text = dump(item if whole else [item])
            self._pieces[cache_key] = text
        return text
