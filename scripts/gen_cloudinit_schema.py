"""Derive the simulator's compact cloud-config schema from cloud-init's official JSON schema.

Usage: python scripts/gen_cloudinit_schema.py [SCHEMA] [--output PATH] [--check]

SCHEMA defaults to ../shared/schemas/cloud-init/24.1.3/schema-cloud-config-v1.json beside the
repository: the cloud-init release Ubuntu 24.04 shipped, which is what a simulated guest runs.
The output (shipped as package data) is the same schema with only what validation needs:
annotation keywords (descriptions, examples, deprecation notes, titles, markdown hints) are
dropped wherever they are keywords, never where they are the names of properties, and the
JSON is minified with sorted keys. `--check` writes nothing and exits 1 when the committed file
differs from what the generator would write.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCHEMA = REPO.parent / "shared" / "schemas" / "cloud-init" / "24.1.3"
DEFAULT_SCHEMA = DEFAULT_SCHEMA / "schema-cloud-config-v1.json"
DEFAULT_OUTPUT = REPO / "src" / "homelab_sim" / "guest" / "cloud_config_schema.json"

ANNOTATIONS = frozenset(
    {
        "description",
        "examples",
        "title",
        "deprecated_description",
        "deprecated_version",
        "changed_description",
        "changed_version",
        "new_description",
        "new_version",
        "markdownDescription",
        "$comment",
    }
)
# keywords whose value maps *names* (of properties or definitions) to schemas
NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})


def compact(node: Any, *, names: bool = False) -> Any:
    """``node`` without annotation keywords; ``names``: node's keys are names, not keywords."""
    if isinstance(node, list):
        return [compact(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if not names and key in ANNOTATIONS:
            continue
        out[key] = compact(value, names=not names and key in NAME_MAPS)
    return out


def render(schema_path: Path) -> str:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    return json.dumps(compact(schema), sort_keys=True, separators=(",", ":")) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("schema", nargs="?", type=Path, default=DEFAULT_SCHEMA)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render(args.schema)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run scripts/gen_cloudinit_schema.py")
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
