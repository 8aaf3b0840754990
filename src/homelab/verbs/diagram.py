"""`homelab diagram`: the lab's topology drawn by Graphviz, as specified or as observed.

The graph itself is ``homelab.core.diagram``'s (pure). Here: the output format, told by
``--format`` or by the output file's extension (a file whose extension says another format is
refused); the observations, read as ``homelab status`` reads the lab (``lab_status``: the plan's
view of every VM, power state and guest IPs) and handed to the core as plain data; rendering,
which runs Graphviz's ``dot`` through the ``graphviz`` package (DOT source needs no ``dot``); and
writing the file whole, or not at all.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import graphviz

from homelab.core.diagram import VmObservation, diagram_source, vm_state
from homelab.core.spec.models import LabSpec
from homelab.diagram_format import SUFFIXES, DiagramFormat
from homelab.errors import LabError
from homelab.verbs.connection import Connection
from homelab.verbs.lab import LabContext, StatusRow, lab_status

__all__ = [
    "DiagramFormat",
    "check_graphviz",
    "diagram_bytes",
    "observation_of",
    "observe_lab",
    "output_format",
    "render",
    "write_diagram",
]

INSTALL_HINT = (
    "install Graphviz (`apt install graphviz` or `brew install graphviz`), "
    "or write the DOT source with --format dot"
)


def output_format(out: Path, wanted: DiagramFormat | None) -> DiagramFormat:
    """The format to write ``out`` in: ``wanted``, else the one its extension names.

    A file whose extension is not one of the format's is refused: ``lab.png`` written as SVG,
    or ``lab.yaml`` overwritten by a picture, is never what was meant."""
    suffix = out.suffix.lower()
    by_suffix = {s: fmt for fmt, suffixes in SUFFIXES.items() for s in suffixes}
    known = ", ".join(s for suffixes in SUFFIXES.values() for s in suffixes)
    if wanted is None:
        if suffix not in by_suffix:
            raise LabError(
                f"cannot tell the format of {out} from its extension (known: {known})",
                hint="name the file .svg, .png or .dot, or pass --format",
            )
        return by_suffix[suffix]
    if suffix not in SUFFIXES[wanted]:
        raise LabError(
            f"{out} does not end in {' or '.join(SUFFIXES[wanted])}: not writing {wanted} to it",
            hint=f"use --out {out.with_suffix(SUFFIXES[wanted][0]).name}, or another --format",
        )
    return wanted


def observation_of(row: StatusRow) -> VmObservation:
    """One row of ``homelab status`` as the diagram draws it."""
    return VmObservation(
        state=vm_state(row.state, row.drift),
        vmid=row.vmid,
        node=row.node,
        power=row.state,
        drift=row.drift,
        reason=row.reason,
        ips=row.ips,
        role=row.role,
    )


def observe_lab(conn: Connection, ctx: LabContext) -> dict[str, VmObservation]:
    """Every VM of the spec, and every VM of the lab the spec lost, as ``status`` sees them."""
    rows, _plan = lab_status(conn, ctx)
    return {row.vm: observation_of(row) for row in rows}


def check_graphviz(fmt: DiagramFormat) -> None:
    """Refuse early (before Proxmox is asked anything) when ``fmt`` needs ``dot`` and it is
    not installed."""
    if fmt is DiagramFormat.DOT:
        return
    try:
        graphviz.version()
    except graphviz.ExecutableNotFound:
        raise _no_dot(fmt) from None


def render(source: str, fmt: DiagramFormat) -> bytes:
    """``source`` as ``fmt``: itself for DOT, else what ``dot -T<fmt>`` makes of it."""
    if fmt is DiagramFormat.DOT:
        return source.encode("utf-8")
    try:
        drawn: bytes = graphviz.pipe("dot", str(fmt), source.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound:
        raise _no_dot(fmt) from None
    except graphviz.CalledProcessError as exc:
        said = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise LabError(
            f"Graphviz could not draw the diagram: {said[0] if said else exc}",
            hint="this is a bug of homelab's diagram; --format dot writes the source to report",
        ) from None
    return drawn


def diagram_bytes(
    spec: LabSpec, fmt: DiagramFormat, observed: Mapping[str, VmObservation] | None = None
) -> bytes:
    """The lab's diagram in ``fmt``."""
    return render(diagram_source(spec, observed), fmt)


def write_diagram(
    spec: LabSpec,
    out: Path,
    fmt: DiagramFormat,
    observed: Mapping[str, VmObservation] | None = None,
) -> Path:
    """Draw the lab and write it to ``out`` (replaced whole: a failed run leaves the old file)."""
    data = diagram_bytes(spec, fmt, observed)
    folder = out.parent
    if not folder.is_dir():
        raise LabError(f"cannot write {out}: the folder {folder} does not exist")
    if out.is_dir():
        raise LabError(f"cannot write {out}: it is a directory")
    temp = folder / f".{out.name}.{secrets.token_hex(4)}.tmp"
    try:
        # O_EXCL: never through a file or symlink already there; 0o666 less the umask, as
        # any file the user writes
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise LabError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        temp.replace(out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise LabError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def _no_dot(fmt: DiagramFormat) -> LabError:
    return LabError(
        f"drawing a {str(fmt).upper()} diagram needs Graphviz's `dot` program; it is not installed",
        hint=INSTALL_HINT,
    )
