"""Golden cases for the PVE parsers: tests/observe/<endpoint>/<case>.json holds a raw PVE 8
response and the model it must parse to. Set HOMELAB_UPDATE_GOLDEN=1 to rewrite ``expected``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from homelab.core import pve_reply
from tests.support.golden import updating

HERE = Path(__file__).parent
UPDATE = updating()


def dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple):
        return [dump(item) for item in value]
    return value


PARSERS: dict[str, Callable[[Any], Any]] = {
    "cluster_resources": pve_reply.parse_resources,
    "qemu_config": pve_reply.parse_config,
    "storage_content": pve_reply.parse_storage_content,
}
CASES = sorted(HERE.glob("*/*.json"))


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parser_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    actual = dump(PARSERS[path.parent.name](case["response"]))
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, indent=2) + "\n")
    assert actual == case["expected"]


def test_every_endpoint_has_cases() -> None:
    assert {path.parent.name for path in CASES} == set(PARSERS)
