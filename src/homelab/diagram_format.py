"""The formats ``homelab diagram`` writes and the file extensions each may have.

Outside the layers (as ``homelab.errors``) so that the command line can offer the choice
without loading the core (``tests/test_cli_startup.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = ["SUFFIXES", "DiagramFormat"]


class DiagramFormat(StrEnum):
    """What ``homelab diagram`` writes."""

    SVG = "svg"
    PNG = "png"
    DOT = "dot"


#: The extensions a file of each format may have (the first is the one suggested).
SUFFIXES: Mapping[DiagramFormat, tuple[str, ...]] = {
    DiagramFormat.SVG: (".svg",),
    DiagramFormat.PNG: (".png",),
    DiagramFormat.DOT: (".dot", ".gv"),
}
