"""Where the repository, its examples and the optional ``../shared`` facts folder are."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
EXAMPLES = REPO / "examples"
DATA = REPO / "tests" / "data"
#: upstream files that ../shared does not have (each folder's SOURCE.md says where from)
UPSTREAM = REPO / "tests" / "upstream"
