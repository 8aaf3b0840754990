"""Consoles and the one way errors are shown."""

from __future__ import annotations

import sys

from rich.console import Console

from homelab.errors import LabError

out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def show_error(exc: LabError) -> None:
    """One red line, then the hint if there is one. Never a traceback."""
    err.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"  hint: {exc.hint}", markup=False)


def is_terminal() -> bool:
    return sys.stdout.isatty()
