"""Dumping rendered documents as YAML: sorted keys, block style, multi-line text as ``|`` blocks.

Every rendered YAML file goes through here, so two renders of the same data give the same
bytes, and certificates, scripts and embedded configs stay readable in a review.
"""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(doc: Any) -> str:
    """One YAML document."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100)


def dump_all(docs: list[Any]) -> str:
    """A YAML stream of documents separated by ``---``."""
    return yaml.dump_all(
        docs,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        width=100,
        explicit_start=True,
    )
