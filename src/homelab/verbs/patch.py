"""`homelab patch`: the OS updates of the lab's running nodes, one node at a time, drained,
with the Kubernetes packages held (``homelab.engine.patch``). No printing here.

It takes the lab's lock, resumes an interrupted patch run if the journal has one (its nodes and
reboot mode, whatever this run asked), confirms the nodes to patch, and needs the cluster's API
(a node is drained before its upgrade): when the API server does not answer nothing is done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from homelab.core.ownership import lab_vms
from homelab.core.plan.upgrade import CONTROL_PLANE, minor_of
from homelab.core.render.versions import versions_for
from homelab.engine.apply.progress import ProgressSink, Silent
from homelab.engine.apply.runtime import Limits
from homelab.engine.guest.channel import GuestChannel
from homelab.engine.patch import REBOOT_MODES, NodeReport, PatchRun, PatchTarget, interrupted
from homelab.engine.upgrade.versions import NodeVersions
from homelab.errors import LabError
from homelab.verbs.connection import Connection
from homelab.verbs.drain import attach_drainer
from homelab.verbs.lab import LabContext
from homelab.verbs.provision import Aborted, new_runtime

__all__ = ["PatchOutcome", "outcome_json", "outcome_text", "patch_lab", "patch_targets"]


@dataclass
class PatchOutcome:
    nodes: list[NodeReport]
    notes: list[str] = field(default_factory=list)
    reboot: str = "auto"


def patch_targets(conn: Connection, ctx: LabContext, only: list[str]) -> list[PatchTarget]:
    """The lab's running nodes in the spec's order (control planes first), or those named."""
    unknown = [name for name in only if name not in ctx.spec.vms]
    if unknown:
        raise LabError(
            f"lab {ctx.lab} has no VM {unknown[0]!r}", hint=f"its VMs: {', '.join(ctx.spec.vms)}"
        )
    running = {
        vm.name: vm
        for vm in lab_vms(ctx.lab, conn.client.cluster_vms())
        if vm.name in ctx.spec.vms and vm.status == "running"
    }
    missing = [name for name in only if name not in running]
    if missing:
        raise LabError(f"VM {missing[0]} of lab {ctx.lab} is not running", hint="apply first")
    versions = NodeVersions(ctx.store, ctx.lab).current()
    targets = []
    for name, spec in ctx.spec.vms.items():
        vm = running.get(name)
        if vm is None or (only and name not in only):
            continue
        version = versions.get(name, ctx.spec.kubernetes.version)
        runtime = versions_for(minor_of(version)).containerd_package
        plane = spec.role == CONTROL_PLANE
        targets.append(PatchTarget(name, vm.node, vm.vmid, plane, runtime))
    return sorted(targets, key=lambda t: not t.control_plane)


def patch_lab(
    conn: Connection,
    ctx: LabContext,
    *,
    only: list[str],
    reboot: str,
    confirm: Callable[[list[PatchTarget]], bool],
    progress: ProgressSink | None = None,
    limits: Limits | None = None,
) -> PatchOutcome:
    if reboot not in REBOOT_MODES:
        raise LabError(f"--reboot must be one of {', '.join(REBOOT_MODES)}, not {reboot!r}")
    with ctx.store.lock(ctx.lab, purpose="patch"), contextlib.ExitStack() as stack:
        rt = new_runtime(conn, ctx, progress or Silent(), limits or Limits())
        targets = patch_targets(conn, ctx, only)
        attach_drainer(conn, ctx, rt, stack)
        if rt.nodes is None:
            raise LabError(
                f"lab {ctx.lab} has no cluster to patch: its API address does not answer",
                hint="run `homelab up SPEC` first",
            )
        channel = GuestChannel(
            conn.client, conn.clock, poll=rt.limits.poll, poll_cap=2.0, log=rt.guest_log
        )
        wait = rt.limits.agent_timeout + rt.limits.ready_timeout
        run = PatchRun(rt, channel, rt.nodes.api, reboot=reboot, reboot_timeout=wait)
        resumed = interrupted(rt)
        if not resumed and not confirm(targets):
            raise Aborted("patch cancelled; nothing was changed")
        targets, note = run.resume_or_start(targets)
        reports = run.run(targets)
        return PatchOutcome(reports, [note] if note else [], run.reboot)


def outcome_json(outcome: PatchOutcome) -> dict[str, object]:
    """The run's report as ``--json`` prints it (``nodes``: one object per node patched)."""
    return {
        "reboot": outcome.reboot,
        "notes": list(outcome.notes),
        "nodes": [
            {
                "vm": r.vm,
                "packages": [dict(p) for p in r.packages],
                "held": list(r.held),
                "kernel": {"before": r.kernel_before, "after": r.kernel_after},
                "drained": r.drained,
                "rebooted": r.rebooted,
                "reboot_pending": r.reboot_pending,
            }
            for r in outcome.nodes
        ],
    }


def outcome_text(outcome: PatchOutcome) -> str:
    """The run's report as text: per node, the packages (old -> new), kernel and reboot."""
    lines = [f"note: {note}" for note in outcome.notes]
    for r in outcome.nodes:
        if r.rebooted:
            kernel = f"rebooted, kernel {r.kernel_before} -> {r.kernel_after}"
        elif r.reboot_pending:
            kernel = f"reboot pending (kernel {r.kernel_before} still runs)"
        else:
            kernel = f"not rebooted, kernel {r.kernel_before}"
        lines.append(f"{r.vm}: {len(r.packages)} package(s) upgraded; {kernel}")
        for p in r.packages:
            lines.append(f"  {p['name']} {p['from'] or '(new)'} -> {p['to']}")
    pending = [r.vm for r in outcome.nodes if r.reboot_pending]
    if pending:
        lines.append(
            f"{len(pending)} node(s) need a reboot ({', '.join(pending)}): "
            "run `homelab patch SPEC --reboot auto` (or always) to do it drained"
        )
    return "\n".join(lines)
