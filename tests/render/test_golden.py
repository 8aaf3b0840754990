"""Golden files: the rendered reference and HA labs, byte for byte.

HOMELAB_UPDATE_GOLDEN=1 rewrites them (then review the diff before committing).
"""

from __future__ import annotations

import pytest

from homelab.core.render.artifacts import Artifacts
from tests.render.support import GOLDEN, LABS, rendered_files
from tests.support.golden import updating

UPDATE = updating()


@pytest.mark.parametrize("lab", LABS)
def test_rendered_files_match_goldens(lab: str, rendered: dict[str, Artifacts]) -> None:
    files = rendered_files(rendered[lab])
    root = GOLDEN / lab
    if UPDATE:
        for stale in [p for p in root.rglob("*") if p.is_file()]:
            stale.unlink()
        for rel, content in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(content)
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk == set(files), "golden file set differs; HOMELAB_UPDATE_GOLDEN=1 to rewrite"
    for rel, content in sorted(files.items()):
        assert (root / rel).read_bytes() == content, f"{lab}/{rel} differs from its golden"
