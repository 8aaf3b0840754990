"""YAML reading for the guests: libyaml's C loader when PyYAML has it (a lab's user-data is
parsed at every boot; the pure-Python loader costs ~0.4 s per node), the safe loader always."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YAMLError = yaml.YAMLError


def load(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (C or Python)


def load_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=_LOADER))
