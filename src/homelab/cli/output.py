"""Consoles and the one way errors are shown."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape

from homelab.errors import LabError

out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def show_error(exc: LabError) -> None:
    """One red line, then the hint if there is one. Never a traceback.

    Messages can quote a spec or a server: their control characters are escaped and their
    brackets are not read as markup.
    """
    from homelab.core.spec.printable import printable  # only when there is an error to show

    message = escape(printable(exc.message))
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"  hint: {printable(exc.hint)}", markup=False)


def is_terminal() -> bool:
    return sys.stdout.isatty()
