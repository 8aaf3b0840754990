"""Crash safety: an apply (or destroy) killed with SIGKILL at random moments, then rerun.

The simulator runs in this process over HTTPS; the apply runs in a child process that is killed
after a random number of progress events (plus a random few milliseconds), i.e. in the middle of
a clone, a config update, an upload, a resize... The rerun must converge: no duplicate VMs, no
orphaned VMs or seed ISOs, no VMID left half-used, an empty journal.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from homelab.verbs.connection import Connection
from homelab.verbs.provision import apply_lab, destroy_lab
from tests.apply.support import (
    FAST,
    Lab,
    assert_converged,
    guests,
    iso_volids,
    new_sim,
    over_https,
    yes,
)
from tests.support.paths import REPO

CHILD = Path(__file__).with_name("crash_child.py")
SCALE = 100.0
ROUNDS = 8


def run_and_kill(conn: Connection, lab: Lab, verb: str, events: int, delay: float) -> bool:
    """Start the child, kill it after ``events`` progress lines and ``delay`` seconds; True if it
    finished before it could be killed."""
    settings = conn.client.settings
    env = {
        **os.environ,
        "CRASH_ENDPOINT": settings.endpoint,
        "CRASH_TOKEN": f"{settings.token_id}={settings.token_secret.reveal()}",
        "CRASH_FINGERPRINT": settings.fingerprint or "",
        "PYTHONPATH": str(REPO / "src"),
    }
    child = subprocess.Popen(
        [sys.executable, str(CHILD), verb, str(lab.path), str(SCALE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    seen, finished = -1, False  # READY comes first
    while seen < events:
        line = child.stdout.readline()
        if not line or line.startswith("DONE"):
            finished = True
            break
        seen += 1
    time.sleep(delay)
    child.kill()
    child.wait(timeout=30)
    child.stdout.close()
    return finished


def rerun(conn: Connection, lab: Lab, verb: str) -> None:
    if verb == "apply":
        outcome = apply_lab(conn, lab.ctx, confirm=yes, limits=FAST)
        assert outcome.report is None or outcome.report.ok, outcome.report
    else:
        result = destroy_lab(conn, lab.ctx, confirm=yes, limits=FAST)
        assert result.report is None or result.report.ok, result.report


def test_killed_runs_converge_when_rerun(lab: Lab) -> None:
    rng = random.Random(20261127)
    sim = new_sim(scale=SCALE)
    with over_https(sim) as conn:
        killed = 0
        for round_ in range(ROUNDS):
            verb = "apply" if round_ % 3 != 2 else "destroy"
            if verb == "destroy" and not guests(sim):
                rerun(conn, lab, "apply")  # a destroy round starts from the whole lab
            if verb == "apply" and guests(sim):
                rerun(conn, lab, "destroy")  # an apply round starts from nothing
            events = rng.randint(0, 30) if verb == "apply" else rng.randint(0, 5)
            killed += not run_and_kill(conn, lab, verb, events, rng.uniform(0, 0.03))
            rerun(conn, lab, verb)
            if verb == "apply":
                assert_converged(sim, lab.ctx, conn)
            else:
                assert guests(sim) == []
                assert iso_volids(sim) == set()
                assert lab.ctx.store.intents(lab.ctx.lab).all() == {}
        assert killed >= ROUNDS // 2  # most runs really were killed half-way
