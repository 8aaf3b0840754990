"""`homelab patch` of the simulated reference lab (3 nodes, --reboot auto): wall and virtual
seconds of the whole run and per node (drain, dist-upgrade, reboot, Ready, uncordon).

    .venv/bin/python benchmarks/patch.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.up.simlab import copy_example, upped  # noqa: E402

from homelab.engine.apply.progress import ProgressEvent  # noqa: E402
from homelab.engine.apply.runtime import Limits  # noqa: E402
from homelab.verbs.patch import outcome_text, patch_lab  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = copy_example("home-lab.yaml", Path(tmp))
        with upped(spec) as lab:
            clock = lab.conn.clock
            starts: dict[str, float] = {}
            spans: dict[str, float] = {}

            def progress(event: ProgressEvent) -> None:
                if event.phase == "patch plan" and event.status == "running":
                    starts[event.vm] = clock.monotonic()
                if event.phase == "ready" and event.status == "done":
                    spans[event.vm] = clock.monotonic() - starts[event.vm]

            wall, virtual = time.perf_counter(), clock.monotonic()
            outcome = patch_lab(
                lab.conn,
                lab.ctx,
                only=[],
                reboot="auto",
                confirm=lambda _t: True,
                progress=progress,
                limits=Limits(poll=0.5),
            )
            wall, virtual = time.perf_counter() - wall, clock.monotonic() - virtual
    print(outcome_text(outcome))
    print(f"patch of {len(outcome.nodes)} nodes: {wall:.1f} s wall, {virtual:.0f} s virtual")
    for vm, seconds in spans.items():
        print(f"  {vm}: {seconds:.0f} s virtual from plan to Ready")


if __name__ == "__main__":
    main()
