"""`homelab version`."""

from __future__ import annotations

from homelab import __version__
from homelab.cli.app import app
from homelab.cli.output import out


@app.command()
def version() -> None:
    """Print the version of homelab."""
    out.print(f"homelab {__version__}", markup=False)
