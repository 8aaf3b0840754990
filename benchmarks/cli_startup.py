"""Start-up time of the command line, command by command, against a bare interpreter.

Run: .venv/bin/python benchmarks/cli_startup.py [--runs N]
Each command runs once to warm the caches (byte code, the lab's PKI for ``render``), then
``--runs`` times (default 7); the median wall time of each is printed with its ratio to
``python -c pass`` and the aim of issue 8 where there is one (judged on the wall time), and the
median CPU time (user + system) of the child, which other load on the machine inflates less
than the wall time. The commands run in a temporary
directory holding a copy of the reference lab, so ``render`` writes its state store there, and
with ``HOMELAB_STATE_URL`` removed from the environment.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "home-lab.yaml"

# (label, arguments after the interpreter, aim in seconds or None)
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("python -c pass", ["-c", "pass"], None),
    ("homelab --help", ["-m", "homelab", "--help"], 0.3),
    ("homelab version", ["-m", "homelab", "version"], 0.3),
    ("homelab validate home-lab.yaml", ["-m", "homelab", "validate", "home-lab.yaml"], 0.5),
    ("homelab schema", ["-m", "homelab", "schema"], None),
    (
        "homelab render home-lab.yaml --out out",
        ["-m", "homelab", "render", "home-lab.yaml", "--out", "out"],
        None,
    ),
]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run."""
    cpu, start = _cpu(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    elapsed, used = time.perf_counter() - start, _cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed, used


def median_of(args: list[str], runs: int, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """The medians of wall and CPU time over ``runs`` runs, after one warm-up run."""
    run_once(args, cwd, env)  # warm-up: byte code, and the PKI that render creates once
    timings = [run_once(args, cwd, env) for _ in range(runs)]
    return statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command")
    runs = max(1, parser.parse_args().runs)
    env = {k: v for k, v in os.environ.items() if k != "HOMELAB_STATE_URL"}
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="homelab-startup-") as tmp:
        cwd = Path(tmp)
        shutil.copy(SPEC, cwd / SPEC.name)
        results: list[tuple[str, tuple[float, float], float | None]] = []
        for label, args, aim in COMMANDS:
            results.append((label, median_of(args, runs, cwd, env), aim))
    bare = results[0][1][0]
    print(f"CLI start-up, median of {runs} runs ({sys.executable}, load {os.getloadavg()[0]:.1f})")
    print(f"{'command':<40} {'wall s':>8} {'x bare':>8} {'CPU s':>8}  aim (wall)")
    for label, (seconds, cpu), aim in results:
        verdict = "" if aim is None else f"< {aim:.1f} s {'ok' if seconds < aim else 'MISSED'}"
        print(f"{label:<40} {seconds:>8.3f} {seconds / bare:>8.1f} {cpu:>8.3f}  {verdict}")


if __name__ == "__main__":
    main()
