"""Draining a node around the step that disrupts it, journaled, one node at a time.

``drained(rt, vm, gone=...)`` is a context manager the chains put around a disruption of a VM
the plan marked ``drain`` (``homelab.core.plan.disruption``):

- before: the journal gets ``drain/<vm>``, the node is cordoned and its pods evicted
  (``NodeDrainer.drain``). A drain that cannot finish (``DrainBlocked``) uncordons the node,
  drops the journal entry and raises: nothing was done to the VM.
- after: ``gone=False`` (a restart): wait for the node to be Ready, then uncordon it;
  ``gone=True`` (a replace or a destroy): delete its Node object (the new VM registers anew).
  Then the journal entry goes.

Drains take ``rt.drain_slot`` (``Limits.max_unavailable`` nodes at once), held from the cordon
to the uncordon or the Node's deletion; a control plane's also takes ``rt.control_plane_slot``,
so control planes go one at a time (etcd keeps its quorum) whatever ``max_unavailable`` says.
A VM that never joined (no Node object) and a lab
whose cluster the Site says does not exist (``rt.nodes`` is None) need no drain.

``resolve_drain`` is the journal's side: an interrupted run left a node cordoned; the next run
uncordons it before it plans (the plan then drains it again if it still has to).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from homelab.engine.apply.runtime import Runtime
from homelab.errors import LabError

__all__ = ["DRAIN_PREFIX", "drained", "resolve_drain"]

DRAIN_PREFIX = "drain/"


@contextlib.contextmanager
def drained(
    rt: Runtime, vm: str, node: str, *, gone: bool, control_plane: bool = False
) -> Iterator[None]:
    """Drain ``vm``'s node around the body (see the module docstring)."""
    nodes = rt.nodes
    if nodes is None or not nodes.exists(vm):
        yield
        return
    key = DRAIN_PREFIX + vm
    alone = rt.control_plane_slot if control_plane else contextlib.nullcontext()
    with alone, rt.drain_slot:
        rt.journal.put(key, {"op": "drain", "vm": vm, "node": node})
        rt.emit(vm, "drain", "running")
        try:
            report = nodes.drain(vm)
        except LabError as exc:
            with contextlib.suppress(LabError):
                nodes.uncordon(vm)
            rt.journal.remove(key)
            rt.emit(vm, "drain", "failed", exc.message.splitlines()[0])
            raise
        detail = f"{len(report.evicted)} pod(s) evicted"
        if report.forced:
            detail += f", {len(report.forced)} deleted by --force"
        rt.emit(vm, "drain", "done", detail)
        yield
        if gone:
            nodes.delete_node(vm)
        else:
            rt.emit(vm, "ready", "running")
            nodes.wait_ready(vm, rt.limits.agent_timeout + rt.limits.ready_timeout)
            nodes.uncordon(vm)
            rt.emit(vm, "ready", "done", "uncordoned")
        rt.journal.remove(key)


def resolve_drain(rt: Runtime, key: str, data: dict[str, Any]) -> str:
    """Uncordon the node an interrupted run left cordoned; returns the note."""
    vm = str(data["vm"])
    nodes = rt.nodes
    if nodes is None:
        rt.journal.remove(key)
        return f"{vm}: an interrupted drain; no cluster answers here, nothing to uncordon"
    nodes.uncordon(vm)
    rt.journal.remove(key)
    return f"{vm}: uncordoned after an interrupted drain"
